import type { ShareBackend } from '@ostrom/backend';
import type { LeaseDb } from '@ostrom/leasedb';
import { MAX_SHARES_PER_ALLOCATION } from './upload-bounds.js';

/**
 * How accounts are used. `disabled`: every client is the anonymous account and account requests
 * are refused. `enabled`: anonymous clients are served and labelled; clients may obtain accounts.
 * `required`: only accounts may write; the anonymous account can only read.
 */
export const ACCOUNTING_MODES = ['disabled', 'enabled', 'required'] as const;
export type AccountingMode = (typeof ACCOUNTING_MODES)[number];

/** Whether a client's account request is granted at once or waits for an operator. */
export const APPROVAL_MODES = ['automatic', 'manual'] as const;
export type ApprovalMode = (typeof APPROVAL_MODES)[number];

/** Tahoe's MAX_MUTABLE_SHARE_SIZE (`mutable/layout.py`): the default `maxMutableShareBytes`. */
export const MAX_MUTABLE_SHARE_SIZE = 69_105_000_000_000_000;

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86_400;

/** How long traffic rows are kept by default (`AccountantOptions.trafficRetentionSeconds`). */
export const TRAFFIC_RETENTION_DEFAULT_SECONDS = 90 * DAY;

/** The default bounds on uploads in progress (see `AccountantOptions.maxUploads`). */
export const UPLOAD_LIMIT_DEFAULTS = {
  maxUploads: 2048,
  maxUploadsPerAccount: 1024,
  maxUploadsPerConnection: 512,
} as const;

/**
 * What the anonymous account may hold and reserve by default in modes `enabled` and `required`
 * (a node open to the internet through its NURL): 10 GB in all, 2 GB of uploads in progress
 * through one connection.
 */
export const ANONYMOUS_DEFAULTS = {
  hardQuotaBytes: 10_000_000_000,
  reservedBytesPerConnection: 2_000_000_000,
} as const;

/**
 * The account the anonymous writes of the grid service directory's slots are counted against
 * ({@link AccountantOptions.directorySlots}): its nickname, and its hard quota by default,
 * 8 MiB — a full directory (1,000 entries, about 150 KiB) and an announcement of a few KiB for
 * each of its servers.
 */
export const DIRECTORY_SLOTS_DEFAULTS = {
  nickname: 'grid directory',
  hardQuotaBytes: 8 * 1024 * 1024,
} as const;

/** What {@link AccountantOptions.directorySlots} is given. */
export interface DirectorySlotsOptions {
  /**
   * Whether anonymous clients may write the mutable slot at this storage index in mode
   * `required`. Asked at every such write, so the embedder may change its answer at any time
   * (as the directory it reads changes); keep it a lookup, such as a `Set`'s `has`.
   */
  readonly admits: (storageIndex: string) => boolean;
  /**
   * The hard quota of the account those writes are counted against (default
   * {@link DIRECTORY_SLOTS_DEFAULTS}; null: none). Set on the account at every start, so the
   * embedder's value wins over one an operator set meanwhile.
   */
  readonly hardQuotaBytes?: number | null;
}

/** What {@link AccountantOptions.gridInvitations} is given. */
export interface GridInvitationsOptions {
  /** The storage index of the grid's directory: an invitation naming another is refused. */
  readonly directory: string;
  /**
   * The grid's membership public key (32 bytes) as the embedder knows it now, from the
   * directory it read last; undefined when it knows none (invitations are then refused).
   */
  readonly membershipKey: () => Uint8Array | undefined;
  /** The quotas of accounts made by grid invitations (default: none). */
  readonly hardQuotaBytes?: number | null;
  readonly softQuotaBytes?: number | null;
}

