import { type ByteRange, SHARE_TYPES, type ShareType } from '@ostrom/protocol/facts';

// Tahoe's share types and byte ranges are defined once for every package; this package
// re-exports them.
export { type ByteRange, SHARE_TYPES, type ShareType };

/** The share numbers a listing names under one storage index. */
export interface ShareSet {
  readonly storageIndex: string;
  /** Ascending. */
  readonly shnums: readonly number[];
}

/** One share as a backend reports it. */
export interface ShareInfo {
  readonly shnum: number;
  readonly sharetype: ShareType;
  /** Length of the share's data as clients see it (reads past it are truncated). */
  readonly sizeBytes: number;
  /** What the share takes in the store, container and embedded leases included. */
  readonly usedBytes: number;
}

/**
 * A lease as stored inside a share container (Tahoe's disk format keeps them there). The lease
 * database is the authority; these exist so that shares stay readable by Tahoe-LAFS itself and
 * so that a directory written by Tahoe can be adopted with its leases.
 */
export interface EmbeddedLease {
  /** Tahoe's owner number: 0 for leases from allocation, 1 for later ones. */
  readonly ownerNum: number;
  /** 32 bytes as stored: BLAKE2b-256 of the secret (v2 containers) or the secret itself (v1). */
  readonly renewSecret: Uint8Array;
  readonly cancelSecret: Uint8Array;
  /** Whether the two secrets above are hashes (v2) or plain secrets (v1 containers). */
  readonly secretsHashed: boolean;
  readonly expiresAt: number;
}

/** What a backend knows of a share beyond its size: mutable write enabler, embedded leases. */
export interface ShareMeta extends ShareInfo {
  /** The 32-byte write enabler of a mutable share. */
  readonly writeEnabler?: Uint8Array;
  /** The 20-byte id of the server that set the write enabler (Tahoe's mutable header). */
  readonly writeEnablerNodeId?: Uint8Array;
  /** Leases found in the container; empty for backends that do not embed them. */
  readonly leases: readonly EmbeddedLease[];
  /** The container format, e.g. `immutable-v2` (informational). */
  readonly container?: string;
}

/**
 * One complete share opened for reading in pieces (`openShareReader`): every read through it sees
 * the share as it was when opened, never part of a later version. A backend that cannot keep that
 * version until the reader is closed (its bytes were replaced or deleted meanwhile) fails the read
 * with CONFLICT (the share changed) or NOT_FOUND (it went), never mixing versions.
 */
export interface ShareReader {
  /** The share as opened: type and data length. */
  readonly info: ShareInfo;
  /**
   * `length` bytes from `offset` of the version opened, truncated at its end (empty at or past
   * it). RangeError for a negative offset or length; after `close` it fails.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases what the reader holds (a file handle); idempotent. */
  close(): Promise<void>;
}

/** The state of an immutable upload after a write. */
export interface UploadProgress {
  /** True once every byte arrived: the share is then durable and visible. */
  readonly complete: boolean;
  /** Byte ranges still missing, in order (empty when complete). */
  readonly missing: readonly ByteRange[];
}

export interface MutableWrite {
  readonly offset: number;
  readonly data: Uint8Array;
}

export interface MutableWriteRequest {
  /** Set on creation; a backend stores it and reports it in `getShareMeta`. */
  readonly writeEnabler: Uint8Array;
  /** 20 bytes; Tahoe's mutable header names the server that set the write enabler. */
  readonly writeEnablerNodeId?: Uint8Array;
  /** Applied in order; a write past the end extends the share, zero-filling any gap. */
  readonly writes: readonly MutableWrite[];
  /**
   * After the writes, lowers the share's length to this if it is smaller (Tahoe: a larger value
   * is ignored and storage never shrinks). Deleting a share is `deleteShare`.
   */
  readonly newLength?: number | null;
  /** Leases to write into a newly created container (backends that embed leases). */
  readonly leases?: readonly EmbeddedLease[];
}

/** Facts about a backend, as data, so callers and the conformance suite can adapt. */
export interface BackendCapabilities {
  /** `memory`, `disk`, `s3`, ... */
  readonly kind: string;
  /** Whether stored shares and blobs survive the process. */
  readonly durable: boolean;
  /** Whether share containers carry Tahoe lease records (`getShareMeta().leases`). */
  readonly embedsLeases: boolean;
  /** Whether uploads in progress survive a restart (none do in Tahoe; see `discardUploads`). */
  readonly uploadsSurviveRestart: boolean;
  /** Largest share the backend accepts. */
  readonly maxShareBytes: number;
}

