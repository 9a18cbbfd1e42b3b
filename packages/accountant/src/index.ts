export { Account, MAX_ADVISORY_REASON_CHARS, MAX_READ_VECTOR_BYTES } from './account.js';
export {
  type AccountListEntry,
  AccountListError,
  isNickname,
  MAX_ACCOUNT_LIST_BYTES,
  NICKNAME_RULE,
  PUBLIC_KEY_FORMS,
  parseAccountList,
  parsePublicKey,
} from './account-list.js';
export {
  Accountant,
  type AccountInvitations,
  type AccountRequestOutcome,
  type InvitedBy,
  type OperatorOption,
  REQUEST_REFUSED_AT,
  type ServerPolicy,
  type StatusChangeOption,
  type SweepResult,
} from './accountant.js';
export {
  buildDigest,
  DIGEST_LINES_PER_KIND,
  type Digest,
  type DigestAccount,
  type DigestDb,
} from './digest.js';
export { ACCOUNTANT_ERROR_CODES, AccountantError, type AccountantErrorCode } from './errors.js';
export {
  buildFeed,
  createFeedSource,
  FEED_CACHE_SECONDS,
  FEED_PERIOD_SECONDS,
  type FeedDb,
  type FeedSource,
  type FeedSourceOptions,
} from './feed.js';
export {
  DEPENDENCIES,
  type Dependency,
  DependencyHealth,
  type DependencyHealthOptions,
  type DependencyState,
  describeHealthChange,
  type HealthChange,
  type HealthReport,
} from './health.js';
export {
  GUESS_WINDOW_SECONDS,
  INVITATION_ACTOR,
  INVITATION_BUDGET,
  INVITED_BY_ACCOUNT,
  INVITED_BY_GRID_INVITATION,
  INVITED_BY_INVITATION,
  type InvitationInput,
  MAX_FAILED_REDEMPTIONS,
  MAX_INVITATION_SECONDS,
  MAX_REFUSAL_EVENTS,
} from './invitations.js';
export { predictMutableLength } from './mutable.js';
export {
  ACCOUNTING_MODES,
  type AccountantOptions,
  type AccountingMode,
  ANONYMOUS_DEFAULTS,
  APPROVAL_MODES,
  type ApprovalMode,
  DIRECTORY_SLOTS_DEFAULTS,
  type DirectorySlotsOptions,
  type GridInvitationsOptions,
  MAX_MUTABLE_SHARE_SIZE,
  TRAFFIC_RETENTION_DEFAULT_SECONDS,
  UPLOAD_LIMIT_DEFAULTS,
} from './options.js';
export {
  REFUSAL_EVENT_WINDOW_SECONDS,
  REFUSAL_REASONS,
  type RefusalReason,
  type RefusedWrite,
} from './refusals.js';
export { formatSize, formatSizeExact, parseSize } from './size.js';
export { accountIdForSwissnum, swissnumFor } from './swissnum.js';
export { MAX_TRAFFIC_ENTRIES } from './traffic.js';
export type {
  AccountReadTestWriteOptions,
  AccountSummary,
  AllocateOptions,
  AllocateResult,
  LeaseSecrets,
  ReadTestWriteAdmission,
  ReadTestWriteOptions,
  ReadTestWriteResult,
  ReadVector,
  ShareRead,
  ShareStream,
  TestVector,
  TestWriteVectors,
  UploadWriteResult,
  VersionInfo,
  WriteVector,
} from './types.js';
export {
  MAX_SHARES_PER_ALLOCATION,
  type RequestContext,
  UPLOAD_LIMIT_RETRY_SECONDS,
  UPLOAD_LIMIT_SCOPES,
  type UploadLimitScope,
} from './upload-bounds.js';
export { accountUsageReport, serverUsageReport, usageRow } from './usage-reports.js';
