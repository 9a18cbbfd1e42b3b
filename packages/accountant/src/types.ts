import type { ByteRange, ShareType } from '@ostrom/backend';
import type { AccountStatus, Usage } from '@ostrom/leasedb';
import type {
  AllocateOptions,
  LeaseSecrets,
  ReadTestWriteOptions,
  ReadVector,
  TestVector,
  TestWriteVectors,
  WriteVector,
} from '@ostrom/protocol';

// The arguments of the storage protocol's calls are the protocol's own types, the same on the
// client's side and here; this package re-exports them beside the calls that take them.
export type {
  AllocateOptions,
  LeaseSecrets,
  ReadTestWriteOptions,
  ReadVector,
  TestVector,
  TestWriteVectors,
  WriteVector,
};

/**
 * What `Account.readTestWrite` takes: the client's read-test-write call, plus a bound of the
 * server's own on what the read vector may return.
 */
export interface AccountReadTestWriteOptions extends ReadTestWriteOptions {
  /**
   * The most the read vector may return in all, over every existing share (default 4 MiB,
   * `MAX_READ_VECTOR_BYTES` in account.ts): a request asking more is OUT_OF_RANGE before anything
   * is read.
   */
  readonly maxReadBytes?: number;
}

export interface AllocateResult {
  /** Every share held for the storage index, not only those asked for (Tahoe's rule). */
  readonly alreadyHave: number[];
  /** Shares this request may now upload. */
  readonly allocated: number[];
}

/** The state of an upload after a chunk: complete once nothing is missing. */
export interface UploadWriteResult {
  readonly complete: boolean;
  readonly required: readonly ByteRange[];
}

export interface ReadTestWriteResult {
  /** Whether every test passed, and so every write was applied. */
  readonly success: boolean;
  /** The read vector's results for every share that existed before the writes. */
  readonly data: Map<number, Uint8Array[]>;
}

/** Bytes read from a share and the share's whole data length (for Content-Range). */
export interface ShareRead {
  readonly data: Uint8Array;
  readonly sizeBytes: number;
}

/**
 * A share opened to be read in pieces (`Account.openShareRead`), all from one version of it.
 * Holds what the backend needs to read it (a file handle) until closed.
 */
export interface ShareStream {
  /** The share's whole data length (for Content-Range). */
  readonly sizeBytes: number;
  /** Bytes the pieces hold in all: the range asked for, truncated at the share's end. */
  readonly length: number;
  /** The next piece, at most `maxBytes` long; undefined once `length` bytes were given. */
  next(maxBytes: number): Promise<Uint8Array | undefined>;
  /** Releases the share; idempotent. */
  close(): Promise<void>;
}

/**
 * What a read-test-write may be, known before its body is read (`Account.admitReadTestWrite`):
 * an account that may read but not write (frozen, or anonymous in mode `required`) may send only
 * read vectors, which a small body holds.
 */
export interface ReadTestWriteAdmission {
  readonly mayWrite: boolean;
}

/**
 * What an account's holder may know of it (`Account.info()`): the server turns it into the
 * wire's `AccountInfo` for `GET /accounting/v1/account`.
 */
export interface AccountSummary {
  readonly accountId: number;
  readonly nickname: string;
  readonly status: AccountStatus;
  readonly usage: Usage;
  readonly hardQuotaBytes: number | null;
  readonly softQuotaBytes: number | null;
  readonly leaseDurationSeconds: number;
}

/** What `GET /storage/v1/version` reports. */
export interface VersionInfo {
  readonly maximumImmutableShareSize: number;
  readonly maximumMutableShareSize: number;
  readonly availableSpace: number;
  readonly applicationVersion: string;
}

export type { ShareType };
