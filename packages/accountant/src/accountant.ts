import {
  type AccountRow,
  type AccountStatus,
  ANONYMOUS_ACCOUNT_ID,
  type InvitationRow,
  LeaseDbError,
  MAX_INVITATION_USES,
  type QuotaInput,
  STARTER_ACCOUNT_ID,
  type TrafficCounts,
} from '@ostrom/leasedb';
import { ProtocolError, type SignedAccountRequest, verifyAccountRequest } from '@ostrom/protocol';
import { Account, abandonUpload, deleteShare } from './account.js';
import type { AccountListEntry } from './account-list.js';
import { changeAccount, createRecordedAccount } from './account-records.js';
import { Core, guard, translate, uploadKey } from './core.js';
import { directoryAccountId } from './directory-slots.js';
import { AccountantError } from './errors.js';
import {
  createInvitation,
  INVITATION_BUDGET,
  INVITED_BY_ACCOUNT,
  INVITED_BY_GRID_INVITATION,
  INVITED_BY_INVITATION,
  type InvitationInput,
  MAX_FAILED_REDEMPTIONS,
  requestWithGridInvitation,
  requestWithInvitation,
  requestWithMemberInvitation,
} from './invitations.js';
import {
  type AccountantOptions,
  type AccountingMode,
  type ApprovalMode,
  resolveOptions,
} from './options.js';
import type { RefusalReason } from './refusals.js';
import { SwissnumBook } from './swissnum.js';
import type { VersionInfo } from './types.js';
import { checkStorageIndex } from './validate.js';

/** What a client's signed account request gets. */
/** How an account joined: an operator's invitation, the grid's, or another account's. */
export type InvitedBy =
  | { readonly kind: 'operator'; readonly invitationId: number; readonly issuedBy: string | null }
  | { readonly kind: 'grid'; readonly invitationId: string }
  | { readonly kind: 'account'; readonly accountId: number; readonly nickname: string | null };

/** {@link Accountant.invitationChain}: an account's place in the chain of invitations. */
export interface AccountInvitations {
  readonly invitedBy: InvitedBy | null;
  /** The accounts it invited with invitations it signed, by id (at most 1,000). */
  readonly invited: readonly number[];
  /** How many it may invite here; null when no budget was given. */
  readonly invitationBudget: number | null;
}

export type AccountRequestOutcome =
  | { readonly status: 'active'; readonly account: AccountRow; readonly swissnum: string }
  | { readonly status: 'pending'; readonly account: AccountRow; readonly retryAfterSeconds: number }
  | { readonly status: 'refused'; readonly reason: string };

/** What one step of the background work did. */
export interface SweepResult {
  /** Uploads aborted for being idle past the timeout. */
  readonly uploadsTimedOut: number;
  /** COMING rows removed because the server process holding their upload died. */
  readonly deadUploadsReclaimed: number;
  /** Owner records of discarded uploads removed now, their first removal having failed. */
  readonly ownerRecordsForgotten: number;
  /** Leases of deleted accounts dropped, shares deleted because nobody else leased them. */
  readonly leasesDropped: number;
  readonly sharesDeleted: number;
  /** Share deletions that failed (the shares stay, and are retried next time). */
  readonly deleteFailures: number;
  /** (account, hour) traffic rows the sweep's flush added to the database (0 if it failed). */
  readonly trafficRowsWritten: number;
  /**
   * (account, hour) traffic entries still held in memory after the flush, for the next one: those
   * counted meanwhile, or all of them when the database was away.
   */
  readonly trafficEntriesHeld: number;
  /** Traffic rows past `trafficRetentionSeconds` deleted (retention runs once an hour at most). */
  readonly trafficRowsDeleted: number;
}

/** The server's identity and accounting policy, as clients may read it. */
export interface ServerPolicy {
  readonly serverId: string;
  readonly accountingMode: AccountingMode;
  readonly approval: ApprovalMode;
  readonly requestWindowSeconds: number;
  readonly leaseDurationSeconds: number;
  readonly minLeaseDurationSeconds: number;
  readonly maxLeaseDurationSeconds: number;
}

export interface OperatorOption {
  /** Who did it, for the activity log (an operator's name, `cli`, `panel`...). */
  readonly actor?: string | null;
}

export interface StatusChangeOption extends OperatorOption {
  /** Why, for the activity log and the digest (trimmed; at most 200 characters, no control characters). */
  readonly reason?: string;
}

