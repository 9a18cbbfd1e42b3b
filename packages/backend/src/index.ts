export {
  ACCOUNT_RECORD_PREFIX,
  ACCOUNT_RECORD_STATUSES,
  type AccountRecord,
  type AccountRecordRow,
  type AccountRecordStatus,
  accountRecordName,
  accountRecordOf,
  decodeAccountRecord,
  deleteAccountRecord,
  encodeAccountRecord,
  listAccountRecordIds,
  parseAccountRecordName,
  readAccountRecord,
  sameAccountRecord,
  writeAccountRecord,
} from './account-records.js';
export { openBlob, sealBlob } from './blob-crypto.js';
export { addRange, coveredParts, missingRanges } from './byte-ranges.js';
export { BACKEND_ERROR_CODES, BackendError, type BackendErrorCode } from './errors.js';
export { createKeyedLock, type KeyedLock } from './keyed-lock.js';
export { createMemoryBackend, type MemoryBackendOptions } from './memory-backend.js';
export {
  decodeOwnerRecord,
  deleteOwnerRecords,
  encodeOwnerRecord,
  type OwnerRecord,
  ownerRecordName,
  ownerRecordPrefix,
  parseOwnerRecordName,
  readOwnerRecord,
  writeOwnerRecords,
} from './owner-records.js';
export {
  type BackendCapabilities,
  type ByteRange,
  type EmbeddedLease,
  type MutableWrite,
  type MutableWriteRequest,
  SHARE_TYPES,
  type ShareBackend,
  type ShareInfo,
  type ShareMeta,
  type ShareReader,
  type ShareSet,
  type ShareType,
  type UploadProgress,
} from './types.js';
export {
  checkBlobName,
  checkOffset,
  checkPrefix,
  checkShnum,
  checkStorageIndex,
} from './validate.js';
export { checkMutableRequest, checkUploadChunk, checkUploadSize } from './write-checks.js';
