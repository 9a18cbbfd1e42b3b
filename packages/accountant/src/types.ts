import type { ByteRange, ShareType } from '@ostrom/backend';
import type { AccountStatus, Usage } from '@ostrom/leasedb';

/** The two lease secrets a Tahoe client sends with every lease-bearing request (32 bytes each). */
export interface LeaseSecrets {
  readonly renewSecret: Uint8Array;
  readonly cancelSecret: Uint8Array;
}

/** `POST /storage/v1/immutable/:si`. */
export interface AllocateRequest extends LeaseSecrets {
  /** Random per upload and server (Tahoe sends 20 bytes); later chunks must present it. */
  readonly uploadSecret: Uint8Array;
  readonly shareNumbers: readonly number[];
  /** Size of each share's data, in bytes. */
  readonly allocatedSize: number;
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

export interface TestVector {
  readonly offset: number;
  readonly size: number;
  /** Passes when the `size` bytes at `offset` (truncated at the share's end) equal this. */
  readonly specimen: Uint8Array;
}

export interface WriteVector {
  readonly offset: number;
  readonly data: Uint8Array;
}

/** What one share of a read-test-write asks: tests, then writes if every test of every share passed. */
export interface ShareTestWrite {
  readonly test: readonly TestVector[];
  readonly write: readonly WriteVector[];
  /** 0 deletes the share; a smaller length truncates it; a larger one is ignored; null leaves it. */
  readonly newLength: number | null;
}

export interface ReadVector {
  readonly offset: number;
  readonly size: number;
}

/** `POST /storage/v1/mutable/:si/read-test-write`. */
export interface ReadTestWriteRequest extends LeaseSecrets {
  readonly writeEnabler: Uint8Array;
  readonly testWriteVectors: ReadonlyMap<number, ShareTestWrite>;
  readonly readVector: readonly ReadVector[];
  /**
   * The most the read vector may return in all, over every existing share (default 4 MiB,
   * `MAX_READ_VECTOR_BYTES` in account.ts): a request asking more is OUT_OF_RANGE before anything
   * is read.
   */
  readonly maxReadBytes?: number;
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

/** What `GET /accounting/v1/account` tells a client about its own account. */
export interface AccountInfo {
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