export interface AccountantOptions {
  readonly leaseDb: LeaseDb;
  readonly backend: ShareBackend;
  /** At least 32 random bytes, kept in the node's private directory; swissnums derive from it. */
  readonly serverSecret: Uint8Array;
  /** This server's id, which signed account requests must name (so they cannot be replayed elsewhere). */
  readonly serverId: string;
  /** 20 bytes written into mutable containers as the write enabler's node id (Tahoe: the tub id). */
  readonly nodeId?: Uint8Array;
  readonly mode?: AccountingMode;
  /** Default: automatic when mode is `enabled`, manual when `required`. */
  readonly approval?: ApprovalMode;
  /** Space kept free on the backend's store (Tahoe's `reserved_space`); default 0. */
  readonly reservedBytes?: number;
  /** A ceiling on what this node stores in total, for stores without one (S3); default none. */
  readonly capacityBytes?: number;
  /** Reported as `application-version`. */
  readonly applicationVersion?: string;
  /** Idle uploads are aborted after this long (Tahoe: 30 minutes). */
  readonly uploadTimeoutSeconds?: number;
  /** A deleted account's shares are removed this long after the deletion (default 7 days). */
  readonly deletionGraceSeconds?: number;
  /** How far a signed request's timestamp may be from this server's clock (default 5 minutes). */
  readonly accountRequestWindowSeconds?: number;
  /** Told to clients whose account waits for approval (default 1 hour). */
  readonly pendingRetrySeconds?: number;
  /** Quotas given to accounts created from requests; null = none. */
  readonly defaultHardQuotaBytes?: number | null;
  readonly defaultSoftQuotaBytes?: number | null;
  /** Shortest lease duration a client may ask for (default 1 day); the longest is the leasedb policy's. */
  readonly minLeaseDurationSeconds?: number;
  /**
   * Corruption advisories are kept, per account, for at most `advisoriesPerShare` reports of one
   * share (default 3) and `advisoriesPerAccount` reports in all (default 30) within any window
   * of `advisoryWindowSeconds` (default 1 hour); past that they are answered as usual and not
   * recorded, and the first one past the account's bound leaves one `notice` event saying so.
   */
  readonly advisoryWindowSeconds?: number;
  readonly advisoriesPerShare?: number;
  readonly advisoriesPerAccount?: number;
  /** Leases a deletion step drops at most (the paced worker's batch; default 100). */
  readonly deletionBatchSize?: number;
  /**
   * The largest mutable share this node takes, reported to clients as
   * `maximum-mutable-share-size`. Default: Tahoe-LAFS's own (69,105 × 10^12, in effect none). A
   * Tahoe client sends a whole mutable share in one read-test-write request, so a front end that
   * takes bodies only up to a size (the reference server spools at most `request_spool`) says so
   * here rather than promising what it refuses.
   */
  readonly maxMutableShareBytes?: number;
  /**
   * Bounds on the uploads in progress this process holds: in all (`maxUploads`, default 2048),
   * of one account (`maxUploadsPerAccount`, default 1024; the anonymous account is one account,
   * so its clients together) and allocated through one connection (`maxUploadsPerConnection`,
   * default 512; only when the caller names the connection, see `Account.allocate`). An
   * allocation that would pass one is refused whole with UPLOAD_LIMIT. Each is at least 256,
   * one allocation of every share number.
   */
  readonly maxUploads?: number;
  readonly maxUploadsPerAccount?: number;
  readonly maxUploadsPerConnection?: number;
  /**
   * The anonymous account's hard quota while its own row sets none (an operator's quota on the
   * account always wins). Default: {@link ANONYMOUS_DEFAULTS} in modes `enabled` and `required`,
   * where anyone holding the node's NURL is the anonymous account; none in mode `disabled`,
   * where every client is (the node is then as open as a Tahoe-LAFS server). null: none.
   */
  readonly anonymousHardQuotaBytes?: number | null;
  /**
   * Bytes the anonymous account's uploads allocated through one connection may reserve at once
   * (their allocated sizes), so that one client cannot take the whole anonymous quota for its
   * uploads in progress. Default as `anonymousHardQuotaBytes`: {@link ANONYMOUS_DEFAULTS} in
   * `enabled` and `required`, none in `disabled`. null: none.
   */
  readonly anonymousReservedBytesPerConnection?: number | null;
  /**
   * Serialise each storage index's writers, and each quota-limited account's growth, across
   * every process sharing the lease database (its `withStorageIndexLock`/`withAccountLock`:
   * PostgreSQL advisory locks), not only within this one. Default true; a node that is sure to
   * be the only process writing may turn it off to save the lock round trips.
   */
  readonly crossProcessLocks?: boolean;
  /**
   * This process's id among the server processes sharing the lease database (default `main`).
   * Each upload in progress is recorded with the id of the process holding it, and a process
   * restarting under the same id discards its previous life's uploads at once. Several
   * processes on one database need distinct ids that stay the same across restarts (the
   * reference server uses host name and port).
   */
  readonly processId?: string;
  /**
   * Where the other processes reach this one's storage API (`https://host:port`), so that a
   * chunk of one of its uploads arriving elsewhere can be forwarded here; null (default) when
   * this process is alone or cannot be reached.
   */
  readonly processUrl?: string | null;
  /**
   * A process not heard from for this long is dead: its uploads are discarded and their rows
   * removed (default 180 s; the sweep, every minute by default, says this process is alive).
   */
  readonly processTimeoutSeconds?: number;
  /**
   * The node's 32-byte state key: with it, an owner record (account id, key and nickname) is
   * written as a sealed blob beside each new share, so the crawler can rebuild ownership when the
   * lease database is lost. Without it, none are written.
   */
  readonly stateKey?: Uint8Array | null;
  /**
   * Traffic rows (per account and hour, in the lease database) are kept this long: once an
   * hour, the sweep deletes those of hours that began longer ago (default 90 days).
   */
  readonly trafficRetentionSeconds?: number;
  /**
   * Slots anonymous clients may write in mode `required` (where the anonymous account otherwise
   * only reads): those of a grid service directory and its servers' announcements, which every
   * node of the grid writes to every other through the anonymous NURL. Only mutable writes and
   * lease renewals of the storage indexes `admits` names are let through, never an immutable
   * upload, and they are made as a dedicated account (nickname "grid directory", its key derived
   * from `serverSecret`, so the same account after a restart and after a rebuild from the
   * store), created at `start()` with its own hard quota: it owns and leases what they store.
   * Ignored in modes `disabled` and `enabled`, where anonymous clients write anyway.
   */
  readonly directorySlots?: DirectorySlotsOptions;
  /**
   * Honour grid invitations (README, "Invitations"): an account request carrying one signed by
   * the grid's membership key makes an active account at once, whatever the approval, bound
   * here to the first key that uses it. Without this option grid invitations are refused.
   */
  readonly gridInvitations?: GridInvitationsOptions;
  /** Unix seconds; inject a clock in tests. */
  readonly now?: () => number;
}

