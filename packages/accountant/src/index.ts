export { Account } from './account.js';
export {
  Accountant,
  type AccountRequestOutcome,
  type OperatorOption,
  type ServerPolicy,
  type StatusChangeOption,
  type SweepResult,
} from './accountant.js';
export { MAX_MUTABLE_SHARE_SIZE } from './core.js';
export {
  buildDigest,
  DIGEST_LINES_PER_KIND,
  type Digest,
  type DigestAccount,
  formatBytes,
} from './digest.js';
export { ACCOUNTANT_ERROR_CODES, AccountantError, type AccountantErrorCode } from './errors.js';
export { predictMutableLength } from './mutable.js';
export {
  ACCOUNTING_MODES,
  type AccountantOptions,
  type AccountingMode,
  APPROVAL_MODES,
  type ApprovalMode,
} from './options.js';
export { accountIdForSwissnum, swissnumFor } from './swissnum.js';
export type {
  AccountInfo,
  AllocateRequest,
  AllocateResult,
  LeaseSecrets,
  ReadTestWriteRequest,
  ReadTestWriteResult,
  ReadVector,
  ShareRead,
  ShareTestWrite,
  TestVector,
  UploadWriteResult,
  VersionInfo,
  WriteVector,
} from './types.js';
