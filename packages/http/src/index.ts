export { bearerChecker, tokenChecker } from './admin/auth.js';
export { readBoundedBody } from './admin/body.js';
export {
  ADMIN_ERROR_STATUS,
  ADMIN_HTTP_ERROR_CODES,
  AdminHttpError,
  type AdminHttpErrorCode,
  type AdminHttpErrorOptions,
  adminStatusFor,
  type FailureAnswer,
  failureAnswer,
} from './admin/errors.js';
export {
  ADMIN_ACTOR,
  ADMIN_PREFIX,
  type AdminHandlerLogger,
  type AdminHandlerOptions,
  createAdminHandler,
  MAX_ADMIN_BODY_BYTES,
} from './admin/handler.js';
export {
  INVITATION_STATES,
  type InvitationState,
  type InvitationView,
  invitationState,
  invitationView,
} from './admin/invitations.js';
export type { AdminMetrics, AdminStatusProvider } from './admin/routes.js';
export { type ByteBudget, createByteBudget } from './byte-budget.js';
export {
  boundConnections,
  CONNECTION_LIMIT_DEFAULTS,
  type ConnectionBounds,
  type ConnectionCounts,
  type ConnectionRefusal,
} from './connection-bounds.js';
export { createUploadForwarder, FORWARDED_HEADER, type UploadForwarder } from './forward.js';
export {
  type AnswerKind,
  type BodyKind,
  matchRoute,
  ROUTES,
  type RouteMatch,
  type RouteSpec,
  type RoutingResult,
} from './routes.js';
export {
  HTTP_ERROR_CODES,
  HttpError,
  type HttpErrorCode,
  type HttpErrorOptions,
  STORAGE_ERROR_STATUS,
  storageStatusFor,
} from './status.js';
export {
  BODY_LIMIT_DEFAULTS,
  type BodyLimits,
  createStorageHandler,
  MAX_PATCH_BYTES,
  PIECE_BYTES,
  READ_ONLY_RTW_BYTES,
  type StorageHandlerLogger,
  type StorageHandlerOptions,
} from './storage-handler.js';
export {
  createStorageMetrics,
  METRICS_TOP_ACCOUNTS,
  type MetricsCrawlerStatus,
  type StorageMetrics,
  type StorageMetricsOptions,
} from './storage-metrics.js';
export {
  createStorageServer,
  type StorageServer,
  type StorageServerOptions,
} from './storage-server.js';
