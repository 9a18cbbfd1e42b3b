export {
  type BackendHarness,
  type ConformanceOptions,
  describeShareBackend,
} from './describe-share-backend.js';