/**
 * The store behind a storage node: Tahoe share sets (all shares of one storage index) plus a
 * small encrypted blob store. Asynchronous; every name is validated before it reaches the store
 * (INVALID_KEY); operational failures are `BackendError`s; absence is `undefined` or `[]`.
 * A backend serialises nothing across storage indexes: callers (the accountant) serialise
 * writers of one storage index; a backend stays safe under concurrent writes to one upload.
 */
export interface ShareBackend {
  readonly capabilities: BackendCapabilities;

  /** Storage indexes with at least one complete share under a two-character prefix, sorted. */
  listStorageIndexes(prefix: string): Promise<string[]>;
  /**
   * Every share set under a two-character prefix with its share numbers, sorted by index, from
   * names alone (directory or object listings: no stat, no read). The crawler's cheap pass over
   * the store; `statShare` then tells a damaged share from a good one. Uploads in progress and
   * anything not named like a share are left out.
   */
  listShareSets(prefix: string): Promise<ShareSet[]>;
  /** Complete shares of a storage index, by shnum; `[]` for an unknown index. */
  listShares(storageIndex: string): Promise<ShareInfo[]>;
  /**
   * One share's type and sizes, or undefined: what `listShares` says of it, for one share at the
   * cost of a stat (disk) or a HEAD (S3). The accountant calls it before every read.
   */
  statShare(storageIndex: string, shnum: number): Promise<ShareInfo | undefined>;
  /** One share with its write enabler and embedded leases, or undefined. */
  getShareMeta(storageIndex: string, shnum: number): Promise<ShareMeta | undefined>;
  /**
   * Reads `length` bytes from `offset` of a complete share, truncated at its end (empty when
   * `offset` is at or past it). NOT_FOUND if there is no such share.
   */
  readShare(
    storageIndex: string,
    shnum: number,
    offset: number,
    length: number,
  ): Promise<Uint8Array>;

  /**
   * Opens a complete share for reading in pieces, as one version (see {@link ShareReader});
   * undefined if there is no such share. The caller must `close` it. A reader holds little (at
   * most a file handle): it is how a node sends a large share without holding it in memory.
   */
  openShareReader(storageIndex: string, shnum: number): Promise<ShareReader | undefined>;

  /**
   * Starts an immutable upload of `sizeBytes` bytes. CONFLICT if the share exists or an upload
   * of it is in progress. Nothing is visible until the last byte arrives.
   */
  createUpload(
    storageIndex: string,
    shnum: number,
    sizeBytes: number,
    options?: { leases?: readonly EmbeddedLease[] },
  ): Promise<void>;
  /**
   * Writes a chunk of an upload, in any order. Bytes overlapping earlier chunks must be equal
   * (else CONFLICT, nothing written); a chunk past the allocated size is a RangeError. When the
   * last missing byte arrives the share is made durable and visible atomically before this returns.
   * A backend may keep `data` until its next call on the upload (the disk backend's write-behind):
   * callers hand over a buffer they will not change.
   */
  writeUpload(
    storageIndex: string,
    shnum: number,
    offset: number,
    data: Uint8Array,
  ): Promise<UploadProgress>;
  /** The upload's missing ranges, or undefined when there is no such upload. */
  getUpload(storageIndex: string, shnum: number): Promise<UploadProgress | undefined>;
  /** Abandons an upload and frees its space; NOT_FOUND if there is none. */
  abortUpload(storageIndex: string, shnum: number): Promise<void>;
  /** Removes every upload in progress (after a restart, as Tahoe does); returns how many. */
  discardUploads(): Promise<number>;

  /** Applies a mutable write (creating the share if needed) and returns its new length. */
  writeMutable(storageIndex: string, shnum: number, request: MutableWriteRequest): Promise<number>;

  /** Deletes a complete share; false if there was none. */
  deleteShare(storageIndex: string, shnum: number): Promise<boolean>;

  /** Stores a named blob, encrypted and authenticated with `key` (32 bytes), replacing any. */
  putBlob(name: string, data: Uint8Array, key: Uint8Array): Promise<void>;
  /** The decrypted blob, or undefined; CORRUPT if it fails authentication (wrong key, tampered). */
  getBlob(name: string, key: Uint8Array): Promise<Uint8Array | undefined>;
  /** Names of the blobs starting with `prefix` (default all), sorted. */
  listBlobs(prefix?: string): Promise<string[]>;
  /** Deletes a blob; false if there was none. */
  deleteBlob(name: string): Promise<boolean>;

  /** Bytes the store can still take, or undefined when it has no meaningful limit (S3, memory). */
  availableSpace(): Promise<number | undefined>;

  /** Releases resources (file handles, sockets). */
  close(): Promise<void>;
}
