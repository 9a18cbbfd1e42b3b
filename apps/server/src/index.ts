export {
  BACKEND_KINDS,
  type BackendKind,
  CONFIG_FILE,
  type ConfigValues,
  type DatabaseConfig,
  DEFAULT_PORT,
  type DiskBackendConfig,
  type OstromConfig,
  parseConfig,
  renderConfig,
  renderDefaultConfig,
  type S3BackendConfig,
} from './config.js';
export { NODE_ERROR_CODES, NodeError, type NodeErrorCode } from './errors.js';
export { initNode, type LoadedNode, loadNode, PRIVATE_FILES } from './node-dir.js';
export { type RunningNode, type StartOptions, serversYaml, startNode } from './server.js';
export { formatSize, parseDuration, parseSize } from './size.js';
