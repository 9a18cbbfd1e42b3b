export {
  ADMIN_ACTOR,
  ADMIN_PREFIX,
  type AdminApiOptions,
  createAdminApi,
} from './admin/api.js';
export { ADMIN_ERROR_STATUS, AdminHttpError } from './admin/errors.js';
export {
  ADMIN_LISTEN,
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
export {
  announcementBody,
  announcementChange,
  SPACE_CHANGE_RATIO,
} from './gsd.js';
export {
  createNodeMetrics,
  METRICS_TOP_ACCOUNTS,
  type NodeMetrics,
  type NodeMetricsOptions,
} from './metrics.js';
export { type NodeCrawlerSettings, nodeCrawlerSettings } from './node-crawler.js';
export {
  ensureAdminToken,
  initNode,
  type LoadedNode,
  loadNode,
  PRIVATE_FILES,
} from './node-dir.js';
export {
  createNodeGsd,
  type NodeGsd,
  type NodeGsdOptions,
  type NodeGsdStatus,
  type ServerCopy,
} from './node-gsd.js';
export { PID_FILE } from './pid-file.js';
export {
  type RunningNode,
  type StartOptions,
  serversYaml,
  startNode,
} from './server.js';
export { formatSize, parseDuration, parseSize } from './size.js';