const VERSION_CACHE_SECONDS = 5;
/** Traffic retention runs at most this often (accountant clock). */
const TRAFFIC_RETENTION_INTERVAL_SECONDS = 3600;
const DELETED_AT = 'deleted-at';
/** Set on an account whose request the operator refused: when (Unix seconds). */
export const REQUEST_REFUSED_AT = 'request-refused-at';

/**
 * The storage service of a node: owns the policy, the lease database and the backend, and hands
 * out Account facets through which every storage operation goes. Independent of HTTP.
 */
export class Accountant {
  readonly #core: Core;
  readonly #swissnums: SwissnumBook;
  #version: { info: VersionInfo; at: number; refreshing: boolean } | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #sweeping: Promise<SweepResult> | undefined;
  #stopped = false;
  /** When traffic retention last ran to completion (accountant clock). */
  #trafficPrunedAt: number | undefined;

  constructor(options: AccountantOptions) {
    this.#core = new Core(resolveOptions(options));
    this.#swissnums = new SwissnumBook(this.#core.options.serverSecret);
  }

  get mode() {
    return this.#core.options.mode;
  }

  get serverId(): string {
    return this.#core.options.serverId;
  }

  /**
   * Writes refused since this Accountant was made, by reason: every refusal, those whose
   * `write-refused` event the rate limit left out included (for a metric).
   */
  refusalCounts(): Readonly<Record<RefusalReason, number>> {
    return this.#core.refusals.counts();
  }

