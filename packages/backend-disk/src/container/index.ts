export {
  CONTAINER_KINDS,
  type ContainerKind,
  type DetectedContainer,
  detectContainer,
  readContainer,
  type ShareContainer,
} from './detect.js';
export { CONTAINER_ERROR_CODES, type ContainerErrorCode, ContainerFormatError } from './errors.js';
export {
  CONTAINER_HEADER_PROBE_BYTES,
  type ContainerHeader,
  parseContainerHeader,
} from './header.js';
export {
  encodeImmutableHeader,
  encodeImmutableLeases,
  IMMUTABLE_HEADER_BYTES,
  type ImmutableContainer,
  type ImmutableContainerLayout,
  type ImmutableHeaderFields,
  immutableContainerLayout,
  readImmutableContainer,
} from './immutable.js';
export {
  type ContainerLease,
  decodeImmutableLease,
  decodeMutableLease,
  encodeImmutableLease,
  encodeMutableLease,
  IMMUTABLE_LEASE_BYTES,
  LEASE_SECRET_BYTES,
  leaseSecretDigest,
  MUTABLE_LEASE_BYTES,
  NODE_ID_BYTES,
  storedLeaseSecret,
} from './lease-record.js';
export {
  EXTRA_LEASE_COUNT_BYTES,
  encodeMutableExtraLeases,
  encodeMutableHeader,
  MUTABLE_DATA_OFFSET,
  MUTABLE_LEASE_SLOTS,
  MUTABLE_MAGIC_BYTES,
  type MutableContainer,
  type MutableContainerLayout,
  type MutableHeaderFields,
  mutableContainerLayout,
  mutableMagic,
  readMutableContainer,
  WRITE_ENABLER_BYTES,
} from './mutable.js';
export {
  bufferReader,
  type ContainerReader,
  fileReader,
  type ReadableFileHandle,
} from './reader.js';
export {
  CONTAINER_VERSIONS,
  type ContainerVersion,
  NEWEST_CONTAINER_VERSION,
} from './version.js';
