import type BetterSqlite3 from 'better-sqlite3';
import type { MigrationResultSet } from 'kysely';
import type {
  AccountPage,
  AccountQuery,
  CreateAccountInput,
  QuotaInput,
  RestoreAccountInput,
  RestoreAccountResult,
  StatusChangeOptions,
} from './accounts.js';
import * as accounts from './accounts.js';
import * as claims from './claims.js';
import { type Ctx, isBusy, isRetryableConflict } from './context.js';
import { type Connection, type ConnectionOptions, connect, type Dialect } from './dialect.js';
import { LeaseDbError } from './errors.js';
import type { EventInput, EventQuery } from './events.js';
import * as events from './events.js';
import { GroupCommit } from './group-commit.js';
import type { TimeRange } from './history.js';
import * as history from './history.js';
import * as invitations from './invitations.js';
import type { AddOrRenewInput, AddOrRenewResult, DroppedLease, ExpiredLease } from './leases.js';
import * as leases from './leases.js';
import { migrateLeaseDb } from './migrations.js';
import { type LeasePolicy, resolvePolicy } from './policy.js';
import * as processes from './processes.js';
import type { RestoreInput } from './restores.js';
import * as restores from './restores.js';
import { SessionLocks } from './session-locks.js';
import type { AdoptShareInput, ComingQuery, ComingShareInput, UnleasedQuery } from './shares.js';
import * as shares from './shares.js';
import type { TrafficQuery, TrafficRow } from './traffic.js';
import * as traffic from './traffic.js';
import type {
  AccountRow,
  AccountStatus,
  ActivityEvent,
  CrawlerClaim,
  CrawlerCycle,
  CrawlerState,
  CreateInvitationInput,
  DatabaseRestore,
  InvitationRedemption,
  InvitationRow,
  Lease,
  ServerProcess,
  Share,
  ShareState,
  TrafficSample,
  Usage,
  UsageSample,
} from './types.js';
import type { RecomputedUsage, UsageMismatch } from './usage.js';
import * as usage from './usage.js';
import { assertAccountId, assertStorageIndex } from './validate.js';

/** Who did an operator action, for the activity log. */
export interface ActorOption {
  readonly actor?: string | null;
}

/**
 * Everything the lease database can do inside one transaction. Each method is atomic on its own;
 * `LeaseDb.transaction` groups several into one.
 */
export interface LeaseDbOperations {
  readonly dialect: Dialect;
  readonly policy: LeasePolicy;

  /** Creates an account for an Ed25519 public key; ACCOUNT_EXISTS if the key has one. */
  createAccount(input: CreateAccountInput): Promise<AccountRow>;
  getAccount(id: number): Promise<AccountRow | undefined>;
  getAccountByPublicKey(publicKey: Uint8Array | string): Promise<AccountRow | undefined>;
  /** A page of accounts with usage, filtered, sorted and paged in the database. */
  listAccounts(query?: AccountQuery): Promise<AccountPage>;
  /** Accounts in each status, every status present (zeros included): one grouped query. */
  countAccountsByStatus(): Promise<Record<AccountStatus, number>>;
  /**
   * Records that the account made a request at `at` (Unix seconds), unless it was seen later
   * already: one UPDATE, no event. An unknown account is left alone.
   */
  touchAccount(id: number, at: number): Promise<void>;
  /** Logs the change with its actor and, when given, its reason; an unchanged status logs nothing. */
  setAccountStatus(
    id: number,
    status: AccountStatus,
    options?: StatusChangeOptions,
  ): Promise<AccountRow>;
  /** Sets both limits (null = none); soft must not exceed hard. */
  setAccountQuota(id: number, quota: QuotaInput, options?: ActorOption): Promise<AccountRow>;
  setAccountNickname(id: number, nickname: string, options?: ActorOption): Promise<AccountRow>;
  /** Sets a free-form attribute (e.g. `lease-duration-seconds`); null removes it. */
  setAccountAttribute(id: number, name: string, value: string | null): Promise<void>;
  getAccountAttributes(id: number): Promise<Record<string, string>>;
  /** The ids of the accounts whose attribute `name` is `value`, in id order (at most `limit`). */
  accountsWithAttribute(name: string, value: string, limit?: number): Promise<number[]>;
  /**
   * Reads the account and, inside a transaction on PostgreSQL, locks its row until the
   * transaction ends: writers of one account (and of what is derived from its row, such as its
   * record in the store) then take turns. Undefined when there is no such account.
   */
  lockAccount(id: number): Promise<AccountRow | undefined>;
  /**
   * Makes account `input.id` exactly as given (a restore from the account's record): created with
   * that id when missing, updated when it exists with the same key; ACCOUNT_EXISTS when the id has
   * another key or the key another id. The id sequence moves past a created id.
   */
  restoreAccount(input: RestoreAccountInput): Promise<RestoreAccountResult>;
  /** Makes every account id issued from now on greater than `throughId`; never moves back. */
  reserveAccountIds(throughId: number): Promise<void>;

