export {
  announcementChange,
  publishAnnouncement,
  SPACE_CHANGE_RATIO,
  spaceChanged,
} from './announcement.js';
export { writeFileAtomically } from './atomic-file.js';
export {
  type AnnouncementBody,
  type BodyOf,
  type DirectoryBody,
  type DirectoryEntry,
  DOCUMENT_KINDS,
  type DocumentKind,
  MAX_DIRECTORY_ENTRIES,
  MAX_NURLS,
  MEMBERSHIP_KEY_BYTES,
} from './bodies.js';
export {
  createWriteCap,
  parseReadCap,
  parseWriteCap,
  READCAP_PREFIX,
  type ReadCap,
  readCapOf,
  WRITECAP_PREFIX,
  type WriteCap,
  writeCapFromSeed,
} from './caps.js';
export {
  deriveReadKey,
  deriveSlotSecrets,
  deriveStorageIndex,
  type SlotSecrets,
} from './derive.js';
export {
  type DirectoryChangeResult,
  DirectoryWriter,
  type DirectoryWriterOptions,
} from './directory-writer.js';
export {
  DOCUMENT_VERSION,
  type GsdDocument,
  openDocument,
  type SealingKeys,
  sealDocument,
} from './document.js';
export {
  DOCUMENT_REASONS,
  type DocumentReason,
  GSD_ERROR_CODES,
  GsdError,
  type GsdErrorCode,
} from './errors.js';
export {
  failureReason,
  type GridAccount,
  type GridAccountKey,
  type GridAccountStatus,
  type GridAccountsTransport,
  type GridLeaseDurationAnswer,
  type GridUsage,
  type GridUsageRow,
  gridServersYamlEntries,
  gridUsage,
  HTTPS_ACCOUNTS_TRANSPORT,
  invitationIsFor,
  type RequestGridAccountsOptions,
  requestGridAccounts,
  setGridLeaseDuration,
  settleGridAccounts,
} from './grid-accounts.js';
export {
  type GridFeed,
  type GridFeedAccount,
  type GridFeedServer,
  mergeGridFeeds,
  readGridFeed,
} from './grid-feed.js';
export {
  createGridMember,
  type GridDirectoryRead,
  type GridMember,
  type GridMemberOptions,
  type GridMemberStatus,
  type GridServerRow,
  type GsdLogger,
} from './grid-member.js';
export {
  announcedNurls,
  describeMissing,
  type GridEntry,
  type GridView,
  type ReadGridOptions,
  readGrid,
} from './grid-reader.js';
export {
  type GridChange,
  type GridServer,
  GsdClient,
  type GsdClientEvents,
  type GsdClientOptions,
  type GsdProblem,
  type GsdTimers,
} from './gsd-client.js';
export {
  type ConnectSlotServerOptions,
  connectSlotServer,
  MAX_SLOT_READ_BYTES,
  SLOT_REQUEST_TIMEOUT_MS,
} from './https-slot-server.js';
export { formatIntroduction, type Introduction, parseIntroduction } from './introduction.js';
export {
  type MemoryShare,
  type MemorySlotServer,
  type MemorySlotServerOptions,
  memorySlotServer,
} from './memory-slot-server.js';
export {
  type PublishOptions,
  type PublishResult,
  publishDocument,
  type ReadOptions,
  type ReadResult,
  readDocument,
  renewDocumentLeases,
  type ServerProblem,
  updateDocument,
} from './publish.js';
export {
  copyNewestVersion,
  lackingCopies,
  SERVER_COPY_STATES,
  type ServerCopy,
  type ServerCopyState,
  type ServerFailure,
  surveyCopies,
} from './server-copies.js';
export {
  type MergedServersYaml,
  mergeServersYaml,
  type ServersYamlEntry,
  type ServersYamlOptions,
  serversYaml,
} from './servers-yaml.js';
export {
  decodeSlotData,
  encodeSlotData,
  SLOT_HEADER_BYTES,
  SLOT_MAGIC,
  slotHeaderOf,
} from './slot.js';
export type { SlotServer } from './slot-server.js';
export { SlotServerPool, serverKey } from './slot-server-pool.js';
