// The storage handler's test helpers (a node on an accountant, secrets, shares) live with the
// handler in @ostrom/http; the node's own tests use them from there.
export * from '../../../packages/http/test/http-setup.js';
