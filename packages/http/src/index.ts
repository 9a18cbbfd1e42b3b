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
  ACCOUNTANT_ERROR_STATUS,
  HttpError,
  PROTOCOL_ERROR_STATUS,
  statusForError,
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
export { createStorageServer, type StorageServer, type StorageServerOptions } from './storage-server.js';