  /**
   * Stores an invitation (its code's secret only as a SHA-256) and logs `invitation-created`;
   * INVITATION_EXISTS when the hash has one already.
   */
  createInvitation(input: CreateInvitationInput): Promise<InvitationRow>;
  /** Every invitation, newest first. */
  listInvitations(): Promise<InvitationRow[]>;
  getInvitation(id: number): Promise<InvitationRow | undefined>;
  /**
   * Revokes an invitation now; one revoked already keeps its first time and logs nothing more.
   * Undefined when there is no such invitation.
   */
  revokeInvitation(id: number, actor: string): Promise<InvitationRow | undefined>;
  /**
   * Counts one use of the invitation with this hash, atomically, if it is not revoked, expired
   * or spent (the first of these that holds is the answer otherwise). Run it in the transaction
   * that creates the account it admits, so that a failed creation gives the use back.
   */
  redeemInvitation(secretHash: string): Promise<InvitationRedemption>;
  /**
   * Binds a grid invitation (id: 32 hex) to the key (64 hex) that first uses it here: true when
   * it is that key's now, false when another key's. Run it in the transaction that creates the
   * account it admits.
   */
  bindGridInvitation(invitationId: string, publicKey: string): Promise<boolean>;

  /** NONE → COMING for an allocation, leased to the uploader; checks the hard quota. */
  addComingShares(input: ComingShareInput): Promise<Share[]>;
  /** COMING → STABLE once the upload is complete; the share may end smaller than allocated, never larger. */
  markStable(storageIndex: string, shnum: number, usedBytes: number): Promise<Share>;
  /** COMING → NONE: an aborted or timed-out upload. */
  abortComing(storageIndex: string, shnum: number): Promise<void>;
  /** STABLE → STABLE with a new size (mutable rewrite); optionally checks a hard quota on growth. */
  setUsedSpace(
    storageIndex: string,
    shnum: number,
    usedBytes: number,
    options?: { enforceQuotaFor?: number },
  ): Promise<Share>;
  /** NONE → STABLE: a share found in the backend (starter lease unless leases are given). */
  adoptShare(input: AdoptShareInput): Promise<Share>;
  /** adoptShare for many shares in one statement per table, all or none (a rebuild's batches). */
  adoptShares(inputs: readonly AdoptShareInput[]): Promise<Share[]>;
  /** STABLE → GOING; SHARE_LEASED unless unleased or `dropLeases`. */
  markGoing(
    storageIndex: string,
    shnum: number,
    options?: { dropLeases?: boolean },
  ): Promise<Share>;
  /** GOING → STABLE: a delete failed. */
  returnToStable(storageIndex: string, shnum: number): Promise<Share>;
  /** GOING → NONE: the delete succeeded. */
  removeGoing(storageIndex: string, shnum: number, options?: ActorOption): Promise<void>;
  /** STABLE → NONE: the share vanished from the backend. */
  removeVanished(storageIndex: string, shnum: number, options?: ActorOption): Promise<void>;
  getShare(storageIndex: string, shnum: number): Promise<Share | undefined>;
  listShares(storageIndex: string): Promise<Share[]>;
  listSharesByPrefix(prefix: string): Promise<Share[]>;
  /** STABLE shares with no lease, optionally only those past a grace period. */
  listUnleasedShares(query?: UnleasedQuery): Promise<Share[]>;
  /** COMING shares, e.g. those untouched since before a time (uploads a crash left behind). */
  listComingShares(query?: ComingQuery): Promise<Share[]>;

