import { ANONYMOUS_ACCOUNT_ID } from '@ostrom/leasedb';
import type { Upload } from './core.js';
import { AccountantError } from './errors.js';

// Bounds on the uploads in progress a process holds (docs/ARCHITECTURE.md, "Immutable upload").
// Each upload costs memory, an incoming file and space reserved until it completes or times out
// (30 minutes idle), so without a bound one client could hold the node's resources for everyone.
// The counts are taken from the registry of uploads itself (`Core.uploads`) plus the allocations
// admitted and not yet registered, so an upload that completes, is aborted or times out frees its
// place by leaving the registry: there is no second count to keep in step with it.

/** What the caller knows of the request an operation serves, beyond its arguments. */
export interface RequestContext {
  /**
   * The connection the request came on: an object that stays the same for every request of the
   * connection (the HTTP server passes its socket), or a string naming it. Uploads allocated
   * through a connection count against its bounds until they complete, are aborted or time out,
   * whichever connection their chunks then come on. Without it only the account's and the
   * node's bounds apply.
   */
  readonly connection?: object | string;
}

/** Where an allocation met a bound: this process's, the account's, or the connection's. */
export const UPLOAD_LIMIT_SCOPES = ['node', 'account', 'connection'] as const;
export type UploadLimitScope = (typeof UPLOAD_LIMIT_SCOPES)[number];

/**
 * Share numbers are 0–255, so one allocation asks for at most 256 uploads: every count bound is
 * at least this, so a client with nothing in progress can always make one whole allocation.
 */
export const MAX_SHARES_PER_ALLOCATION = 256;

/**
 * Told to a client refused for a bound (`retryAfterSeconds`): the sweep's interval, the soonest an
 * idle upload is timed out and its place freed (an upload that completes frees it sooner).
 */
export const UPLOAD_LIMIT_RETRY_SECONDS = 60;

/** The bounds, as resolved from the accountant's options. */
export interface UploadLimits {
  /** Uploads in progress in this process. */
  readonly maxUploads: number;
  /** Uploads in progress of one account. */
  readonly maxUploadsPerAccount: number;
  /** Uploads in progress allocated through one connection. */
  readonly maxUploadsPerConnection: number;
  /** Bytes the anonymous account's uploads allocated through one connection reserve; null: none. */
  readonly anonymousReservedBytesPerConnection: number | null;
}

/** An allocation about to create `shares` uploads of `bytesEach` bytes each. */
export interface UploadClaim {
  readonly accountId: number;
  /** The connection's key ({@link UploadBounds.connectionKey}), if the caller named one. */
  readonly connection: string | undefined;
  readonly shares: number;
  readonly bytesEach: number;
}

/** Admits allocations within the bounds. */
export interface UploadBounds {
  /** The key a connection's uploads are counted under (its object is not kept alive by it). */
  connectionKey(connection: object | string | undefined): string | undefined;
  /**
   * Counts `uploads` and the allocations admitted before and still pending, and admits `claim`
   * if it passes no bound: it then counts as pending until the returned function is called,
   * which the caller does once the uploads are in the registry or the allocation failed.
   * Otherwise throws UPLOAD_LIMIT (details: `scope`, `unit`, `limit`, `inProgress`,
   * `requested`, `retryAfterSeconds`). Synchronous, so no other allocation counts in between.
   */
  admit(uploads: Iterable<Upload>, claim: UploadClaim): () => void;
}

/** Bounds over the given limits; `limits` is checked by `resolveOptions`. */
export function createUploadBounds(limits: UploadLimits): UploadBounds {
  const pending = new Set<UploadClaim>();
  // Objects get an id of their own; strings are namespaced apart from those ids.
  const ids = new WeakMap<object, string>();
  let nextId = 0;

  function refuse(
    scope: UploadLimitScope,
    unit: 'uploads' | 'bytes',
    limit: number,
    inProgress: number,
    requested: number,
  ): never {
    const what = scope === 'node' ? 'this server' : `this ${scope}`;
    throw new AccountantError(
      'UPLOAD_LIMIT',
      unit === 'uploads'
        ? `${what} has ${inProgress} uploads in progress; ${requested} more would pass its bound of ${limit}`
        : `uploads in progress through this connection reserve ${inProgress} bytes; ${requested} more would pass its bound of ${limit}`,
      {
        details: {
          scope,
          unit,
          limit,
          inProgress,
          requested,
          retryAfterSeconds: UPLOAD_LIMIT_RETRY_SECONDS,
        },
      },
    );
  }

  return {
    connectionKey(connection) {
      if (connection === undefined) return undefined;
      if (typeof connection === 'string') return `name:${connection}`;
      if (typeof connection !== 'object' || connection === null) {
        throw new TypeError('connection must be an object or a string');
      }
      let id = ids.get(connection);
      if (id === undefined) {
        nextId += 1;
        id = `object:${nextId}`;
        ids.set(connection, id);
      }
      return id;
    },

    admit(uploads, claim) {
      let node = 0;
      let account = 0;
      let connection = 0;
      let reserved = 0;
      const count = (accountId: number, key: string | undefined, shares: number, bytes: number) => {
        node += shares;
        if (accountId === claim.accountId) account += shares;
        if (claim.connection === undefined || key !== claim.connection) return;
        connection += shares;
        if (accountId === ANONYMOUS_ACCOUNT_ID) reserved += bytes;
      };
      for (const upload of uploads) {
        count(upload.accountId, upload.connection, 1, upload.allocatedSize);
      }
      for (const other of pending) {
        count(other.accountId, other.connection, other.shares, other.shares * other.bytesEach);
      }
      const { shares } = claim;
      if (node + shares > limits.maxUploads) {
        refuse('node', 'uploads', limits.maxUploads, node, shares);
      }
      if (account + shares > limits.maxUploadsPerAccount) {
        refuse('account', 'uploads', limits.maxUploadsPerAccount, account, shares);
      }
      if (claim.connection !== undefined) {
        if (connection + shares > limits.maxUploadsPerConnection) {
          refuse('connection', 'uploads', limits.maxUploadsPerConnection, connection, shares);
        }
        // The anonymous account is every client without an account: its quota is shared, so
        // one connection may reserve only a part of it, and the others keep room to upload.
        const cap = limits.anonymousReservedBytesPerConnection;
        const bytes = shares * claim.bytesEach;
        if (
          cap !== null &&
          claim.accountId === ANONYMOUS_ACCOUNT_ID &&
          bytes > 0 &&
          reserved + bytes > cap
        ) {
          refuse('connection', 'bytes', cap, reserved, bytes);
        }
      }
      const admitted = { ...claim };
      pending.add(admitted);
      return () => {
        pending.delete(admitted);
      };
    },
  };
}