export type ResolvedOptions = Required<
  Omit<
    AccountantOptions,
    | 'capacityBytes'
    | 'defaultHardQuotaBytes'
    | 'defaultSoftQuotaBytes'
    | 'processUrl'
    | 'stateKey'
    | 'anonymousHardQuotaBytes'
    | 'anonymousReservedBytesPerConnection'
    | 'directorySlots'
    | 'gridInvitations'
  >
> & {
  readonly stateKey: Uint8Array | null;
  readonly processUrl: string | null;
  readonly capacityBytes: number | undefined;
  readonly defaultHardQuotaBytes: number | null;
  readonly defaultSoftQuotaBytes: number | null;
  readonly anonymousHardQuotaBytes: number | null;
  readonly anonymousReservedBytesPerConnection: number | null;
  readonly directorySlots: {
    readonly admits: (storageIndex: string) => boolean;
    readonly hardQuotaBytes: number | null;
  } | null;
  readonly gridInvitations: {
    readonly directory: string;
    readonly membershipKey: () => Uint8Array | undefined;
    readonly hardQuotaBytes: number | null;
    readonly softQuotaBytes: number | null;
  } | null;
};

function resolveGridInvitations(
  given: GridInvitationsOptions | undefined,
): ResolvedOptions['gridInvitations'] {
  if (given === undefined) return null;
  if (typeof given.membershipKey !== 'function' || typeof given.directory !== 'string') {
    throw new TypeError('gridInvitations needs directory and membershipKey()');
  }
  const hard = optionalBytes('gridInvitations.hardQuotaBytes', given.hardQuotaBytes ?? null);
  const soft = optionalBytes('gridInvitations.softQuotaBytes', given.softQuotaBytes ?? null);
  if (hard !== null && soft !== null && soft > hard) {
    throw new RangeError('gridInvitations.softQuotaBytes must not exceed hardQuotaBytes');
  }
  return {
    directory: given.directory,
    membershipKey: given.membershipKey,
    hardQuotaBytes: hard,
    softQuotaBytes: soft,
  };
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!Number.isSafeInteger(resolved) || resolved < 0) {
    throw new RangeError(`${name} must be a non-negative integer`);
  }
  return resolved;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const resolved = nonNegative(name, value, fallback);
  if (resolved === 0) throw new RangeError(`${name} must be positive`);
  return resolved;
}