  /** Adds or renews the account's lease on every share of the index (or one); never shortens. */
  addOrRenewLeases(input: AddOrRenewInput): Promise<AddOrRenewResult>;
  listLeases(storageIndex: string, shnum?: number): Promise<Lease[]>;
  /** Deletes every lease expiring before `before` in one statement and returns them. */
  expireLeases(before: number): Promise<ExpiredLease[]>;
  /** Removes up to `limit` of the account's leases; each share comes back with the leases left on it. */
  dropAccountLeases(
    accountId: number,
    limit: number,
    options?: ActorOption,
  ): Promise<DroppedLease[]>;
  /** Records a signed request's nonce; false when it was seen already (forgetting those seen before `forgetBefore`). */
  claimNonce(nonce: string, forgetBefore: number): Promise<boolean>;

  /** The account's maintained totals: one indexed read. */
  getAccountUsage(accountId: number): Promise<Usage | undefined>;
  getServerUsage(): Promise<Usage>;
  /** Shares and their bytes in each state (coming, stable, going), counted in the database. */
  countSharesByState(): Promise<Record<ShareState, Usage>>;
  recomputeUsage(): Promise<RecomputedUsage>;
  /** Maintained totals that differ from a recount (empty when all agree). */
  checkUsage(): Promise<UsageMismatch[]>;
  /** Overwrites differing totals with the recount and logs each correction. */
  repairUsage(options?: ActorOption): Promise<UsageMismatch[]>;

  appendEvent(input: EventInput): Promise<void>;
  /** Appends several events in one statement, in the order given. */
  appendEvents(inputs: readonly EventInput[]): Promise<void>;
  listEvents(query?: EventQuery): Promise<ActivityEvent[]>;
  pruneEvents(before: number): Promise<number>;

  /**
   * Records the current totals as the sample of the hour containing `at` (default now): the
   * server's every hour, an account's only when they differ from its latest earlier sample.
   */
  snapshotUsage(at?: number): Promise<number>;
  /** An account's samples in the range; the level in force at `from` comes first, dated `from`. */
  getUsageHistory(accountId: number, range?: TimeRange): Promise<UsageSample[]>;
  getServerUsageHistory(range?: TimeRange): Promise<UsageSample[]>;
  /** Keeps one sample a day (the day's last) of those taken before `before`. */
  pruneUsageHistory(before: number): Promise<number>;

  /**
   * Adds each row's counts to what the database holds for its account and hour, in one
   * transaction (an upsert that adds, so several processes' counts sum up). Every row is checked
   * first: a malformed one throws TypeError/RangeError and nothing is written. An empty batch
   * does nothing.
   */
  addTraffic(rows: readonly TrafficRow[]): Promise<void>;
  /**
   * Traffic of the hours in [from, to) that have any, oldest first: one account's, or without
   * `accountId` the sum over every account (the node's).
   */
  getTraffic(query: TrafficQuery): Promise<TrafficSample[]>;
  /** Deletes the traffic of hours starting before `hour`; returns how many rows went. */
  deleteTrafficBefore(hour: number): Promise<number>;

  getCrawlerState(name: string): Promise<CrawlerState | undefined>;
  saveCrawlerState(state: Omit<CrawlerState, 'updatedAt'>): Promise<void>;
  recordCrawlerCycle(name: string, cycle: CrawlerCycle, keep?: number): Promise<void>;
  listCrawlerCycles(name: string): Promise<CrawlerCycle[]>;
  /**
   * Takes or renews the claim on crawler `name` for process `holder` until now + `ttlSeconds`
   * (at most a day), in one compare-and-set statement: true when `holder` holds it afterwards
   * (it was free, its own, or expired), false while another holder's claim runs.
   */
  claimCrawler(name: string, holder: string, ttlSeconds: number): Promise<boolean>;
  /** Gives up `holder`'s claim on crawler `name`; false if it did not hold it. */
  releaseCrawler(name: string, holder: string): Promise<boolean>;
  /** The claim on crawler `name` as stored (possibly expired), or undefined when there is none. */
  getCrawlerClaim(name: string): Promise<CrawlerClaim | undefined>;

