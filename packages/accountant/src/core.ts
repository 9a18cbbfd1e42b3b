import { timingSafeEqual } from 'node:crypto';
import {
  BackendError,
  createKeyedLock,
  deleteOwnerRecords,
  type KeyedLock,
  writeOwnerRecords,
} from '@ostrom/backend';
import {
  type AccountRow,
  ANONYMOUS_ACCOUNT_ID,
  isUnavailableError,
  LeaseDbError,
  STARTER_ACCOUNT_ID,
  type Usage,
} from '@ostrom/leasedb';
import { AccountantError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import { RefusalRecorder, type RefusedWrite } from './refusals.js';
import { TrafficMeter } from './traffic.js';
import { createUploadBounds, type UploadBounds } from './upload-bounds.js';

/** An immutable upload in progress (Tahoe keeps these in memory too: none survive a restart). */
export interface Upload {
  readonly storageIndex: string;
  readonly shnum: number;
  /**
   * The account that allocated it: the only one whose chunks, abort and completion it takes, so
   * the bytes are charged to the account that sent them and that account's status is checked on
   * each of them (its COMING row names the same account, as `ownerAccountId`).
   */
  readonly accountId: number;
  readonly uploadSecret: Uint8Array;
  readonly allocatedSize: number;
  /** The key of the connection it was allocated through, if the caller named one (upload-bounds.ts). */
  readonly connection: string | undefined;
  lastActivityAt: number;
  /**
   * Every byte is in the store (the backend completed the share) but recording the share as
   * stored failed, the database being away: the client was answered 503 and sends the chunk
   * again, and that chunk (or the sweep, or the next start) records it then.
   */
  stored?: boolean;
}

/**
 * What an operation does to the node: `read` takes nothing, `write` takes space or changes what
 * is stored, `release` only gives back what the account itself holds (aborting its own upload).
 */
export type Operation = 'read' | 'write' | 'release';

/**
 * Tahoe's `{write, read, save}` triple by status (docs/ARCHITECTURE.md, "Accounting"), and
 * `release` for every account that may have held something: giving back the space its own
 * uploads reserve only helps the node, whatever the account may no longer do (otherwise the
 * space stays reserved until the idle timeout).
 */
const ALLOWED: Record<AccountRow['status'], readonly Operation[]> = {
  pending: [],
  normal: ['read', 'write', 'release'],
  frozen: ['read', 'release'],
  disabled: ['release'],
  deleted: ['release'],
};

/** Whether an account of this status may do this kind of operation (the mode aside). */
export function permits(status: AccountRow['status'], operation: Operation): boolean {
  return ALLOWED[status].includes(operation);
}

/**
 * The anonymous and starter accounts stand for many clients at once, so no client may change
 * what they are (their attributes): only the operator, through the node's configuration.
 */
export function isSharedAccount(accountId: number): boolean {
  return accountId === ANONYMOUS_ACCOUNT_ID || accountId === STARTER_ACCOUNT_ID;
}

const LAST_SEEN_INTERVAL_SECONDS = 60;

/**
 * Owner records remembered for a later removal at most (a store away for a long time under many
 * discarded uploads). Past it, a record is left in the store: harmless (it names the account
 * that allocated the share, and a later upload of that share overwrites it), but nothing else
 * removes it.
 */
const MAX_OWNER_RECORDS_TO_FORGET = 100_000;

/** State shared by the Accountant and every Account facet. */
export class Core {
  readonly options: ResolvedOptions;
  /**
   * Serialises the writers of one storage index, within this process and across processes
   * ({@link Core.exclusive}); different indexes run in parallel.
   */
  readonly lock: KeyedLock = { run: (storageIndex, fn) => this.exclusive(storageIndex, fn) };
  /** This process's writers of one storage index, queued in memory. */
  readonly #localLock: KeyedLock = createKeyedLock();
  /** This process's quota-checked growth of one account (keyed by account id). */
  readonly #accountLock: KeyedLock = createKeyedLock();
  readonly uploads = new Map<string, Upload>();
  /** Owner records whose removal failed, to try again ({@link forgetOwnerRecordsLater}). */
  readonly #ownerRecordsToForget = new Map<string, { storageIndex: string; shnum: number }>();
  /** Admits new uploads within the bounds on those in progress ({@link Core.uploads}). */
  readonly uploadBounds: UploadBounds;
  /**
   * This process's corruption advisories of one account (keyed by account id), one at a time, so
   * two cannot both count the same recent ones and together pass the account's bound.
   */
  readonly advisoryLock: KeyedLock = createKeyedLock();
  readonly #lastSeen = new Map<number, number>();
  /** Writes refused for the quota, the status or the mode: counted, and logged as events. */
  readonly refusals: RefusalRecorder;
  /** Uploads, reads and share bytes in and out per account and hour, until flushed. */
  readonly traffic: TrafficMeter;
  /** The directory account's id once settled (directory-slots.ts, `directoryAccountId`). */
  directoryAccount: Promise<number> | undefined;

  constructor(options: ResolvedOptions) {
    this.options = options;
    this.uploadBounds = createUploadBounds(options);
    this.refusals = new RefusalRecorder({
      now: () => this.now(),
      appendEvent: (event) => this.db.appendEvent(event),
    });
    this.traffic = new TrafficMeter({
      now: () => this.now(),
      write: (rows) => this.db.addTraffic(rows),
    });
  }

  get db() {
    return this.options.leaseDb;
  }

  get backend() {
    return this.options.backend;
  }

  now(): number {
    return this.options.now();
  }

  /**
   * Runs `fn` as the only writer of the storage index, in this process and (PostgreSQL) in every
   * process sharing the database. The in-process lock comes first, so a process holds at most
   * one lock connection per index and its own writers queue in memory, not in PostgreSQL.
   */
  async exclusive<T>(storageIndex: string, fn: () => Promise<T>): Promise<T> {
    const db = this.db;
    if (!this.options.crossProcessLocks || typeof db.withStorageIndexLock !== 'function') {
      return await this.#localLock.run(storageIndex, fn);
    }
    return await this.#localLock.run(storageIndex, () =>
      underLock((inner) => db.withStorageIndexLock(storageIndex, inner), fn),
    );
  }

  /**
   * Runs a hard-quota check and the writes it allows as the only such growth of the account, in
   * this process and across processes, so two writers cannot both pass a check the sum of their
   * writes fails. Only accounts with a hard quota pay for it. Always taken inside
   * {@link Core.exclusive} (index, then account: one order, no deadlock), never around it.
   */
  async quotaExclusive<T>(account: AccountRow, fn: () => Promise<T>): Promise<T> {
    if (account.hardQuotaBytes === null) return await fn();
    const db = this.db;
    if (!this.options.crossProcessLocks || typeof db.withAccountLock !== 'function') {
      return await this.#accountLock.run(String(account.id), fn);
    }
    return await this.#accountLock.run(String(account.id), () =>
      underLock((inner) => db.withAccountLock(account.id, inner), fn),
    );
  }

  /**
   * The account's current row: statuses change from the CLI while the server runs, so never
   * cached. Its hard quota is the one in force: for the anonymous account without one of its
   * own, the node's default for it (`anonymousHardQuotaBytes`), so every quota check and what
   * the account is told of itself follow one rule.
   */
  async loadAccount(accountId: number): Promise<AccountRow> {
    const account = await guard(() => this.db.getAccount(accountId));
    if (!account) {
      throw new AccountantError('UNKNOWN_ACCOUNT', `account ${accountId} does not exist`, {
        details: { accountId },
      });
    }
    const fallback = this.options.anonymousHardQuotaBytes;
    if (
      account.id === ANONYMOUS_ACCOUNT_ID &&
      account.hardQuotaBytes === null &&
      fallback !== null
    ) {
      return { ...account, hardQuotaBytes: fallback };
    }
    return account;
  }

  /**
   * Refuses growth past a hard quota that the account's row does not hold (the anonymous
   * account's default, see {@link Core.loadAccount}): the database checks only the row's, in the
   * transaction that adds the shares. Called under {@link Core.quotaExclusive}, so no other
   * growth of the account lands between this check and the writes it allows.
   */
  async checkQuotaOutsideRow(account: AccountRow, requestedBytes: number): Promise<void> {
    const hard = account.hardQuotaBytes;
    if (
      hard === null ||
      requestedBytes <= 0 ||
      account.id !== ANONYMOUS_ACCOUNT_ID ||
      hard !== this.options.anonymousHardQuotaBytes
    ) {
      return;
    }
    const usage = await this.usageOf(account.id);
    if (usage.bytes + requestedBytes > hard) {
      throw new AccountantError(
        'QUOTA_EXCEEDED',
        `account ${account.id} would pass its hard quota`,
        {
          details: {
            accountId: account.id,
            usedBytes: usage.bytes,
            requestedBytes,
            hardQuotaBytes: hard,
          },
        },
      );
    }
  }

  /**
   * Loads the account and refuses the operation unless its status and the mode allow it. The
   * account is seen either way: a refused request is a request too.
   */
  async authorize(accountId: number, operation: Operation): Promise<AccountRow> {
    const account = await this.loadAccount(accountId);
    await this.touch(account.id);
    if (!permits(account.status, operation)) {
      throw new AccountantError(
        'FORBIDDEN',
        `account ${account.id} (${account.nickname}) is ${account.status}: ${operation} refused`,
        { details: { accountId: account.id, status: account.status, operation } },
      );
    }
    if (
      operation === 'write' &&
      account.id === ANONYMOUS_ACCOUNT_ID &&
      this.options.mode === 'required'
    ) {
      throw new AccountantError(
        'FORBIDDEN',
        'this server stores only for accounts; request one with your key',
        { details: { accountId: account.id, status: account.status, operation, mode: 'required' } },
      );
    }
    return account;
  }

  /**
   * {@link Core.authorize} for a write, its refusal (status or mode) recorded as `write`; `bytes`
   * is what the write asks for, when known.
   */
  async authorizeWrite(
    accountId: number,
    write: RefusedWrite,
    bytes?: number,
  ): Promise<AccountRow> {
    return await this.recordingRefusals(
      accountId,
      write,
      () => this.authorize(accountId, 'write'),
      bytes,
    );
  }

  /**
   * Runs a step of a write that may refuse it (the status, the mode, a hard quota) and passes
   * on whatever it throws unchanged, once a refusal is counted and logged (`write-refused`).
   */
  async recordingRefusals<T>(
    accountId: number,
    write: RefusedWrite,
    step: () => Promise<T>,
    bytes?: number,
  ): Promise<T> {
    try {
      return await step();
    } catch (error) {
      await this.refusals.record(error, accountId, write, bytes);
      throw error;
    }
  }

  /**
   * Records that an account made a request now, writing at most once a minute per account (the
   * last write's time is kept here; other processes keep their own, and the database keeps the
   * latest). Never throws: being seen is bookkeeping, and a request must not fail for it.
   */
  async touch(accountId: number): Promise<void> {
    const now = this.now();
    const last = this.#lastSeen.get(accountId);
    if (last !== undefined && now - last < LAST_SEEN_INTERVAL_SECONDS) return;
    this.#lastSeen.set(accountId, now);
    try {
      await this.db.touchAccount(accountId, now);
    } catch {
      // Nothing was recorded: the next request tries again.
      if (this.#lastSeen.get(accountId) === now) this.#lastSeen.delete(accountId);
    }
  }

  /**
   * The lease duration an account's new and renewed leases get: its own choice within the
   * bounds, or the node's policy. A shared account's is always the policy's: its clients cannot
   * choose for each other, and a choice recorded before that was refused must not stay in force.
   */
  async leaseDurationFor(accountId: number): Promise<number> {
    if (isSharedAccount(accountId)) return this.db.policy.leaseDurationSeconds;
    const attributes = await guard(() => this.db.getAccountAttributes(accountId));
    const asked = Number(attributes['lease-duration-seconds']);
    return Number.isSafeInteger(asked) && asked > 0
      ? this.clampLeaseDuration(asked)
      : this.db.policy.leaseDurationSeconds;
  }

  clampLeaseDuration(seconds: number): number {
    return Math.min(
      Math.max(seconds, this.options.minLeaseDurationSeconds),
      this.db.policy.maxLeaseDurationSeconds,
    );
  }

  /**
   * The other server processes sharing the database, from one read: those alive (heard from
   * within the process timeout) by id with the url they are reached at, and the ids of the dead.
   */
  async peers(): Promise<{ live: Map<string, string | null>; dead: string[] }> {
    const since = this.now() - this.options.processTimeoutSeconds;
    const live = new Map<string, string | null>();
    const dead: string[] = [];
    for (const p of await guard(() => this.db.listProcesses())) {
      if (p.id === this.options.processId) continue;
      if (p.heartbeatAt >= since) live.set(p.id, p.url);
      else dead.push(p.id);
    }
    return { live, dead };
  }

  /**
   * For an upload this process does not hold: UPLOAD_ELSEWHERE when a live peer that can be
   * reached holds it for `accountId` (the caller forwards the request), else nothing (the caller
   * answers as for no upload). Another account's upload is not this account's to reach, here or
   * there, so it is not forwarded: the holder would refuse it the same way (it checks the
   * account too, as the forwarded request carries the client's own Authorization). One database
   * read, only on this path.
   */
  async throwIfUploadElsewhere(
    storageIndex: string,
    shnum: number,
    accountId: number,
  ): Promise<void> {
    const row = await guard(() => this.db.getShare(storageIndex, shnum));
    if (row?.state !== 'coming' || row.ownerAccountId !== accountId) return;
    const owner = row.uploadProcess;
    if (owner === null || owner === this.options.processId) return;
    const url = (await this.peers()).live.get(owner);
    if (!url) return;
    throw new AccountantError(
      'UPLOAD_ELSEWHERE',
      `the upload of ${storageIndex}/${shnum} is held by server process ${owner}`,
      { details: { processId: owner, url } },
    );
  }

  /**
   * Writes who owns these new shares beside them (with the state key, when given), so that a lost
   * lease database can be rebuilt with their owners. Before the shares exist: an owner record
   * without a share is harmless (the next upload of that share overwrites it), a share without
   * one loses its owner.
   */
  async writeOwnerRecords(
    storageIndex: string,
    shnums: readonly number[],
    account: AccountRow,
    sharetype: 'immutable' | 'mutable',
  ): Promise<void> {
    const key = this.options.stateKey;
    if (!key || shnums.length === 0) return;
    await guard(() =>
      writeOwnerRecords(this.backend, key, storageIndex, shnums, {
        accountId: account.id,
        publicKey: account.publicKey,
        nickname: account.nickname,
        sharetype,
        createdAt: this.now(),
      }),
    );
  }

  /**
   * Removes owner records of shares that are gone or never came. A store that fails it (away for
   * now) does not fail the caller: the records are remembered and {@link forgetOwnerRecordsLater}
   * tries again, so a discarded upload does not leave its record in the bucket for good.
   */
  async deleteOwnerRecords(storageIndex: string, shnums: readonly number[]): Promise<void> {
    if (!this.options.stateKey || shnums.length === 0) return;
    try {
      await deleteOwnerRecords(this.backend, storageIndex, shnums);
    } catch {
      for (const shnum of shnums) {
        if (this.#ownerRecordsToForget.size >= MAX_OWNER_RECORDS_TO_FORGET) break;
        this.#ownerRecordsToForget.set(uploadKey(storageIndex, shnum), { storageIndex, shnum });
      }
    }
  }

  /** Removes owner records, or throws (UNAVAILABLE when the store is away) and removes none. */
  async deleteOwnerRecordsNow(storageIndex: string, shnums: readonly number[]): Promise<void> {
    if (!this.options.stateKey || shnums.length === 0) return;
    await guard(() => deleteOwnerRecords(this.backend, storageIndex, shnums));
  }

  /**
   * Tries again to remove the owner records a failed {@link deleteOwnerRecords} left, each under
   * its index's lock and only while the share still has no row and no upload here (an upload of
   * it since then wrote a record of its own, which stays). Returns how many were removed.
   */
  async forgetOwnerRecordsLater(): Promise<number> {
    let forgotten = 0;
    for (const [key, { storageIndex, shnum }] of [...this.#ownerRecordsToForget]) {
      const done = await this.lock
        .run(storageIndex, async () => {
          if (this.uploads.has(key)) return true;
          if (await this.db.getShare(storageIndex, shnum)) return true;
          await deleteOwnerRecords(this.backend, storageIndex, [shnum]);
          forgotten++;
          return true;
        })
        .catch(() => false);
      if (!done) break; // the store or the database is still away: next sweep
      this.#ownerRecordsToForget.delete(key);
    }
    return forgotten;
  }

  /** Bytes allocated to uploads in progress and not yet written (Tahoe: `allocated_size()`). */
  allocatedInProgress(): number {
    let total = 0;
    for (const upload of this.uploads.values()) total += upload.allocatedSize;
    return total;
  }

  /**
   * Room for new data: the store's free space minus reserved space minus allocations in
   * progress (Tahoe's rule), and under `capacityBytes` when set (the database's total already
   * counts allocations in progress).
   */
  async room(): Promise<number> {
    const available = await guard(() => this.backend.availableSpace());
    let room =
      available === undefined
        ? Number.MAX_SAFE_INTEGER
        : available - this.options.reservedBytes - this.allocatedInProgress();
    if (this.options.capacityBytes !== undefined) {
      const used = await guard(() => this.db.getServerUsage());
      room = Math.min(room, this.options.capacityBytes - used.bytes);
    }
    return Math.max(0, room);
  }

  /** The account's usage before an operation that may grow it; only read when a soft quota needs it. */
  async usageBeforeGrowth(account: AccountRow): Promise<Usage | undefined> {
    return account.softQuotaBytes ? await this.usageOf(account.id) : undefined;
  }

  /** Appends `quota-warning` events when usage crossed 80% or 100% of the soft quota upward. */
  async warnOnSoftQuota(account: AccountRow, before: Usage | undefined): Promise<void> {
    const soft = account.softQuotaBytes;
    if (soft === null || soft === 0 || before === undefined) return;
    const after = await guard(() => this.db.getAccountUsage(account.id));
    if (!after) return;
    for (const percent of [80, 100]) {
      const threshold = (soft * percent) / 100;
      if (before.bytes < threshold && after.bytes >= threshold) {
        await guard(() =>
          this.db.appendEvent({
            kind: 'quota-warning',
            accountId: account.id,
            actor: 'server',
            data: { percent, bytes: after.bytes, softQuotaBytes: soft },
          }),
        );
      }
    }
  }

  async usageOf(accountId: number): Promise<Usage> {
    return (await guard(() => this.db.getAccountUsage(accountId))) ?? { shares: 0, bytes: 0 };
  }
}

/**
 * Runs `fn` under a database lock: a failure to take the lock is translated (UNAVAILABLE), what
 * `fn` throws passes through untouched, as it would without the lock.
 */
async function underLock<T>(
  lock: (inner: () => Promise<T>) => Promise<T>,
  fn: () => Promise<T>,
): Promise<T> {
  let entered = false;
  try {
    return await lock(() => {
      entered = true;
      return fn();
    });
  } catch (error) {
    throw entered ? error : translate(error);
  }
}

export function uploadKey(storageIndex: string, shnum: number): string {
  return `${storageIndex}/${shnum}`;
}

export function sameSecret(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Runs a backend or database call and turns its operational failures into AccountantErrors, so
 * callers see one error class. Misuse errors (TypeError/RangeError) pass through.
 */
export async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw translate(error);
  }
}

/** How long a client is told to wait when the database or the store is away (Retry-After). */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/**
 * A backend's or the lease database's failure as the AccountantError callers answer with. The
 * message is for clients: it never carries what the failure named (object keys, paths, SQL),
 * which stays in `cause` for the operator's log.
 */
export function translate(error: unknown): unknown {
  if (error instanceof AccountantError) return error;
  const unavailable = (dependency: 'database' | 'store', what: string) =>
    new AccountantError('UNAVAILABLE', `${what} is unavailable; try again later`, {
      cause: error,
      details: { dependency, retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS },
    });
  if (error instanceof BackendError) {
    switch (error.code) {
      case 'NOT_FOUND':
        return new AccountantError('NOT_FOUND', 'no such share or upload', { cause: error });
      case 'CONFLICT':
        return new AccountantError(
          'CONFLICT',
          'the share is stored already, being written, or changed meanwhile',
          { cause: error },
        );
      case 'NO_SPACE':
        return new AccountantError('NO_SPACE', 'the store has no space left', { cause: error });
      default:
        return unavailable('store', 'the share store');
    }
  }
  if (error instanceof LeaseDbError) {
    switch (error.code) {
      case 'QUOTA_EXCEEDED':
        return new AccountantError('QUOTA_EXCEEDED', error.message, {
          cause: error,
          details: error.details,
        });
      case 'UNKNOWN_ACCOUNT':
        return new AccountantError('UNKNOWN_ACCOUNT', error.message, { cause: error });
      case 'SHARE_NOT_FOUND':
        return new AccountantError('NOT_FOUND', error.message, { cause: error });
      case 'BUSY':
        // Another writer held it (SQLite's lock, PostgreSQL's retries spent): not an outage.
        return new AccountantError('UNAVAILABLE', 'the lease database is busy; try again', {
          cause: error,
          details: { retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS },
        });
      default:
        return unavailable('database', 'the lease database');
    }
  }
  // A driver's error the lease database did not wrap (a connection lost outside a statement).
  if (isUnavailableError(error)) return unavailable('database', 'the lease database');
  return error;
}