  /**
   * Adds the traffic counted since the last flush (per account and hour: README, "Traffic") to
   * the lease database, in one batch. The sweep and `stop()` call it. When the database is away
   * this throws UNAVAILABLE and keeps the counts, which the next flush writes with what is
   * counted meanwhile; only what was written is taken off, and flushes take turns, so nothing is
   * written twice.
   */
  async flushTraffic(): Promise<void> {
    await guard(() => this.#core.traffic.flush());
  }

  /**
   * Traffic dropped since this Accountant was made: counts for an (account, hour) that found the
   * meter full (`MAX_TRAFFIC_ENTRIES` held, the database away for a long time), for a metric.
   */
  trafficDropped(): Readonly<TrafficCounts> {
    return this.#core.traffic.dropped();
  }

  /**
   * Registers this process in the lease database and makes the database agree with the backend
   * after a restart: uploads never survive one (as in Tahoe, `_clean_incomplete`). Alone, the
   * process discards every upload in the store; beside live peers (server processes sharing the
   * database) it leaves theirs alone and discards only those of processes that died. Each
   * discarded upload's COMING row is removed — unless the share's bytes all made it before the
   * crash, in which case the row becomes STABLE and keeps its owner and lease. Then starts the
   * background sweep (every `intervalSeconds`, default 60; 0 for none, as in tests).
   */
  async start(options: { intervalSeconds?: number } = {}): Promise<void> {
    const core = this.#core;
    await guard(() => core.db.heartbeatProcess(core.options.processId, core.options.processUrl));
    // Before any request: the account the directory slots' writes are made as, with its quota.
    await directoryAccountId(core);
    const peers = await core.peers();
    const alone = peers.live.size === 0;
    if (alone) await guard(() => core.backend.discardUploads());
    await this.#reclaimDeadUploads(peers, { alone });
    const interval = options.intervalSeconds ?? 60;
    if (interval > 0) {
      this.#timer = setInterval(() => {
        this.sweep().catch(() => undefined);
      }, interval * 1000);
      this.#timer.unref();
    }
  }

  /**
   * Stops the sweep, aborts every upload in progress (freeing its space and rows), removes the
   * owner records whose removal failed before, and unregisters this process. Stopping again does
   * nothing.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sweeping?.catch(() => undefined);
    for (const upload of [...this.#core.uploads.values()]) {
      await this.#core.lock.run(upload.storageIndex, () => abandonUpload(this.#core, upload));
    }
    // Owner records still to remove live only in memory: a last try before they are forgotten.
    await this.#core.forgetOwnerRecordsLater();
    // So is the traffic not yet flushed: what the database will not take now is lost with it.
    await this.#core.traffic.flush().catch(() => undefined);
    await guard(() => this.#core.db.removeProcess(this.#core.options.processId));
  }

  /**
   * Removes the COMING rows of uploads that no live process holds: those of processes that died
   * (a previous life of this one included); `alone`, every row not held here, the store's
   * uploads being already discarded. Rows naming no process (written by others than an
   * Accountant) are only removed `alone`. A dead peer's bytes were in its memory or staged where
   * only it knew: what the backend can find of them is aborted, the rest waits for the next lone
   * start-up's `discardUploads`. Then forgets the dead processes.
   */
  async #reclaimDeadUploads(
    peers: Awaited<ReturnType<Core['peers']>>,
    { alone }: { alone: boolean },
  ): Promise<number> {
    const core = this.#core;
    let reclaimed = 0;
    for (const row of await guard(() => core.db.listComingShares())) {
      const owner = row.uploadProcess;
      if (owner === null ? !alone : peers.live.has(owner)) continue;
      const key = uploadKey(row.storageIndex, row.shnum);
      if (core.uploads.has(key)) continue;
      await core.lock.run(row.storageIndex, async () => {
        // An allocation of this process holds the lock from its row until its upload exists.
        if (core.uploads.has(key)) return;
        const current = await guard(() => core.db.getShare(row.storageIndex, row.shnum));
        if (current?.state !== 'coming' || current.uploadProcess !== owner) return;
        if (!alone) {
          await core.backend.abortUpload(row.storageIndex, row.shnum).catch(() => undefined);
        }
        const stored = await guard(() => core.backend.getShareMeta(row.storageIndex, row.shnum));
        if (stored?.sharetype === row.sharetype && stored.sizeBytes <= row.usedBytes) {
          await guard(() => core.db.markStable(row.storageIndex, row.shnum, stored.sizeBytes));
        } else {
          // The record first: if the store fails it, the row stays for the next sweep, so no
          // record is left without a row that leads back to it.
          await core.deleteOwnerRecordsNow(row.storageIndex, [row.shnum]);
          await guard(() => core.db.abortComing(row.storageIndex, row.shnum));
        }
        reclaimed++;
      });
    }
    for (const id of peers.dead) await guard(() => core.db.removeProcess(id));
    return reclaimed;
  }

  /**
   * Runs `fn` as the only writer of a storage index, taking turns with this Accountant's own
   * operations on it (and, on PostgreSQL, with every process sharing the database): for other
   * writers in the same process, such as the crawler.
   */
  exclusive<T>(storageIndex: string, fn: () => Promise<T>): Promise<T> {
    checkStorageIndex(storageIndex);
    return this.#core.lock.run(storageIndex, fn);
  }

  // ---------------------------------------------------------------------- facets

  /** The facet of an account by id (whatever its status: each operation checks it). */
  account(accountId: number): Account {
    if (!Number.isSafeInteger(accountId) || accountId < 0) {
      throw new RangeError('an account id is a non-negative integer');
    }
    return new Account(this.#core, accountId);
  }

  /**
   * The id of the account that anonymous writes to the directory slots are made as
   * (`directorySlots`), created at `start()` (or on first need); undefined when there is none:
   * no `directorySlots`, or a mode other than `required`.
   */
  async directoryAccountId(): Promise<number | undefined> {
    return await directoryAccountId(this.#core);
  }

  /** The anonymous account's facet: clients that present the node's ordinary NURL. */
  anonymous(): Account {
    return this.account(ANONYMOUS_ACCOUNT_ID);
  }

  /**
   * The facet a request's swissnum names, or undefined when the swissnum is not one of this
   * node's (the server answers 401). With accounting disabled only the anonymous one works.
   */
  accountForSwissnum(swissnum: string): Account | undefined {
    if (typeof swissnum !== 'string' || swissnum.length === 0 || swissnum.length > 64) {
      return undefined;
    }
    const accountId = this.#swissnums.accountIdFor(swissnum);
    if (accountId === undefined) return undefined;
    if (this.#core.options.mode === 'disabled' && accountId !== ANONYMOUS_ACCOUNT_ID) {
      return undefined;
    }
    if (accountId === STARTER_ACCOUNT_ID) return undefined;
    return this.account(accountId);
  }

  /** The swissnum of an account's NURL (the anonymous account's is the node's ordinary one). */
  swissnumFor(accountId: number): string {
    return this.#swissnums.swissnumFor(accountId);
  }

  /** Who this server is and how it grants accounts and leases (`GET /accounting/v1/server`). */
  serverInfo(): ServerPolicy {
    const { options } = this.#core;
    const policy = options.leaseDb.policy;
    return {
      serverId: options.serverId,
      accountingMode: options.mode,
      approval: options.approval,
      requestWindowSeconds: options.accountRequestWindowSeconds,
      leaseDurationSeconds: policy.leaseDurationSeconds,
      minLeaseDurationSeconds: options.minLeaseDurationSeconds,
      maxLeaseDurationSeconds: policy.maxLeaseDurationSeconds,
    };
  }

  // ---------------------------------------------------------------------- version

  /**
   * `GET /storage/v1/version`. Clients poll it every second as their liveness check with a 5 s
   * deadline (docs/TAHOE-COMPATIBILITY.md fact 3), so it answers from a cache refreshed in the
   * background.
   */
  async version(): Promise<VersionInfo> {
    const now = this.#core.now();
    const cached = this.#version;
    if (!cached) {
      const info = await this.#measureVersion();
      this.#version = { info, at: now, refreshing: false };
      return info;
    }
    if (now - cached.at >= VERSION_CACHE_SECONDS && !cached.refreshing) {
      cached.refreshing = true;
      this.refreshVersion().catch(() => {
        cached.refreshing = false;
      });
    }
    return cached.info;
  }

  /** Measures the version figures now and caches them. */
  async refreshVersion(): Promise<VersionInfo> {
    const info = await this.#measureVersion();
    this.#version = { info, at: this.#core.now(), refreshing: false };
    return info;
  }

  async #measureVersion(): Promise<VersionInfo> {
    const core = this.#core;
    const room = await core.room();
    return {
      // Tahoe reports the available space here; a client sends no larger share (fact 14).
      maximumImmutableShareSize: Math.min(room, core.backend.capabilities.maxShareBytes),
      maximumMutableShareSize: core.options.maxMutableShareBytes,
      availableSpace: room,
      applicationVersion: core.options.applicationVersion,
    };
  }

  // ---------------------------------------------------------------------- account requests

  /**
   * Handles a client's signed request for an account: the signature, this server's id, the
   * timestamp (within the window) and the nonce (never seen) are checked, in that order, and
   * refusals of that kind throw. Then a known key gets its account's state; an unknown key gets
   * a new account, active at once with automatic approval, pending with manual approval.
   *
   * With `invitation` (an invitation code's secret), an unknown key's account, or a pending one,
   * is active at once with the invitation's quotas, whatever the approval, and spends one of its
   * uses; a code that is unknown here, revoked, expired or spent is refused with the reason, and
   * past {@link MAX_FAILED_REDEMPTIONS} such refusals from one `source` in a while,
   * TOO_MANY_ATTEMPTS is thrown for that source.
   * With `gridInvitation` (a grid invitation's bytes) the same, when the embedder honours grid
   * invitations (`gridInvitations`); a malformed one is a ProtocolError.
   */
  async requestAccount(
    signed: SignedAccountRequest,
    {
      invitation,
      gridInvitation,
      memberInvitation,
      source = 'unknown',
    }: {
      invitation?: Uint8Array;
      gridInvitation?: Uint8Array;
      memberInvitation?: Uint8Array;
      /** Where the request came from (a client address), for the guessing bound. */
      source?: string;
    } = {},
  ): Promise<AccountRequestOutcome> {
    const core = this.#core;
    const { options } = core;
    if (options.mode === 'disabled') {
      return { status: 'refused', reason: 'accounting is disabled on this server' };
    }
    let request: ReturnType<typeof verifyAccountRequest>;
    try {
      request = verifyAccountRequest(signed);
    } catch (error) {
      if (error instanceof ProtocolError) {
        throw new AccountantError('INVALID_ACCOUNT_REQUEST', error.message, { cause: error });
      }
      throw error;
    }
    if (request.serverId !== options.serverId) {
      throw new AccountantError('WRONG_SERVER', 'the request names another server', {
        details: { serverId: request.serverId },
      });
    }
    const now = core.now();
    const window = options.accountRequestWindowSeconds;
    if (Math.abs(now - request.timestamp) > window) {
      throw new AccountantError(
        'STALE_REQUEST',
        `the request's timestamp is more than ${window} s from the server's clock`,
        { details: { timestamp: request.timestamp, now } },
      );
    }
    const nonce = Buffer.from(request.nonce).toString('hex');
    if (!(await guard(() => core.db.claimNonce(nonce, now - 2 * window)))) {
      throw new AccountantError('REPLAYED_REQUEST', 'this request was seen before');
    }

    let account = await guard(() => core.db.getAccountByPublicKey(request.publicKey));
    const from = { ...request, source };
    const invited =
      invitation !== undefined
        ? await requestWithInvitation(core, from, invitation, account)
        : gridInvitation !== undefined
          ? await requestWithGridInvitation(core, from, gridInvitation, account)
          : memberInvitation !== undefined
            ? await requestWithMemberInvitation(core, from, memberInvitation, account)
            : undefined;
    if (invited && 'refused' in invited) return { status: 'refused', reason: invited.refused };
    if (invited) account = invited.account;
    if (!account) {
      try {
        account = await createRecordedAccount(core, {
          publicKey: request.publicKey,
          nickname: request.nickname,
          status: options.approval === 'automatic' ? 'normal' : 'pending',
          hardQuotaBytes: options.defaultHardQuotaBytes,
          softQuotaBytes: options.defaultSoftQuotaBytes,
        });
      } catch (error) {
        // Two requests with one key raced; the other created the account.
        if (!(error instanceof LeaseDbError && error.code === 'ACCOUNT_EXISTS')) {
          throw translate(error);
        }
        account = await guard(() => core.db.getAccountByPublicKey(request.publicKey));
        if (!account) throw error;
      }
    }
    await core.touch(account.id);
    switch (account.status) {
      case 'normal':
      case 'frozen':
        return { status: 'active', account, swissnum: this.swissnumFor(account.id) };
      case 'pending':
        return { status: 'pending', account, retryAfterSeconds: options.pendingRetrySeconds };
      case 'disabled': {
        const attributes = await guard(() => core.db.getAccountAttributes(account.id));
        return {
          status: 'refused',
          reason:
            attributes[REQUEST_REFUSED_AT] === undefined
              ? 'this account is disabled'
              : "the operator refused this key's request for an account",
        };
      }
      case 'deleted':
        return { status: 'refused', reason: 'this account was deleted' };
    }
  }

  // ---------------------------------------------------------------------- operator actions

  /**
   * Issues an invitation: its row, and its secret, which only the caller ever sees (the
   * database keeps a hash); `formatInvitation({ secret, nurl })` of @ostrom/protocol makes the
   * code to hand out, with this server's NURL.
   */
  async createInvitation(
    input: InvitationInput,
  ): Promise<{ invitation: InvitationRow; secret: Uint8Array }> {
    return await createInvitation(this.#core, input);
  }

  /**
   * How many accounts account `accountId` may invite here with invitations signed by its own key
   * (`INVITATION_BUDGET`; 0 takes the right away). Accounts it invited count against it.
   */
  async setInvitationBudget(
    accountId: number,
    budget: number,
    options: OperatorOption = {},
  ): Promise<AccountRow> {
    if (!Number.isSafeInteger(budget) || budget < 0 || budget > MAX_INVITATION_USES) {
      throw new RangeError(`an invitation budget is 0 to ${MAX_INVITATION_USES}`);
    }
    return await changeAccount(this.#core, accountId, async (tx) => {
      await tx.setAccountAttribute(accountId, INVITATION_BUDGET, String(budget));
      await tx.appendEvent({
        kind: 'notice',
        accountId,
        actor: options.actor ?? null,
        data: { message: `invitation budget set to ${budget}` },
      });
      return (await tx.getAccount(accountId))!;
    });
  }

  /**
   * Where account `accountId` came from and whom it brought: the invitation it joined with (an
   * operator's, the grid's, or another account's), the accounts it invited with its own
   * invitations (at most 1,000, by id), and its invitation budget here (null: none given).
   */
  async invitationChain(accountId: number): Promise<AccountInvitations> {
    const core = this.#core;
    await core.loadAccount(accountId);
    const attributes = await guard(() => core.db.getAccountAttributes(accountId));
    const invited = await guard(() =>
      core.db.accountsWithAttribute(INVITED_BY_ACCOUNT, String(accountId), 1000),
    );
    const budget = attributes[INVITATION_BUDGET];
    return {
      invitedBy: await this.#invitedBy(attributes),
      invited,
      invitationBudget: budget === undefined ? null : Number(budget),
    };
  }

  async #invitedBy(attributes: Record<string, string>): Promise<InvitedBy | null> {
    const core = this.#core;
    const grid = attributes[INVITED_BY_GRID_INVITATION];
    if (grid !== undefined) return { kind: 'grid', invitationId: grid };
    const inviter = Number(attributes[INVITED_BY_ACCOUNT]);
    if (Number.isSafeInteger(inviter)) {
      const row = await guard(() => core.db.getAccount(inviter));
      return { kind: 'account', accountId: inviter, nickname: row?.nickname ?? null };
    }
    const invitationId = Number(attributes[INVITED_BY_INVITATION]);
    if (Number.isSafeInteger(invitationId)) {
      const row = await guard(() => core.db.getInvitation(invitationId));
      return { kind: 'operator', invitationId, issuedBy: row?.createdBy ?? null };
    }
    return null;
  }

  /**
   * Freezes an account and, following the chain, every account it invited (and they invited),
   * each with its own status change naming why; accounts frozen, disabled or deleted already
   * are left as they are and their invitees still followed. Returns the accounts it froze.
   */
  async freezeWithInvitees(
    accountId: number,
    options: StatusChangeOption = {},
  ): Promise<AccountRow[]> {
    const core = this.#core;
    const frozen: AccountRow[] = [];
    const seen = new Set<number>();
    const queue: { id: number; by: string | null }[] = [{ id: accountId, by: null }];
    while (queue.length > 0) {
      const { id, by } = queue.shift()!;
      if (seen.has(id)) continue;
      seen.add(id);
      const account = await core.loadAccount(id);
      if (account.status === 'normal') {
        const reason = by === null ? options.reason : `invited by ${by}, frozen with its inviter`;
        frozen.push(
          await this.setAccountStatus(id, 'frozen', {
            actor: options.actor ?? null,
            ...(reason === undefined ? {} : { reason }),
          }),
        );
      }
      const invitees = await guard(() =>
        core.db.accountsWithAttribute(INVITED_BY_ACCOUNT, String(id)),
      );
      for (const invitee of invitees) queue.push({ id: invitee, by: account.nickname });
    }
    return frozen;
  }

  /** Every invitation, newest first, with its uses and whether it was revoked. */
  async listInvitations(): Promise<InvitationRow[]> {
    return await guard(() => this.#core.db.listInvitations());
  }

  /** Revokes an invitation (again: no change). NOT_FOUND when there is no such invitation. */
  async revokeInvitation(id: number, options: OperatorOption = {}): Promise<InvitationRow> {
    const row = await guard(() => this.#core.db.revokeInvitation(id, options.actor ?? 'operator'));
    if (!row) throw new AccountantError('NOT_FOUND', `no invitation ${id}`);
    return row;
  }

  /** Creates an account for a key ahead of its request (an allow-list entry), normal at once. */
  async addAccount(
    input: {
      publicKey: Uint8Array | string;
      nickname: string;
      hardQuotaBytes?: number | null;
      softQuotaBytes?: number | null;
    },
    options: OperatorOption = {},
  ): Promise<AccountRow> {
    const defaults = this.#core.options;
    try {
      return await createRecordedAccount(this.#core, {
        publicKey: input.publicKey,
        nickname: input.nickname,
        hardQuotaBytes:
          input.hardQuotaBytes === undefined
            ? defaults.defaultHardQuotaBytes
            : input.hardQuotaBytes,
        softQuotaBytes:
          input.softQuotaBytes === undefined
            ? defaults.defaultSoftQuotaBytes
            : input.softQuotaBytes,
        actor: options.actor ?? null,
      });
    } catch (error) {
      if (error instanceof LeaseDbError && error.code === 'ACCOUNT_EXISTS') {
        throw new AccountantError('INVALID_OPERATION', error.message, { cause: error });
      }
      throw translate(error);
    }
  }

  /**
   * Adds an active account (default quotas) for each entry of an account list
   * ({@link parseAccountList}) whose key has none, in list order; keys with an account are left
   * as they are and answered under `existing`. Importing the same list again is harmless, so a
   * run cut short (a database failure) is finished by running it again.
   */
  async importAccounts(
    entries: readonly AccountListEntry[],
    options: OperatorOption = {},
  ): Promise<{ added: AccountRow[]; existing: AccountRow[] }> {
    const added: AccountRow[] = [];
    const existing: AccountRow[] = [];
    for (const { publicKey, nickname } of entries) {
      const known = await guard(() => this.#core.db.getAccountByPublicKey(publicKey));
      if (known) existing.push(known);
      else added.push(await this.addAccount({ publicKey, nickname }, options));
    }
    return { added, existing };
  }

  /**
   * Sets an account's status. `deleted` starts the grace period after which the deletion worker
   * drops the account's leases and deletes the shares nobody else keeps; any other status
   * before then cancels it. The anonymous and starter accounts cannot be deleted. A `reason`
   * is kept in the `account-status-changed` event (a malformed one is a TypeError, nothing set).
   */
  async setAccountStatus(
    accountId: number,
    status: AccountStatus,
    options: StatusChangeOption = {},
  ): Promise<AccountRow> {
    const core = this.#core;
    if (status === 'deleted' && accountId <= STARTER_ACCOUNT_ID) {
      throw new AccountantError('INVALID_OPERATION', 'the built-in accounts cannot be deleted');
    }
    if (status === 'pending') {
      throw new AccountantError('INVALID_OPERATION', 'only a request makes an account pending');
    }
    // The status, its deletion time and the account's record change together or not at all.
    return await changeAccount(core, accountId, async (tx) => {
      const before = await tx.getAccount(accountId);
      const after = await tx.setAccountStatus(accountId, status, {
        actor: options.actor ?? null,
        reason: options.reason,
      });
      if (status === 'deleted' && before?.status !== 'deleted') {
        await tx.setAccountAttribute(accountId, DELETED_AT, String(core.now()));
      } else if (status !== 'deleted' && before?.status === 'deleted') {
        await tx.setAccountAttribute(accountId, DELETED_AT, null);
      }
      // A refused request stays refused while its account stays disabled, and no longer.
      if (status !== 'disabled' && before?.status === 'disabled') {
        await tx.setAccountAttribute(accountId, REQUEST_REFUSED_AT, null);
      }
      return after;
    });
  }

  /** Approves a pending account (→ normal). INVALID_OPERATION if it is not pending. */
  async approveAccount(accountId: number, options: OperatorOption = {}): Promise<AccountRow> {
    const account = await this.#core.loadAccount(accountId);
    if (account.status !== 'pending') {
      throw new AccountantError('INVALID_OPERATION', `account ${accountId} is not pending`, {
        details: { status: account.status },
      });
    }
    return await this.setAccountStatus(accountId, 'normal', options);
  }

  /**
   * Refuses a pending account's request. The account becomes `disabled` and is marked refused
   * (the `request-refused-at` attribute): its key stays known, so asking again is answered
   * "refused" at once instead of queueing a new request, and the operator's `reason` is kept in
   * the `account-status-changed` event (the client is not told it). Enabling the account later
   * (status `normal`) admits it after all. INVALID_OPERATION if it is not pending.
   */
  async refuseAccount(accountId: number, options: StatusChangeOption = {}): Promise<AccountRow> {
    const core = this.#core;
    return await changeAccount(core, accountId, async (tx) => {
      const before = await tx.getAccount(accountId);
      if (before?.status !== 'pending') {
        throw new AccountantError('INVALID_OPERATION', `account ${accountId} is not pending`, {
          details: { status: before?.status },
        });
      }
      const after = await tx.setAccountStatus(accountId, 'disabled', {
        actor: options.actor ?? null,
        reason: options.reason,
      });
      await tx.setAccountAttribute(accountId, REQUEST_REFUSED_AT, String(core.now()));
      return after;
    });
  }

  /**
   * Gives an account another nickname (kept in an `account-nickname-changed` event). The
   * built-in anonymous and starter accounts keep theirs: the node's pages and logs explain them
   * by those names. A malformed nickname is a TypeError, nothing changed.
   */
  async renameAccount(
    accountId: number,
    nickname: string,
    options: OperatorOption = {},
  ): Promise<AccountRow> {
    if (accountId <= STARTER_ACCOUNT_ID) {
      throw new AccountantError('INVALID_OPERATION', 'the built-in accounts cannot be renamed');
    }
    return await changeAccount(this.#core, accountId, async (tx) => {
      const before = await tx.getAccount(accountId);
      if (before?.nickname === nickname) return before;
      return await tx.setAccountNickname(accountId, nickname, { actor: options.actor ?? null });
    });
  }

  /** Sets both quota limits (null = none), named as the lease database and the wire name them. */
  async setAccountQuota(
    accountId: number,
    quota: QuotaInput,
    options: OperatorOption = {},
  ): Promise<AccountRow> {
    return await changeAccount(this.#core, accountId, (tx) =>
      tx.setAccountQuota(
        accountId,
        { hardQuotaBytes: quota.hardQuotaBytes, softQuotaBytes: quota.softQuotaBytes },
        { actor: options.actor ?? null },
      ),
    );
  }

  // ---------------------------------------------------------------------- background work

  /**
   * One step of the background work: aborts uploads idle past the timeout (Tahoe: 30 minutes)
   * and runs one batch of the deletion worker. The timer calls it; tests call it with a clock.
   */
  async sweep(): Promise<SweepResult> {
    if (this.#sweeping) return await this.#sweeping;
    this.#sweeping = this.#sweep();
    try {
      return await this.#sweeping;
    } finally {
      this.#sweeping = undefined;
    }
  }

  async #sweep(): Promise<SweepResult> {
    const core = this.#core;
    await guard(() => core.db.heartbeatProcess(core.options.processId, core.options.processUrl));
    const deadUploadsReclaimed = await this.#reclaimDeadUploads(await core.peers(), {
      alone: false,
    });
    const cutoff = core.now() - core.options.uploadTimeoutSeconds;
    let uploadsTimedOut = 0;
    for (const upload of [...core.uploads.values()]) {
      if (upload.lastActivityAt > cutoff) continue;
      await core.lock.run(upload.storageIndex, async () => {
        // A chunk may have arrived while this waited for the lock.
        if (upload.lastActivityAt > cutoff) return;
        await abandonUpload(core, upload);
        uploadsTimedOut++;
      });
    }
    const ownerRecordsForgotten = await core.forgetOwnerRecordsLater();
    const deletion = await this.#deleteBatch();
    return {
      uploadsTimedOut,
      deadUploadsReclaimed,
      ownerRecordsForgotten,
      ...deletion,
      ...(await this.#trafficStep()),
    };
  }

  /**
   * Flushes the traffic counted and, once an hour, deletes the rows past their retention. Both
   * are bookkeeping: a failure is left for the next sweep (the counts are kept) and fails
   * nothing else.
   */
  async #trafficStep() {
    const core = this.#core;
    const trafficRowsWritten = await core.traffic.flush().catch(() => 0);
    let trafficRowsDeleted = 0;
    const now = core.now();
    const prunedAt = this.#trafficPrunedAt;
    if (prunedAt === undefined || now - prunedAt >= TRAFFIC_RETENTION_INTERVAL_SECONDS) {
      try {
        const before = Math.max(0, now - core.options.trafficRetentionSeconds);
        trafficRowsDeleted = await core.db.deleteTrafficBefore(before);
        this.#trafficPrunedAt = now;
      } catch {
        // Not pruned: the next sweep tries again.
      }
    }
    return { trafficRowsWritten, trafficEntriesHeld: core.traffic.entries, trafficRowsDeleted };
  }

  /** Drops one batch of leases of accounts deleted longer than the grace period ago. */
  async #deleteBatch() {
    const core = this.#core;
    const result = { leasesDropped: 0, sharesDeleted: 0, deleteFailures: 0 };
    const page = await guard(() =>
      core.db.listAccounts({ status: 'deleted', orderBy: 'id', limit: 1000 }),
    );
    let budget = core.options.deletionBatchSize;
    for (const account of page.accounts) {
      if (budget <= 0) break;
      const attributes = await guard(() => core.db.getAccountAttributes(account.id));
      const deletedAt = Number(attributes[DELETED_AT] ?? 0);
      if (core.now() < deletedAt + core.options.deletionGraceSeconds) continue;
      if (account.usage.shares === 0) continue;
      const dropped = await guard(() =>
        core.db.dropAccountLeases(account.id, budget, { actor: 'server' }),
      );
      budget -= dropped.length;
      result.leasesDropped += dropped.length;
      for (const lease of dropped) {
        if (lease.remainingLeases > 0) continue;
        try {
          await core.lock.run(lease.storageIndex, async () => {
            const row = await guard(() => core.db.getShare(lease.storageIndex, lease.shnum));
            if (row?.state !== 'stable') return;
            const leases = await guard(() => core.db.listLeases(lease.storageIndex, lease.shnum));
            if (leases.length > 0) return; // leased again meanwhile: keep it
            await deleteShare(core, lease.storageIndex, lease.shnum, row, 'server');
            result.sharesDeleted++;
          });
        } catch {
          // The share stays STABLE and unleased; the crawler's deletion queue retries it.
          result.deleteFailures++;
        }
      }
    }
    return result;
  }
}