  /**
   * Records that the database was just restored from a backup (or started empty in place of a
   * lost one): leases renewed since are unknown, so the crawler holds deletion for its grace
   * period from then. Drops every crawler claim (they are the backup's) and logs the restore.
   */
  recordRestore(input: RestoreInput): Promise<DatabaseRestore>;
  /** The latest restore, or undefined when the database was never restored. */
  getLastRestore(): Promise<DatabaseRestore | undefined>;

  /** Records that a server process is alive now, reachable at `url` (registers it the first time). */
  heartbeatProcess(id: string, url: string | null): Promise<void>;
  /** Forgets a server process (clean stop); false if it was not registered. */
  removeProcess(id: string): Promise<boolean>;
  /** Registered server processes, optionally only those heard from at or after `aliveSince`. */
  listProcesses(query?: { aliveSince?: number }): Promise<ServerProcess[]>;
}

/** The lease database: operations, transactions, backup and lifecycle. */
export interface LeaseDb extends LeaseDbOperations {
  /**
   * Runs `fn` in one transaction: all its operations commit together or not at all. On
   * PostgreSQL a deadlock or serialisation failure re-runs `fn` (up to 5 times), so `fn` should
   * have no effects outside the database.
   */
  transaction<T>(fn: (tx: LeaseDbOperations) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` while holding this storage index's operation lock, which another process's
   * `withStorageIndexLock` on the same index (and the same database and schema) waits for: a
   * whole operation, database writes and backend calls together, runs alone across processes.
   * On PostgreSQL a session advisory lock, released when `fn` settles (or its connection dies);
   * `fn` may use this LeaseDb freely, including on the same index. On SQLite `fn` just runs: one
   * process writes (the server), and it serialises its own writers. The lock is reentrant and
   * does not exclude other callers in this process; pair it with an in-process lock.
   */
  withStorageIndexLock<T>(storageIndex: string, fn: () => Promise<T>): Promise<T>;
  /**
   * As `withStorageIndexLock`, for one account (its own key space): held around a quota check
   * and the writes it allows, so another process cannot check the same usage meanwhile. Taken
   * inside a storage-index lock it shares that lock's connection, so take it inside, never around.
   */
  withAccountLock<T>(accountId: number, fn: () => Promise<T>): Promise<T>;
  /** A consistent snapshot of the whole SQLite database, taken while it is in use. */
  backup(): Promise<Uint8Array>;
  /** The same snapshot written to a file by SQLite's online backup. */
  backupToFile(path: string): Promise<void>;
  /** Closes the connection (and pool); the instance is unusable afterwards. */
  close(): Promise<void>;
}

export type LeaseDbOptions = ConnectionOptions & {
  /** Unix seconds; inject a clock in tests. Defaults to the system clock. */
  readonly now?: () => number;
  readonly policy?: Partial<LeasePolicy>;
  /** Migrate to the latest schema on open (default true). */
  readonly migrate?: boolean;
  /**
   * SQLite: writes that arrive together share one transaction and one flush of the write-ahead
   * log, each settling once the commit that covers it is on the disk (see GroupCommit; default
   * true). PostgreSQL already shares one WAL flush among the commits of concurrent connections,
   * so there each write keeps a transaction of its own and this is ignored.
   */
  readonly groupCommit?: boolean;
  /**
   * Called once each commit of writes made through this LeaseDb's operations (not those of
   * `transaction`) is durable, with how many writes it covered: for metrics and tests.
   */
  readonly onCommit?: (writes: number) => void;
};

const MAX_ATTEMPTS = 5;

function systemNow(): number {
  return Math.floor(Date.now() / 1000);
}

class SqlLeaseDb implements LeaseDb {
  readonly #ctx: Ctx;
  readonly #connection: Connection | undefined;
  readonly #locks: SessionLocks | undefined;
  readonly #group: GroupCommit | undefined;
  readonly #onCommit: ((writes: number) => void) | undefined;

  constructor(
    ctx: Ctx,
    connection: Connection | undefined,
    commits: Pick<LeaseDbOptions, 'groupCommit' | 'onCommit'> = {},
  ) {
    this.#ctx = ctx;
    this.#connection = connection;
    this.#locks =
      connection?.dialect === 'postgres' ? new SessionLocks(connection.lockPool) : undefined;
    this.#onCommit = commits.onCommit;
    this.#group =
      connection?.dialect === 'sqlite' && (commits.groupCommit ?? true)
        ? new GroupCommit(ctx, {
            alone: (fn) => this.#transact(fn, 'write'),
            durable: () => this.#durable(),
            onCommit: commits.onCommit,
          })
        : undefined;
  }

  get dialect(): Dialect {
    return this.#ctx.dialect;
  }

  get policy(): LeasePolicy {
    return this.#ctx.policy;
  }

  /**
   * Runs a write in the caller's transaction when already inside one; otherwise in a group
   * commit (SQLite) or a transaction of its own.
   */
  async #write<T>(fn: (ctx: Ctx) => Promise<T>): Promise<T> {
    if (this.#ctx.db.isTransaction) return await fn(this.#ctx);
    if (this.#group) return await this.#group.run(fn);
    const result = await this.#transact(fn, 'write');
    this.#onCommit?.(1);
    return result;
  }

  /** A read that must see one snapshot across several statements (repeatable read on PostgreSQL). */
  #consistentRead<T>(fn: (ctx: Ctx) => Promise<T>): Promise<T> {
    return this.#transact(fn, 'read');
  }

  /**
   * Once a write transaction has committed: its commit on the disk (SQLite with
   * `synchronous: 'full'` flushes the write-ahead log here; PostgreSQL's COMMIT already did).
   */
  async #durable(): Promise<void> {
    const wal = this.#connection?.dialect === 'sqlite' ? this.#connection.wal : undefined;
    if (!wal) return;
    try {
      await wal.flush();
    } catch (error) {
      throw new LeaseDbError('UNAVAILABLE', 'the lease database could not flush its log', {
        cause: error,
      });
    }
  }

  async #transact<T>(fn: (ctx: Ctx) => Promise<T>, kind: 'read' | 'write'): Promise<T> {
    if (this.#ctx.db.isTransaction) return await fn(this.#ctx);
    for (let attempt = 1; ; attempt++) {
      try {
        let builder = this.#ctx.db.transaction();
        if (kind === 'read' && this.#ctx.dialect === 'postgres') {
          builder = builder.setIsolationLevel('repeatable read');
        }
        const result = await builder.execute((trx) => fn({ ...this.#ctx, db: trx }));
        if (kind === 'write') await this.#durable();
        return result;
      } catch (error) {
        if (isRetryableConflict(error) && attempt < MAX_ATTEMPTS) continue;
        if (isRetryableConflict(error) || isBusy(error)) {
          throw new LeaseDbError('BUSY', 'the lease database is busy; try again', { cause: error });
        }
        throw error;
      }
    }
  }

  transaction<T>(fn: (tx: LeaseDbOperations) => Promise<T>): Promise<T> {
    // Never grouped: `fn` may wait on other things (a backend call) while it holds the
    // transaction, and a group would wait with it.
    return this.#transact((ctx) => fn(new SqlLeaseDb(ctx, undefined)), 'write');
  }

  createAccount(input: CreateAccountInput) {
    return this.#write((ctx) => accounts.createAccount(ctx, input));
  }
  getAccount(id: number) {
    return accounts.getAccount(this.#ctx, id);
  }
  getAccountByPublicKey(publicKey: Uint8Array | string) {
    return accounts.getAccountByPublicKey(this.#ctx, publicKey);
  }
  listAccounts(query?: AccountQuery) {
    return this.#consistentRead((ctx) => accounts.listAccounts(ctx, query));
  }
  countAccountsByStatus() {
    return accounts.countAccountsByStatus(this.#ctx);
  }
  touchAccount(id: number, at: number) {
    return this.#write((ctx) => accounts.touchAccount(ctx, id, at));
  }
  setAccountStatus(id: number, status: AccountStatus, options: StatusChangeOptions = {}) {
    return this.#write((ctx) => accounts.setAccountStatus(ctx, id, status, options));
  }
  setAccountQuota(id: number, quota: QuotaInput, options: ActorOption = {}) {
    return this.#write((ctx) => accounts.setAccountQuota(ctx, id, quota, options.actor ?? null));
  }
  setAccountNickname(id: number, nickname: string, options: ActorOption = {}) {
    return this.#write((ctx) =>
      accounts.setAccountNickname(ctx, id, nickname, options.actor ?? null),
    );
  }
  setAccountAttribute(id: number, name: string, value: string | null) {
    return this.#write((ctx) => accounts.setAccountAttribute(ctx, id, name, value));
  }
  getAccountAttributes(id: number) {
    return accounts.getAccountAttributes(this.#ctx, id);
  }

  accountsWithAttribute(name: string, value: string, limit?: number) {
    return accounts.accountsWithAttribute(this.#ctx, name, value, limit);
  }
  lockAccount(id: number) {
    return accounts.lockAccount(this.#ctx, id);
  }
  restoreAccount(input: RestoreAccountInput) {
    return this.#write((ctx) => accounts.restoreAccount(ctx, input));
  }
  reserveAccountIds(throughId: number) {
    return this.#write((ctx) => accounts.reserveAccountIds(ctx, throughId));
  }

  createInvitation(input: CreateInvitationInput) {
    return this.#write((ctx) => invitations.createInvitation(ctx, input));
  }
  listInvitations() {
    return invitations.listInvitations(this.#ctx);
  }
  getInvitation(id: number) {
    return invitations.getInvitation(this.#ctx, id);
  }
  revokeInvitation(id: number, actor: string) {
    return this.#write((ctx) => invitations.revokeInvitation(ctx, id, actor));
  }
  redeemInvitation(secretHash: string) {
    return this.#write((ctx) => invitations.redeemInvitation(ctx, secretHash));
  }

  bindGridInvitation(invitationId: string, publicKey: string) {
    return this.#write((ctx) => invitations.bindGridInvitation(ctx, invitationId, publicKey));
  }

  addComingShares(input: ComingShareInput) {
    return this.#write((ctx) => shares.addComingShares(ctx, input));
  }
  markStable(storageIndex: string, shnum: number, usedBytes: number) {
    return this.#write((ctx) => shares.markStable(ctx, storageIndex, shnum, usedBytes));
  }
  abortComing(storageIndex: string, shnum: number) {
    return this.#write((ctx) => shares.abortComing(ctx, storageIndex, shnum));
  }
  setUsedSpace(
    storageIndex: string,
    shnum: number,
    usedBytes: number,
    options: { enforceQuotaFor?: number } = {},
  ) {
    return this.#write((ctx) =>
      shares.setUsedSpace(ctx, storageIndex, shnum, usedBytes, options.enforceQuotaFor),
    );
  }
  adoptShare(input: AdoptShareInput) {
    return this.#write((ctx) => shares.adoptShare(ctx, input));
  }

  adoptShares(inputs: readonly AdoptShareInput[]) {
    return this.#write((ctx) => shares.adoptShares(ctx, inputs));
  }
  markGoing(storageIndex: string, shnum: number, options: { dropLeases?: boolean } = {}) {
    return this.#write((ctx) =>
      shares.markGoing(ctx, storageIndex, shnum, options.dropLeases ?? false),
    );
  }
  returnToStable(storageIndex: string, shnum: number) {
    return this.#write((ctx) => shares.returnToStable(ctx, storageIndex, shnum));
  }
  removeGoing(storageIndex: string, shnum: number, options: ActorOption = {}) {
    return this.#write((ctx) =>
      shares.removeGoing(ctx, storageIndex, shnum, options.actor ?? null),
    );
  }
  removeVanished(storageIndex: string, shnum: number, options: ActorOption = {}) {
    return this.#write((ctx) =>
      shares.removeVanished(ctx, storageIndex, shnum, options.actor ?? null),
    );
  }
  getShare(storageIndex: string, shnum: number) {
    return shares.getShare(this.#ctx, storageIndex, shnum);
  }
  listShares(storageIndex: string) {
    return shares.listShares(this.#ctx, storageIndex);
  }
  listSharesByPrefix(prefix: string) {
    return shares.listSharesByPrefix(this.#ctx, prefix);
  }
  listUnleasedShares(query?: UnleasedQuery) {
    return shares.listUnleasedShares(this.#ctx, query);
  }
  listComingShares(query?: ComingQuery) {
    return shares.listComingShares(this.#ctx, query);
  }

  addOrRenewLeases(input: AddOrRenewInput) {
    return this.#write((ctx) => leases.addOrRenewLeases(ctx, input));
  }
  listLeases(storageIndex: string, shnum?: number) {
    return leases.listLeases(this.#ctx, storageIndex, shnum);
  }
  expireLeases(before: number) {
    return this.#write((ctx) => leases.expireLeases(ctx, before));
  }
  dropAccountLeases(accountId: number, limit: number, options: ActorOption = {}) {
    return this.#write((ctx) =>
      leases.dropAccountLeases(ctx, accountId, limit, options.actor ?? null),
    );
  }
  claimNonce(nonce: string, forgetBefore: number) {
    return this.#write((ctx) => leases.claimNonce(ctx, nonce, forgetBefore));
  }

  getAccountUsage(accountId: number) {
    return usage.getAccountUsage(this.#ctx, accountId);
  }
  getServerUsage() {
    return usage.getServerUsage(this.#ctx);
  }
  countSharesByState() {
    return usage.countSharesByState(this.#ctx);
  }
  recomputeUsage() {
    return this.#consistentRead((ctx) => usage.recomputeUsage(ctx));
  }
  checkUsage() {
    return this.#consistentRead((ctx) => usage.checkUsage(ctx));
  }
  repairUsage(options: ActorOption = {}) {
    return this.#consistentRead((ctx) => usage.repairUsage(ctx, options.actor ?? null));
  }

  appendEvent(input: EventInput) {
    return this.#write((ctx) => events.appendEvent(ctx, input));
  }

  appendEvents(inputs: readonly EventInput[]) {
    return this.#write((ctx) => events.appendEvents(ctx, inputs));
  }
  listEvents(query?: EventQuery) {
    return events.listEvents(this.#ctx, query);
  }
  pruneEvents(before: number) {
    return this.#write((ctx) => events.pruneEvents(ctx, before));
  }

  snapshotUsage(at?: number) {
    return this.#write((ctx) => history.snapshotUsage(ctx, at ?? ctx.now()));
  }
  getUsageHistory(accountId: number, range?: TimeRange) {
    return history.getUsageHistory(this.#ctx, accountId, range);
  }
  getServerUsageHistory(range?: TimeRange) {
    return history.getServerUsageHistory(this.#ctx, range);
  }
  pruneUsageHistory(before: number) {
    return this.#write((ctx) => history.pruneUsageHistory(ctx, before));
  }

  async addTraffic(rows: readonly TrafficRow[]) {
    // Checked before the transaction, so an empty batch (nothing counted) costs nothing.
    const batch = traffic.trafficBatch(rows);
    if (batch.length > 0) await this.#write((ctx) => traffic.addTraffic(ctx, batch));
  }
  getTraffic(query: TrafficQuery) {
    return traffic.getTraffic(this.#ctx, query);
  }
  deleteTrafficBefore(hour: number) {
    return this.#write((ctx) => traffic.deleteTrafficBefore(ctx, hour));
  }

  getCrawlerState(name: string) {
    return history.getCrawlerState(this.#ctx, name);
  }
  saveCrawlerState(state: Omit<CrawlerState, 'updatedAt'>) {
    return this.#write((ctx) => history.saveCrawlerState(ctx, state));
  }
  recordCrawlerCycle(name: string, cycle: CrawlerCycle, keep?: number) {
    return this.#write((ctx) => history.recordCrawlerCycle(ctx, name, cycle, keep));
  }
  listCrawlerCycles(name: string) {
    return history.listCrawlerCycles(this.#ctx, name);
  }
  claimCrawler(name: string, holder: string, ttlSeconds: number) {
    return this.#write((ctx) => claims.claimCrawler(ctx, name, holder, ttlSeconds));
  }
  releaseCrawler(name: string, holder: string) {
    return this.#write((ctx) => claims.releaseCrawler(ctx, name, holder));
  }
  getCrawlerClaim(name: string) {
    return claims.getCrawlerClaim(this.#ctx, name);
  }

  recordRestore(input: RestoreInput) {
    return this.#write((ctx) => restores.recordRestore(ctx, input));
  }
  getLastRestore() {
    return restores.getLastRestore(this.#ctx);
  }

  heartbeatProcess(id: string, url: string | null) {
    return this.#write((ctx) => processes.heartbeatProcess(ctx, id, url));
  }
  removeProcess(id: string) {
    return this.#write((ctx) => processes.removeProcess(ctx, id));
  }
  listProcesses(query?: { aliveSince?: number }) {
    return processes.listProcesses(this.#ctx, query);
  }

  async withStorageIndexLock<T>(storageIndex: string, fn: () => Promise<T>): Promise<T> {
    assertStorageIndex(storageIndex);
    if (typeof fn !== 'function') throw new TypeError('fn must be a function');
    if (!this.#locks) return await fn();
    return await this.#locks.run(`/op/${storageIndex}`, fn);
  }

  async withAccountLock<T>(accountId: number, fn: () => Promise<T>): Promise<T> {
    assertAccountId(accountId);
    if (typeof fn !== 'function') throw new TypeError('fn must be a function');
    if (!this.#locks) return await fn();
    return await this.#locks.run(`/acct/${accountId}`, fn);
  }

  /**
   * Runs `fn` on the raw SQLite handle while holding kysely's connection, so no transaction of
   * this process is open (its uncommitted pages would be copied) or starts until it is done.
   */
  async #exclusiveSqlite<T>(fn: (raw: BetterSqlite3.Database) => T | Promise<T>): Promise<T> {
    const connection = this.#connection;
    if (connection?.dialect !== 'sqlite') {
      throw new LeaseDbError(
        'UNSUPPORTED',
        'file backups exist for SQLite only (use pg_dump for PostgreSQL)',
      );
    }
    return await connection.db.connection().execute(async () => await fn(connection.raw));
  }

  backup(): Promise<Uint8Array> {
    return this.#exclusiveSqlite((raw) => raw.serialize());
  }

  async backupToFile(path: string): Promise<void> {
    await this.#exclusiveSqlite((raw) => raw.backup(path));
  }

  async close(): Promise<void> {
    // kysely's destroy ends the pg pool or closes the SQLite handle.
    await this.#connection?.db.destroy();
    if (this.#connection?.dialect === 'sqlite') await this.#connection.wal?.close();
    await this.#locks?.close();
  }
}

/**
 * Opens (and by default migrates) a lease database on SQLite or PostgreSQL.
 *
 * @example
 * const db = await openLeaseDb({ dialect: 'sqlite', path: 'leasedb.sqlite' });
 */
export async function openLeaseDb(options: LeaseDbOptions): Promise<LeaseDb> {
  const policy = resolvePolicy(options.policy);
  const clock = options.now ?? systemNow;
  if (typeof clock !== 'function') {
    throw new TypeError('now must be a function returning Unix seconds');
  }
  if (options.groupCommit !== undefined && typeof options.groupCommit !== 'boolean') {
    throw new TypeError('groupCommit must be a boolean');
  }
  if (options.onCommit !== undefined && typeof options.onCommit !== 'function') {
    throw new TypeError('onCommit must be a function');
  }
  // An injected clock is checked on every read: a fractional or negative time must not reach SQL.
  const now = () => {
    const at = clock();
    if (!Number.isSafeInteger(at) || at < 0) {
      throw new RangeError(`the clock returned ${at}, not Unix seconds`);
    }
    return at;
  };

  const connection = connect(options);
  try {
    if (options.migrate ?? true) {
      const result: MigrationResultSet = await migrateLeaseDb(connection.db, connection.dialect);
      if (result.error) {
        throw new LeaseDbError('MIGRATION_FAILED', 'migrating the lease database failed', {
          cause: result.error,
          details: { results: result.results ?? [] },
        });
      }
    }
  } catch (error) {
    await connection.db.destroy();
    if (connection.dialect === 'postgres') await connection.lockPool.end();
    throw error;
  }
  return new SqlLeaseDb(
    { db: connection.db, dialect: connection.dialect, now, policy },
    connection,
    {
      groupCommit: options.groupCommit,
      onCommit: options.onCommit,
    },
  );
}
