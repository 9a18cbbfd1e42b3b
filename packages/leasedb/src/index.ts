export {
  ACCOUNT_ORDERS,
  type AccountOrder,
  type AccountPage,
  type AccountQuery,
  type CreateAccountInput,
  type QuotaInput,
  type StatusChangeOptions,
} from './accounts.js';
export { restoreSqliteBackup } from './backup.js';
export { MAX_CLAIM_TTL_SECONDS } from './claims.js';
export {
  type ConnectionOptions,
  DIALECTS,
  type Dialect,
  type PostgresDriverModule,
  type PostgresOptions,
  type SqliteDriverClass,
  type SqliteOptions,
} from './dialect.js';
export { LEASE_DB_ERROR_CODES, LeaseDbError, type LeaseDbErrorCode } from './errors.js';
export type { EventInput, EventQuery } from './events.js';
export type { TimeRange } from './history.js';
export { MAX_INVITATION_USES } from './invitations.js';
export {
  type ActorOption,
  type LeaseDb,
  type LeaseDbOperations,
  type LeaseDbOptions,
  openLeaseDb,
} from './lease-db.js';
export type {
  AddOrRenewInput,
  AddOrRenewResult,
  DroppedLease,
  ExpiredLease,
} from './leases.js';
export { leaseDbMigrations, migrateLeaseDb } from './migrations.js';
export { DEFAULT_LEASE_POLICY, type LeasePolicy } from './policy.js';
export { assertProcessId } from './processes.js';
export type { RestoreInput } from './restores.js';
export { hashLeaseSecret } from './secrets.js';
export type { AdoptShareInput, ComingQuery, ComingShareInput, UnleasedQuery } from './shares.js';
export { inspectSqliteFile, type SqliteFileCondition } from './sqlite-file.js';
export type { TrafficQuery, TrafficRow } from './traffic.js';
export {
  ACCOUNT_STATUSES,
  type AccountRow,
  type AccountStatus,
  type AccountWithUsage,
  type ActivityEvent,
  ANONYMOUS_ACCOUNT_ID,
  type CrawlerClaim,
  type CrawlerCycle,
  type CrawlerState,
  type CreateInvitationInput,
  type DatabaseRestore,
  EVENT_KINDS,
  type EventKind,
  type InvitationRedemption,
  type InvitationRow,
  type Lease,
  type LeaseInput,
  type ServerProcess,
  SHARE_STATES,
  SHARE_TYPES,
  type Share,
  type ShareState,
  type ShareType,
  STARTER_ACCOUNT_ID,
  type TrafficCounts,
  type TrafficSample,
  type Usage,
  type UsageSample,
} from './types.js';
export { isUnavailableError } from './unavailable.js';
export type { RecomputedUsage, UsageMismatch } from './usage.js';
export { assertShnum, assertStorageIndex, prefixOf } from './validate.js';