function optionalBytes(name: string, value: number | null | undefined): number | null {
  if (value == null) return null;
  return nonNegative(name, value, 0);
}

/** A bound on uploads in progress: at least one allocation of every share number. */
function uploadBound(name: string, value: number | undefined, fallback: number): number {
  const resolved = positive(name, value, fallback);
  if (resolved < MAX_SHARES_PER_ALLOCATION) {
    throw new RangeError(
      `${name} must be at least ${MAX_SHARES_PER_ALLOCATION} (one allocation of every share number)`,
    );
  }
  return resolved;
}

/** An anonymous-account limit: as given (null: none), else the mode's default. */
function anonymousLimit(
  name: string,
  value: number | null | undefined,
  mode: AccountingMode,
  fallback: number,
): number | null {
  if (value === undefined) return mode === 'disabled' ? null : fallback;
  return optionalBytes(name, value);
}

/** Checks every option at once, so a misconfigured node fails at start-up, not at first use. */
export function resolveOptions(options: AccountantOptions): ResolvedOptions {
  if (!options.leaseDb) throw new TypeError('leaseDb is required');
  if (!options.backend) throw new TypeError('backend is required');
  if (!(options.serverSecret instanceof Uint8Array) || options.serverSecret.length < 32) {
    throw new TypeError('serverSecret must be at least 32 bytes');
  }
  if (typeof options.serverId !== 'string' || options.serverId.length === 0) {
    throw new TypeError('serverId must be a non-empty string');
  }
  const nodeId = options.nodeId ?? new Uint8Array(20);
  if (!(nodeId instanceof Uint8Array) || nodeId.length !== 20) {
    throw new TypeError('nodeId must be 20 bytes');
  }
  if (options.crossProcessLocks !== undefined && typeof options.crossProcessLocks !== 'boolean') {
    throw new TypeError('crossProcessLocks must be a boolean');
  }
  const processId = options.processId ?? 'main';
  if (typeof processId !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(processId)) {
    throw new TypeError('processId must be 1–64 characters of A-Z, a-z, 0-9, ".", "_" and "-"');
  }
  const processUrl = options.processUrl ?? null;
  if (processUrl !== null && !/^https:\/\/[^/]+\/?$/.test(processUrl)) {
    throw new TypeError('processUrl must be https://host:port, or null');
  }
  const stateKey = options.stateKey ?? null;
  if (stateKey !== null && !(stateKey instanceof Uint8Array && stateKey.length === 32)) {
    throw new TypeError('stateKey must be 32 bytes');
  }
  const mode = options.mode ?? 'enabled';
  if (!ACCOUNTING_MODES.includes(mode)) {
    throw new TypeError(`mode must be one of ${ACCOUNTING_MODES.join(', ')}`);
  }
  const approval = options.approval ?? (mode === 'required' ? 'manual' : 'automatic');
  if (!APPROVAL_MODES.includes(approval)) {
    throw new TypeError(`approval must be one of ${APPROVAL_MODES.join(', ')}`);
  }
  const defaultHardQuotaBytes = optionalBytes(
    'defaultHardQuotaBytes',
    options.defaultHardQuotaBytes,
  );
  const defaultSoftQuotaBytes = optionalBytes(
    'defaultSoftQuotaBytes',
    options.defaultSoftQuotaBytes,
  );
  if (
    defaultHardQuotaBytes !== null &&
    defaultSoftQuotaBytes !== null &&
    defaultSoftQuotaBytes > defaultHardQuotaBytes
  ) {
    throw new RangeError('defaultSoftQuotaBytes must not exceed defaultHardQuotaBytes');
  }
  const slots = options.directorySlots;
  if (slots !== undefined && typeof slots?.admits !== 'function') {
    throw new TypeError('directorySlots.admits must be a function');
  }
  const maxLease = options.leaseDb.policy.maxLeaseDurationSeconds;
  const minLeaseDurationSeconds = positive(
    'minLeaseDurationSeconds',
    options.minLeaseDurationSeconds,
    Math.min(DAY, maxLease),
  );
  if (minLeaseDurationSeconds > maxLease) {
    throw new RangeError('minLeaseDurationSeconds must not exceed the lease policy maximum');
  }
  return {
    leaseDb: options.leaseDb,
    backend: options.backend,
    serverSecret: options.serverSecret,
    serverId: options.serverId,
    nodeId,
    mode,
    approval,
    reservedBytes: nonNegative('reservedBytes', options.reservedBytes, 0),
    capacityBytes:
      options.capacityBytes === undefined
        ? undefined
        : positive('capacityBytes', options.capacityBytes, 1),
    applicationVersion: options.applicationVersion ?? 'ostrom/0.1.0',
    uploadTimeoutSeconds: positive(
      'uploadTimeoutSeconds',
      options.uploadTimeoutSeconds,
      30 * MINUTE,
    ),
    deletionGraceSeconds: nonNegative(
      'deletionGraceSeconds',
      options.deletionGraceSeconds,
      7 * DAY,
    ),
    accountRequestWindowSeconds: positive(
      'accountRequestWindowSeconds',
      options.accountRequestWindowSeconds,
      5 * MINUTE,
    ),
    pendingRetrySeconds: positive('pendingRetrySeconds', options.pendingRetrySeconds, 60 * MINUTE),
    defaultHardQuotaBytes,
    defaultSoftQuotaBytes,
    minLeaseDurationSeconds,
    advisoryWindowSeconds: positive('advisoryWindowSeconds', options.advisoryWindowSeconds, HOUR),
    advisoriesPerShare: positive('advisoriesPerShare', options.advisoriesPerShare, 3),
    advisoriesPerAccount: positive('advisoriesPerAccount', options.advisoriesPerAccount, 30),
    deletionBatchSize: positive('deletionBatchSize', options.deletionBatchSize, 100),
    maxMutableShareBytes:
      options.maxMutableShareBytes === undefined
        ? MAX_MUTABLE_SHARE_SIZE
        : positive('maxMutableShareBytes', options.maxMutableShareBytes, 0),
    maxUploads: uploadBound('maxUploads', options.maxUploads, UPLOAD_LIMIT_DEFAULTS.maxUploads),
    maxUploadsPerAccount: uploadBound(
      'maxUploadsPerAccount',
      options.maxUploadsPerAccount,
      UPLOAD_LIMIT_DEFAULTS.maxUploadsPerAccount,
    ),
    maxUploadsPerConnection: uploadBound(
      'maxUploadsPerConnection',
      options.maxUploadsPerConnection,
      UPLOAD_LIMIT_DEFAULTS.maxUploadsPerConnection,
    ),
    anonymousHardQuotaBytes: anonymousLimit(
      'anonymousHardQuotaBytes',
      options.anonymousHardQuotaBytes,
      mode,
      ANONYMOUS_DEFAULTS.hardQuotaBytes,
    ),
    anonymousReservedBytesPerConnection: anonymousLimit(
      'anonymousReservedBytesPerConnection',
      options.anonymousReservedBytesPerConnection,
      mode,
      ANONYMOUS_DEFAULTS.reservedBytesPerConnection,
    ),
    directorySlots:
      slots === undefined
        ? null
        : {
            admits: slots.admits,
            hardQuotaBytes:
              slots.hardQuotaBytes === undefined
                ? DIRECTORY_SLOTS_DEFAULTS.hardQuotaBytes
                : optionalBytes('directorySlots.hardQuotaBytes', slots.hardQuotaBytes),
          },
    gridInvitations: resolveGridInvitations(options.gridInvitations),
    crossProcessLocks: options.crossProcessLocks ?? true,
    processId,
    processUrl,
    stateKey,
    processTimeoutSeconds: positive(
      'processTimeoutSeconds',
      options.processTimeoutSeconds,
      3 * MINUTE,
    ),
    trafficRetentionSeconds: positive(
      'trafficRetentionSeconds',
      options.trafficRetentionSeconds,
      TRAFFIC_RETENTION_DEFAULT_SECONDS,
    ),
    now: options.now ?? (() => Math.floor(Date.now() / 1000)),
  };
}
