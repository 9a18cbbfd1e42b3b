export {
  bufferReader,
  ContainerFormatError,
  type ContainerLease,
  type ContainerReader,
  detectContainer,
  fileReader,
  immutableContainerLayout,
  leaseSecretDigest,
  mutableContainerLayout,
  mutableMagic,
  readContainer,
  readImmutableContainer,
  readMutableContainer,
  type ShareContainer,
} from './container/index.js';
export { createDiskBackend, type DiskBackendOptions, type UploadFile } from './disk-backend.js';
export type { DiskFlush } from './durable-fs.js';
