import { BackendError, type EmbeddedLease, type ShareInfo } from '@ostrom/backend';
import {
  type AccountRow,
  type ActivityEvent,
  hashLeaseSecret,
  LeaseDbError,
  type Share,
  type TrafficCounts,
} from '@ostrom/leasedb';
import { changeAccount } from './account-records.js';
import {
  type Core,
  guard,
  isSharedAccount,
  permits,
  sameSecret,
  translate,
  type Upload,
  uploadKey,
} from './core.js';
import { directoryWriterFor } from './directory-slots.js';
import { AccountantError } from './errors.js';
import { predictMutableLength } from './mutable.js';
import type {
  AccountReadTestWriteOptions,
  AccountSummary,
  AllocateOptions,
  AllocateResult,
  LeaseSecrets,
  ReadTestWriteAdmission,
  ReadTestWriteResult,
  ShareRead,
  ShareStream,
  ShareType,
  UploadWriteResult,
} from './types.js';
import type { RequestContext } from './upload-bounds.js';
import {
  checkAllocateOptions,
  checkLeaseSecrets,
  checkReadTestWrite,
  checkShnum,
  checkStorageIndex,
  checkUploadSecret,
} from './validate.js';

/**
 * One client's facet of the storage service (Tahoe's "Account implements RIStorageServer"):
 * every storage operation goes through an account, which binds its owner into every lease and
 * is checked against the account's status on every call. Obtain one from the Accountant.
 * Operations follow Tahoe-LAFS's storage server exactly (`storage/server.py`, `immutable.py`,
 * `mutable.py`, `http_server.py`); where they differ, a comment says why.
 */
export class Account {
  readonly #core: Core;
  readonly id: number;

  /** @internal Use `Accountant.account(id)` or `Accountant.accountForSwissnum()`. */
  constructor(core: Core, id: number) {
    this.#core = core;
    this.id = id;
  }

  /** The account's row as it is now (status, quotas, nickname). */
  async row(): Promise<AccountRow> {
    return await this.#core.loadAccount(this.id);
  }

  // ---------------------------------------------------------------------- immutable shares

  /**
   * Allocates shares of an immutable upload. `alreadyHave` lists every share held for the
   * storage index (each gets this account's lease added or renewed); a requested share that is
   * held or being uploaded by anyone is in neither list; the others are allocated while their
   * size fits the room left (checked share by share, as Tahoe does). A hard quota that the
   * allocation would pass refuses the whole request with QUOTA_EXCEEDED; so does a bound on
   * uploads in progress, with UPLOAD_LIMIT: this process's, the account's, and, when `context`
   * names the connection the request came on, the connection's (and the bytes the anonymous
   * account's uploads reserve through it).
   */
  async allocate(
    storageIndex: string,
    request: AllocateOptions,
    context: RequestContext = {},
  ): Promise<AllocateResult> {
    checkStorageIndex(storageIndex);
    checkAllocateOptions(request);
    const core = this.#core;
    const connection = core.uploadBounds.connectionKey(context.connection);
    const requested = new Set(request.shareNumbers).size * request.allocatedSize;
    const account = await core.authorizeWrite(this.id, 'allocate', requested);
    const duration = await core.leaseDurationFor(this.id);
    return await core.lock.run(storageIndex, async () => {
      const held = (await guard(() => core.backend.listShares(storageIndex))).map((s) => s.shnum);
      const rows = await guard(() => core.db.listShares(storageIndex));
      await this.#adoptUnknown(storageIndex, held, rows);
      const heldSet = new Set(held);
      const rowSet = new Set(rows.map((row) => row.shnum));

      const maxShare = core.backend.capabilities.maxShareBytes;
      let room = request.allocatedSize <= maxShare ? await core.room() : 0;
      const allocated: number[] = [];
      for (const shnum of [...new Set(request.shareNumbers)].sort((a, b) => a - b)) {
        // A row without a stored share is an upload (COMING) or a deletion (GOING) elsewhere.
        if (heldSet.has(shnum) || rowSet.has(shnum)) continue;
        if (core.uploads.has(uploadKey(storageIndex, shnum))) continue;
        if (request.allocatedSize > room) continue;
        room -= request.allocatedSize;
        allocated.push(shnum);
      }

      // Refused whole past a bound on uploads in progress, before anything is written. Once
      // admitted, the new uploads count as in progress (for allocations of other indexes,
      // which run meanwhile) until they are registered or the allocation failed.
      const release =
        allocated.length === 0
          ? () => undefined
          : core.uploadBounds.admit(core.uploads.values(), {
              accountId: this.id,
              connection,
              shares: allocated.length,
              bytesEach: request.allocatedSize,
            });
      if (allocated.length === 0) {
        await this.#renewHeld(storageIndex, held, request, duration);
        return { alreadyHave: held, allocated };
      }
      let before: Awaited<ReturnType<typeof core.usageBeforeGrowth>>;
      const registered: Upload[] = [];
      try {
        // The new shares first, then the leases on the held ones (Tahoe's alreadyHave): a refusal
        // (the quota, a bound) must leave everything as it was, leases included. So the quota
        // counts the bytes this allocation stores, not the held shares it leases, as adding a
        // lease never counts against it.
        before = await core.recordingRefusals(this.id, 'allocate', () =>
          this.#createUploads(storageIndex, request, allocated, account, duration),
        );
        for (const shnum of allocated) {
          const upload: Upload = {
            storageIndex,
            shnum,
            accountId: this.id,
            uploadSecret: Uint8Array.from(request.uploadSecret),
            allocatedSize: request.allocatedSize,
            connection,
            lastActivityAt: core.now(),
          };
          core.uploads.set(uploadKey(storageIndex, shnum), upload);
          registered.push(upload);
        }
        await this.#renewHeld(storageIndex, held, request, duration);
      } catch (error) {
        // Only the renewals can fail once uploads are registered: give the new ones back.
        for (const upload of registered) await abandonUpload(core, upload).catch(() => undefined);
        throw error;
      } finally {
        release();
      }
      await core.warnOnSoftQuota(account, before);
      return { alreadyHave: held, allocated };
    });
  }

  /**
   * The allocation's COMING rows (quota checked), owner records and backend uploads, all or none
   * (a failure undoes what was made and throws). Returns the usage before, for the soft quota.
   */
  async #createUploads(
    storageIndex: string,
    request: AllocateOptions,
    allocated: readonly number[],
    account: AccountRow,
    duration: number,
  ): Promise<Awaited<ReturnType<Core['usageBeforeGrowth']>>> {
    const core = this.#core;
    const before = await core.usageBeforeGrowth(account);
    // The database first: a crash after this leaves COMING rows, which start-up removes;
    // the other order could leave stored bytes that nobody is charged for. The database
    // checks the quota under the account's row lock; the account lock keeps the check from
    // landing between another process's mutable-growth check and the write it allowed, and
    // covers the check of a quota the row does not hold (the anonymous account's default).
    await core.quotaExclusive(account, async () => {
      await core.checkQuotaOutsideRow(account, allocated.length * request.allocatedSize);
      await guard(() =>
        core.db.addComingShares({
          storageIndex,
          sharetype: 'immutable',
          accountId: this.id,
          shares: allocated.map((shnum) => ({ shnum, usedBytes: request.allocatedSize })),
          renewSecret: request.renewSecret,
          cancelSecret: request.cancelSecret,
          leaseDurationSeconds: duration,
          uploadProcess: core.options.processId,
        }),
      );
    });
    const leases = [embeddedLease(request, 0, core.now() + duration)];
    const created: number[] = [];
    try {
      await core.writeOwnerRecords(storageIndex, allocated, account, 'immutable');
      for (const shnum of allocated) {
        await guard(() =>
          core.backend.createUpload(storageIndex, shnum, request.allocatedSize, { leases }),
        );
        created.push(shnum);
      }
    } catch (error) {
      for (const shnum of created) {
        await core.backend.abortUpload(storageIndex, shnum).catch(() => undefined);
      }
      await core.deleteOwnerRecords(storageIndex, allocated);
      for (const shnum of allocated) {
        await core.db.abortComing(storageIndex, shnum).catch(() => undefined);
      }
      throw error;
    }
    return before;
  }

  /**
   * Writes a chunk of an upload this account allocated (another account's is NOT_FOUND, as if
   * there were none; the account must still be allowed to write). Chunks come in any order;
   * overlapping bytes must be equal (CONFLICT otherwise, nothing written). The chunk that
   * completes the share makes it durable and visible and records it as stored before this
   * returns. Traffic: a chunk taken counts its bytes in, the completing one an upload too.
   */
  async writeUpload(
    storageIndex: string,
    shnum: number,
    uploadSecret: Uint8Array,
    offset: number,
    data: Uint8Array,
  ): Promise<UploadWriteResult> {
    checkStorageIndex(storageIndex);
    checkShnum(shnum);
    checkUploadSecret(uploadSecret);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError('offset must be ≥ 0');
    const core = this.#core;
    // Every chunk, the completing one included, comes through the allocating account (#upload),
    // so this is that account's status: once frozen, disabled or deleted it stores no more.
    await core.authorizeWrite(this.id, 'write', data.length);
    const upload = await this.#upload(storageIndex, shnum, uploadSecret);
    checkChunkFits(upload, offset, data.length);
    upload.lastActivityAt = core.now();
    const result = await core.lock.run(storageIndex, async (): Promise<UploadWriteResult> => {
      // The upload may have been aborted or timed out while this chunk waited for the lock.
      if (core.uploads.get(uploadKey(storageIndex, shnum)) !== upload) {
        throw new AccountantError('NOT_FOUND', `no upload of ${storageIndex}/${shnum}`);
      }
      if (upload.stored) {
        // An earlier chunk completed the share but was answered 503: this one, sent again, must
        // be what the store holds, and it is answered as the completing chunk once recorded.
        const held = await guard(() =>
          core.backend.readShare(storageIndex, shnum, offset, data.length),
        );
        if (Buffer.compare(Buffer.from(held), Buffer.from(data)) !== 0) {
          throw new AccountantError(
            'CONFLICT',
            `the chunk differs from the bytes already stored in ${storageIndex}/${shnum}`,
          );
        }
        await recordStored(core, upload);
        return { complete: true, required: [] };
      }
      const progress = await guard(() =>
        core.backend.writeUpload(storageIndex, shnum, offset, data),
      );
      upload.lastActivityAt = core.now();
      if (progress.complete) {
        upload.stored = true;
        await recordStored(core, upload);
      }
      return { complete: progress.complete, required: progress.missing };
    });
    // Counted once the chunk is answered as taken: a completing chunk whose share could not be
    // recorded (the database away) counts nothing, and counts when it is sent again and taken.
    core.traffic.count(this.id, { uploads: result.complete ? 1 : 0, bytesIn: data.length });
    return result;
  }

  /**
   * Whether a chunk of `length` bytes at `offset` of this upload would be taken, without writing
   * anything: what `writeUpload` checks before it writes (the account may write, the upload is
   * this account's with this secret, the chunk fits the allocation), so that a server refuses a
   * chunk on its headers, before reading a byte of its body. Throws as `writeUpload` does
   * (FORBIDDEN, NOT_FOUND, UPLOAD_ELSEWHERE, BAD_UPLOAD_SECRET, OUT_OF_RANGE). Each write checks
   * again: the upload may end meanwhile.
   */
  async admitUpload(
    storageIndex: string,
    shnum: number,
    uploadSecret: Uint8Array,
    chunk: { readonly offset: number; readonly length: number },
  ): Promise<void> {
    checkStorageIndex(storageIndex);
    checkShnum(shnum);
    checkUploadSecret(uploadSecret);
    if (!Number.isSafeInteger(chunk.offset) || chunk.offset < 0) {
      throw new RangeError('offset must be ≥ 0');
    }
    if (!Number.isSafeInteger(chunk.length) || chunk.length < 0) {
      throw new RangeError('length must be ≥ 0');
    }
    await this.#core.authorizeWrite(this.id, 'write', chunk.length);
    const upload = await this.#upload(storageIndex, shnum, uploadSecret);
    checkChunkFits(upload, chunk.offset, chunk.length);
  }

  /**
   * Abandons an upload this account allocated (Tahoe: `PUT .../abort`). ALREADY_COMPLETE when
   * the share is stored, NOT_FOUND when this account has no upload of it (another account's
   * included), BAD_UPLOAD_SECRET for another secret. Allowed whatever the account's status
   * except pending: aborting only gives back space the account itself reserved, so a frozen,
   * disabled or deleted account may still release it rather than hold it until the timeout.
   */
  async abortUpload(storageIndex: string, shnum: number, uploadSecret: Uint8Array): Promise<void> {
    checkStorageIndex(storageIndex);
    checkShnum(shnum);
    checkUploadSecret(uploadSecret);
    const core = this.#core;
    const account = await core.authorize(this.id, 'release');
    await core.lock.run(storageIndex, async () => {
      const upload = core.uploads.get(uploadKey(storageIndex, shnum));
      if (upload?.accountId !== this.id) {
        if (!upload) await core.throwIfUploadElsewhere(storageIndex, shnum, this.id);
        // Whether a share is stored is for accounts that may read to learn.
        const stored =
          upload === undefined && permits(account.status, 'read')
            ? await guard(() => core.backend.statShare(storageIndex, shnum))
            : undefined;
        if (stored?.sharetype === 'immutable') {
          throw new AccountantError('ALREADY_COMPLETE', `${storageIndex}/${shnum} is complete`);
        }
        throw new AccountantError('NOT_FOUND', `no upload of ${storageIndex}/${shnum}`);
      }
      if (!sameSecret(upload.uploadSecret, uploadSecret)) {
        throw new AccountantError('BAD_UPLOAD_SECRET', 'wrong upload secret');
      }
      await abandonUpload(core, upload);
    });
  }

  // ---------------------------------------------------------------------- reads

  /** Share numbers of the storage index's complete shares of one type; [] for an unknown index. */
  async listShares(sharetype: ShareType, storageIndex: string): Promise<number[]> {
    checkStorageIndex(storageIndex);
    await this.#core.authorize(this.id, 'read');
    return (await this.#shares(storageIndex, sharetype)).map((share) => share.shnum);
  }

  /**
   * Reads `length` bytes from `offset` of a share (the whole share without a range), truncated
   * at its end. NOT_FOUND when there is no share of that type. Traffic: a read, and the bytes
   * returned out.
   */
  async readShare(
    sharetype: ShareType,
    storageIndex: string,
    shnum: number,
    range?: { readonly offset: number; readonly length: number },
  ): Promise<ShareRead> {
    checkReadTarget(storageIndex, shnum, range);
    const core = this.#core;
    await core.authorize(this.id, 'read');
    const meta = await guard(() => core.backend.statShare(storageIndex, shnum));
    if (meta?.sharetype !== sharetype) {
      throw new AccountantError('NOT_FOUND', `no ${sharetype} share ${storageIndex}/${shnum}`);
    }
    const offset = range?.offset ?? 0;
    const length = Math.min(range?.length ?? meta.sizeBytes, Math.max(0, meta.sizeBytes - offset));
    const data =
      length === 0
        ? new Uint8Array(0)
        : await guard(() => core.backend.readShare(storageIndex, shnum, offset, length));
    core.traffic.count(this.id, { reads: 1, bytesOut: data.length });
    return { data, sizeBytes: meta.sizeBytes };
  }

  /**
   * Opens `length` bytes from `offset` of a share (the whole share without a range), truncated at
   * its end, to be read in pieces: a server sends a large share this way without holding it in
   * memory. Every piece comes from the version of the share open now (a mutable rewrite or a
   * deletion meanwhile makes a later piece fail, CONFLICT or NOT_FOUND, never mixes versions).
   * NOT_FOUND when there is no share of that type. The caller must `close` the stream.
   * Traffic: a read once open, and each piece's bytes out as it is handed out.
   */
  async openShareRead(
    sharetype: ShareType,
    storageIndex: string,
    shnum: number,
    range?: { readonly offset: number; readonly length: number },
  ): Promise<ShareStream> {
    checkReadTarget(storageIndex, shnum, range);
    const core = this.#core;
    await core.authorize(this.id, 'read');
    const reader = await guard(() => core.backend.openShareReader(storageIndex, shnum));
    if (reader?.info.sharetype !== sharetype) {
      await reader?.close().catch(() => undefined);
      throw new AccountantError('NOT_FOUND', `no ${sharetype} share ${storageIndex}/${shnum}`);
    }
    const { sizeBytes } = reader.info;
    const offset = range?.offset ?? 0;
    const length = Math.min(range?.length ?? sizeBytes, Math.max(0, sizeBytes - offset));
    let position = offset;
    const end = offset + length;
    // The read is answered once the share is open; its bytes count as they are handed out, so
    // a client that goes away half-way is counted what it was given.
    const accountId = this.id;
    core.traffic.count(accountId, { reads: 1 });
    return {
      sizeBytes,
      length,
      async next(maxBytes) {
        if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
          throw new RangeError('maxBytes must be a positive integer');
        }
        if (position >= end) return undefined;
        const want = Math.min(maxBytes, end - position);
        const piece = await guard(() => reader.read(position, want));
        // The version read is the one opened, whose size was known: a shorter piece is a store
        // that lost bytes under the reader, not the end of the share.
        if (piece.length !== want) {
          throw new AccountantError('UNAVAILABLE', `share ${storageIndex}/${shnum} read short`);
        }
        position += want;
        core.traffic.count(accountId, { bytesOut: piece.length });
        return piece;
      },
      close: () => reader.close().catch(() => undefined),
    };
  }

  /**
   * Records a client's report that a share is corrupt, as a `share-corrupt` event. Only for
   * shares this server holds (Tahoe #3824): NOT_FOUND otherwise. Any reader may send these, so
   * what is kept is bounded: a reason longer than {@link MAX_ADVISORY_REASON_CHARS} characters is
   * cut (the cut marked), and within any `advisoryWindowSeconds` an account's reports are kept
   * for at most `advisoriesPerShare` of one share and `advisoriesPerAccount` in all; the first
   * report past the account's bound leaves one `notice` saying further ones are dropped. A
   * report not kept is answered the same (fact 37 in docs/TAHOE-COMPATIBILITY.md: Tahoe answers
   * 200 and its client must not see an error for it).
   */
  async adviseCorrupt(
    sharetype: ShareType,
    storageIndex: string,
    shnum: number,
    reason: string,
  ): Promise<void> {
    checkStorageIndex(storageIndex);
    checkShnum(shnum);
    if (typeof reason !== 'string') throw new TypeError('reason must be a string');
    const core = this.#core;
    await core.authorize(this.id, 'read');
    const meta = await guard(() => core.backend.statShare(storageIndex, shnum));
    if (meta?.sharetype !== sharetype) {
      throw new AccountantError('NOT_FOUND', `no ${sharetype} share ${storageIndex}/${shnum}`);
    }
    const clipped = clipReason(reason);
    await core.advisoryLock.run(String(this.id), async () => {
      const { options } = core;
      const at = core.now();
      // The window is the last `advisoryWindowSeconds` seconds: a report that old has left it.
      const since = Math.max(0, at - options.advisoryWindowSeconds + 1);
      const recent = await recentAdvisories(core, this.id, since);
      if (recent.kept >= options.advisoriesPerAccount) {
        if (recent.dropNoted) return;
        // One notice per window at most: the next one is written only once the kept reports
        // that filled this window have left it.
        await guard(() =>
          core.db.appendEvent({
            kind: 'notice',
            accountId: this.id,
            actor: 'server',
            storageIndex,
            shnum,
            at,
            data: {
              [DROPPED_ADVISORIES]: 'share-corrupt',
              advisoriesPerAccount: options.advisoriesPerAccount,
              windowSeconds: options.advisoryWindowSeconds,
            },
          }),
        );
        return;
      }
      if ((recent.byShare.get(shareKey(storageIndex, shnum)) ?? 0) >= options.advisoriesPerShare) {
        return; // the share's first reports in the window are kept; repeats add nothing
      }
      await guard(() =>
        core.db.appendEvent({
          kind: 'share-corrupt',
          accountId: this.id,
          storageIndex,
          shnum,
          at,
          data: {
            sharetype,
            reason: clipped.reason,
            reportedBy: 'client',
            ...(clipped.cut ? { reasonChars: clipped.chars } : {}),
          },
        }),
      );
    });
  }

  // ---------------------------------------------------------------------- leases

  /**
   * Adds this account's lease to every share of the storage index, mutable and immutable, or
   * renews it (never shortening it). NOT_FOUND when the server holds no share of the index.
   *
   * The shares are those the database holds as stored, when it holds any: renewals are most of
   * a grid's small requests, and listing the store for each costs more than the rest of one. A
   * share the store has and the database lacks beside them (written outside this server) is
   * adopted by the crawler, unleased, and leased at the next renewal; one the database lists and
   * the store lost is renewed until the crawler finds it gone. Only an index the database knows
   * nothing of is looked up in the store, and its shares adopted now.
   *
   * So the common case is one database write, without the storage index's lock: the lock keeps
   * the store and the database in step, and leasing the shares the database holds as stored
   * changes neither the store nor which shares are stored (its transaction locks the index in
   * the database, against a deletion). Only when that leased nothing is the lock taken and the
   * store consulted.
   */
  async addOrRenewLease(storageIndex: string, secrets: LeaseSecrets): Promise<void> {
    checkStorageIndex(storageIndex);
    checkLeaseSecrets(secrets);
    const writer = await this.#writer(storageIndex);
    if (writer !== this) return await writer.addOrRenewLease(storageIndex, secrets);
    const core = this.#core;
    const account = await core.authorizeWrite(this.id, 'lease');
    const duration = await core.leaseDurationFor(this.id);
    const before = await core.usageBeforeGrowth(account);
    const leased = await guard(() =>
      core.db.addOrRenewLeases({
        storageIndex,
        accountId: this.id,
        renewSecret: secrets.renewSecret,
        cancelSecret: secrets.cancelSecret,
        durationSeconds: duration,
        stableOnly: true,
      }),
    );
    if (leased.added + leased.renewed > 0) {
      await core.warnOnSoftQuota(account, before);
      return;
    }
    await core.lock.run(storageIndex, async () => {
      const rows = await guard(() => core.db.listShares(storageIndex));
      let held = rows.filter((row) => row.state === 'stable').map((row) => row.shnum);
      if (held.length === 0) {
        held = (await guard(() => core.backend.listShares(storageIndex))).map((s) => s.shnum);
        await this.#adoptUnknown(storageIndex, held, rows);
      }
      if (held.length === 0) {
        throw new AccountantError('NOT_FOUND', `no share of ${storageIndex} here`);
      }
      await this.#renewHeld(storageIndex, held, secrets, duration);
      await core.warnOnSoftQuota(account, before);
    });
  }

  // ---------------------------------------------------------------------- mutable shares

  /**
   * What a read-test-write of this account may be, decided before its body is read, so that a
   * server refuses a body it would refuse anyway without reading it: FORBIDDEN when the account
   * may not even read; `mayWrite` false when it may only read (frozen, or anonymous in mode
   * `required`: only read vectors, a small body); with `writeEnabler`, for an account that may
   * write, BAD_WRITE_ENABLER when an existing mutable share of the index has another one (fact
   * 40 in docs/TAHOE-COMPATIBILITY.md: a mismatch refuses any request, reads included). Nothing
   * is locked: `readTestWrite` checks all of it again.
   */
  async admitReadTestWrite(
    storageIndex: string,
    writeEnabler?: Uint8Array,
  ): Promise<ReadTestWriteAdmission> {
    checkStorageIndex(storageIndex);
    const writer = await this.#writer(storageIndex);
    if (writer !== this) return await writer.admitReadTestWrite(storageIndex, writeEnabler);
    const core = this.#core;
    let mayWrite = true;
    try {
      // Not a refused write (the body may hold only reads): `readTestWrite` records one.
      await core.authorize(this.id, 'write');
    } catch (error) {
      if (!(error instanceof AccountantError && error.code === 'FORBIDDEN')) throw error;
      await core.authorize(this.id, 'read');
      mayWrite = false;
    }
    // An account that may only read sends a small body, read whole and judged as before: a write
    // in it is FORBIDDEN before the write enabler is looked at, as `readTestWrite` does.
    if (writeEnabler !== undefined && mayWrite) {
      const shares = await this.#shares(storageIndex, 'mutable');
      for (const share of shares) {
        const meta = await guard(() => core.backend.getShareMeta(storageIndex, share.shnum));
        // Gone meanwhile: `readTestWrite` sees what is there under the lock.
        if (!meta) continue;
        if (!meta.writeEnabler || !sameSecret(meta.writeEnabler, writeEnabler)) {
          throw new AccountantError('BAD_WRITE_ENABLER', 'the write enabler does not match', {
            details: { storageIndex, shnum: share.shnum },
          });
        }
      }
    }
    return { mayWrite };
  }

  /**
   * Tahoe's `slot_testv_and_readv_and_writev`: the write enabler is checked against every
   * existing share before anything else (BAD_WRITE_ENABLER, nothing done); then every test
   * (a missing share reads as empty); the read vector is evaluated on every existing share
   * before any write; only if all tests passed are the writes applied (new length 0 deletes)
   * and this account's lease renewed on every share that remains. Traffic: a read when it asks
   * for any (the bytes returned out), an upload when its writes changed a share (the bytes of
   * the write vectors applied in).
   */
  async readTestWrite(
    storageIndex: string,
    request: AccountReadTestWriteOptions,
  ): Promise<ReadTestWriteResult> {
    checkStorageIndex(storageIndex);
    checkReadTestWrite(request);
    const core = this.#core;
    // Only reads (no test-write vectors) are what a frozen account may still do.
    const writes = request.testWriteVectors.size > 0;
    if (writes) {
      const writer = await this.#writer(storageIndex);
      if (writer !== this) return await writer.readTestWrite(storageIndex, request);
    }
    const account = writes
      ? await core.authorizeWrite(this.id, 'mutable-write')
      : await core.authorize(this.id, 'read');
    const duration = writes ? await core.leaseDurationFor(this.id) : 0;
    const result = await core.lock.run(storageIndex, async (): Promise<ReadTestWriteResult> => {
      const all = await guard(() => core.backend.listShares(storageIndex));
      const existing = all.filter((share) => share.sharetype === 'mutable');
      const byShnum = new Map(existing.map((share) => [share.shnum, share]));
      // Tahoe cannot open an immutable container as a mutable slot and changes nothing.
      const clash = all.find(
        (share) => share.sharetype === 'immutable' && request.testWriteVectors.has(share.shnum),
      );
      if (clash) {
        throw new AccountantError(
          'CONFLICT',
          `share ${storageIndex}/${clash.shnum} is immutable; it cannot be written as a mutable share`,
          { details: { storageIndex, shnum: clash.shnum } },
        );
      }
      for (const share of existing) {
        const meta = await guard(() => core.backend.getShareMeta(storageIndex, share.shnum));
        if (!meta?.writeEnabler || !sameSecret(meta.writeEnabler, request.writeEnabler)) {
          throw new AccountantError('BAD_WRITE_ENABLER', 'the write enabler does not match', {
            details: { storageIndex, shnum: share.shnum },
          });
        }
      }

      // The answer holds every read of every existing share in one buffer (fact 42): its size
      // is known from the share sizes, so a request asking too much is refused before any read.
      const maxReadBytes = request.maxReadBytes ?? MAX_READ_VECTOR_BYTES;
      let readBytes = 0;
      for (const share of existing) {
        for (const read of request.readVector) {
          readBytes += clippedLength(share, read.offset, read.size);
        }
      }
      if (readBytes > maxReadBytes) {
        throw new AccountantError(
          'OUT_OF_RANGE',
          `the read vector asks ${readBytes} bytes in all; at most ${maxReadBytes} are answered`,
          { details: { storageIndex, readBytes, maxReadBytes } },
        );
      }

      let success = true;
      for (const [shnum, vector] of request.testWriteVectors) {
        const share = byShnum.get(shnum);
        for (const test of vector.test) {
          // Equal bytes have equal lengths: a test whose bytes (truncated at the share's end)
          // cannot be as long as its specimen fails unread, so a test reads at most the
          // specimen's length, whatever size it names.
          const length = share ? clippedLength(share, test.offset, test.size) : 0;
          if (length !== test.specimen.length) {
            success = false;
            continue;
          }
          const actual = share ? await this.#read(storageIndex, share, test.offset, length) : empty;
          if (!Buffer.from(actual).equals(Buffer.from(test.specimen))) success = false;
        }
      }

      const data = new Map<number, Uint8Array[]>();
      for (const share of existing) {
        const reads: Uint8Array[] = [];
        for (const read of request.readVector) {
          reads.push(await this.#read(storageIndex, share, read.offset, read.size));
        }
        data.set(share.shnum, reads);
      }
      if (!success || !writes) return { success, data };

      await this.#applyWrites(storageIndex, request, byShnum, account, duration);
      return { success, data };
    });
    core.traffic.count(this.id, readTestWriteTraffic(request, result));
    return result;
  }

  async #applyWrites(
    storageIndex: string,
    request: AccountReadTestWriteOptions,
    existing: Map<number, ShareInfo>,
    account: AccountRow,
    duration: number,
  ): Promise<void> {
    const core = this.#core;
    const known = await guard(() => core.db.listShares(storageIndex));
    const adopted = await this.#adoptUnknown(storageIndex, [...existing.keys()], known);
    const rows = adopted ? await guard(() => core.db.listShares(storageIndex)) : known;
    const rowOf = new Map(rows.map((row) => [row.shnum, row]));

    // Check the hard quota for the whole request before writing anything, so a refusal
    // leaves every share as it was. Growth is exact: lengths follow from the vectors.
    let growth = 0;
    const plans: { shnum: number; deletes: boolean; to: number }[] = [];
    for (const [shnum, vector] of request.testWriteVectors) {
      const from = existing.get(shnum)?.sizeBytes ?? 0;
      const deletes = vector.newLength === 0;
      const to = deletes ? 0 : predictMutableLength(from, vector.write, vector.newLength);
      plans.push({ shnum, deletes, to });
      growth += to - from;
    }
    // The check reads the usage and the writes raise it only later (after the backend write, as
    // the crash rule wants), so the two are held together under the account's lock, across
    // processes: a second grower of the account (here or in another process sharing the
    // database) checks only once the first one's growth is counted.
    const write = async () => {
      const before = await core.usageOf(this.id);
      if (
        growth > 0 &&
        account.hardQuotaBytes !== null &&
        before.bytes + growth > account.hardQuotaBytes
      ) {
        throw new AccountantError(
          'QUOTA_EXCEEDED',
          `account ${account.id} would pass its hard quota`,
          {
            details: {
              accountId: account.id,
              usedBytes: before.bytes,
              requestedBytes: growth,
              hardQuotaBytes: account.hardQuotaBytes,
            },
          },
        );
      }
      if (growth > 0 && growth > (await core.room())) {
        throw new AccountantError('NO_SPACE', 'not enough space for the mutable write');
      }
      // Nor is a share created over an upload in progress (here or in another process) or a
      // deletion: a share number with a row but no stored share is taken. Checked before any
      // share of the request is written, and a refusal is the client's (4xx), not the node's.
      const taken = plans.find(
        (plan) => !plan.deletes && !existing.has(plan.shnum) && rowOf.has(plan.shnum),
      );
      if (taken) {
        const row = rowOf.get(taken.shnum)!;
        throw new AccountantError(
          'CONFLICT',
          `share ${storageIndex}/${taken.shnum} is taken (${row.sharetype}, ${row.state})`,
          { details: { storageIndex, shnum: taken.shnum } },
        );
      }

      for (const { shnum, deletes, to } of plans) {
        const vector = request.testWriteVectors.get(shnum);
        if (!vector) continue;
        const stored = existing.has(shnum);
        if (deletes) {
          if (stored) await deleteShare(core, storageIndex, shnum, rowOf.get(shnum), null);
          continue;
        }
        if (stored) {
          const length = await guard(() =>
            core.backend.writeMutable(storageIndex, shnum, {
              writeEnabler: request.writeEnabler,
              writeEnablerNodeId: core.options.nodeId,
              writes: vector.write,
              newLength: vector.newLength,
            }),
          );
          // After the write: a crash in between leaves stored bytes uncounted until the
          // crawler's next pass, never counted bytes that are not stored.
          await guard(() => core.db.setUsedSpace(storageIndex, shnum, length));
          continue;
        }
        await this.#createMutable(storageIndex, shnum, request, vector, to, duration, account);
      }
      return before;
    };
    const before = await core.recordingRefusals(this.id, 'mutable-write', () =>
      growth > 0 ? core.quotaExclusive(account, write) : write(),
    );

    // Tahoe renews the writer's lease on the shares this request wrote that still exist
    // (`_evaluate_write_vectors` → `remaining_shares`), not on the slot's other shares.
    const remaining = plans.filter((plan) => !plan.deletes).map((plan) => plan.shnum);
    await this.#renewHeld(storageIndex, remaining, request, duration);
    await core.warnOnSoftQuota(account, before);
  }

  async #createMutable(
    storageIndex: string,
    shnum: number,
    request: AccountReadTestWriteOptions,
    vector: AccountReadTestWriteOptions['testWriteVectors'] extends ReadonlyMap<number, infer V>
      ? V
      : never,
    predicted: number,
    duration: number,
    account: AccountRow,
  ): Promise<void> {
    const core = this.#core;
    const stale = await guard(() => core.db.getShare(storageIndex, shnum));
    const stored = stale && (await guard(() => core.backend.statShare(storageIndex, shnum)));
    if (stale?.state === 'stable' && !stored) {
      // The row outlived its share (removed behind our back); the crawler would drop it too.
      await guard(() => core.db.removeVanished(storageIndex, shnum, { actor: 'server' }));
    }
    await guard(() =>
      core.db.addComingShares({
        storageIndex,
        sharetype: 'mutable',
        accountId: this.id,
        shares: [{ shnum, usedBytes: predicted }],
        renewSecret: request.renewSecret,
        cancelSecret: request.cancelSecret,
        leaseDurationSeconds: duration,
        uploadProcess: core.options.processId,
      }),
    );
    let length: number;
    try {
      await core.writeOwnerRecords(storageIndex, [shnum], account, 'mutable');
      length = await guard(() =>
        core.backend.writeMutable(storageIndex, shnum, {
          writeEnabler: request.writeEnabler,
          writeEnablerNodeId: core.options.nodeId,
          writes: vector.write,
          newLength: vector.newLength,
          leases: [embeddedLease(request, 1, core.now() + duration)],
        }),
      );
    } catch (error) {
      await core.deleteOwnerRecords(storageIndex, [shnum]);
      await core.db.abortComing(storageIndex, shnum).catch(() => undefined);
      throw error;
    }
    await guard(() => core.db.markStable(storageIndex, shnum, length));
  }

  // ---------------------------------------------------------------------- account

  /** The account's status, usage, quotas and lease duration (`GET /accounting/v1/account`). */
  async info(): Promise<AccountSummary> {
    const core = this.#core;
    const account = await core.loadAccount(this.id);
    await core.touch(this.id);
    return {
      accountId: account.id,
      nickname: account.nickname,
      status: account.status,
      usage: await core.usageOf(this.id),
      hardQuotaBytes: account.hardQuotaBytes,
      softQuotaBytes: account.softQuotaBytes,
      leaseDurationSeconds: await core.leaseDurationFor(this.id),
    };
  }

  /**
   * Sets the duration of the account's future leases, clamped to the server's policy; returns
   * the duration granted. Existing leases keep their expiry until renewed. FORBIDDEN for the
   * shared accounts (anonymous, starter): one of their clients would choose for all of them;
   * theirs is the node's policy, which only the operator sets (its configuration).
   */
  async setLeaseDuration(seconds: number): Promise<number> {
    if (!Number.isSafeInteger(seconds) || seconds <= 0) {
      throw new RangeError('a lease duration is a positive number of seconds');
    }
    const core = this.#core;
    const account = await core.authorize(this.id, 'write');
    if (isSharedAccount(this.id)) {
      throw new AccountantError(
        'FORBIDDEN',
        `account ${this.id} (${account.nickname}) is shared: its lease duration is the node's`,
        { details: { accountId: this.id, status: account.status, operation: 'write' } },
      );
    }
    const granted = core.clampLeaseDuration(seconds);
    // Through the account's record, as every change of an account: a rebuild gives it back.
    await changeAccount(core, this.id, (tx) =>
      tx.setAccountAttribute(this.id, 'lease-duration-seconds', String(granted)),
    );
    return granted;
  }

  // ---------------------------------------------------------------------- helpers

  /**
   * The facet a mutable write or lease renewal of this account at `storageIndex` goes through:
   * the directory account's for an anonymous write to a slot the embedder admits in mode
   * `required` (directory-slots.ts), so that account is authorized, charged, and owns and leases
   * what is stored; otherwise this one.
   */
  async #writer(storageIndex: string): Promise<Account> {
    const id = await directoryWriterFor(this.#core, this.id, storageIndex);
    return id === undefined ? this : new Account(this.#core, id);
  }

  /**
   * Adds or renews this account's lease on each stored share named — not on shares still being
   * uploaded, which Tahoe's `add_lease` does not see either (they live in `incoming/`).
   */
  async #renewHeld(
    storageIndex: string,
    held: readonly number[],
    secrets: LeaseSecrets,
    duration: number,
  ): Promise<void> {
    for (const shnum of held) {
      try {
        await this.#core.db.addOrRenewLeases({
          storageIndex,
          shnum,
          accountId: this.id,
          renewSecret: secrets.renewSecret,
          cancelSecret: secrets.cancelSecret,
          durationSeconds: duration,
        });
      } catch (error) {
        // Being deleted (GOING) as we speak: there is nothing left to lease.
        if (error instanceof LeaseDbError && error.code === 'SHARE_NOT_FOUND') continue;
        throw translate(error);
      }
    }
  }

  /**
   * This account's upload of the share, checked against the secret. Another account's upload is
   * NOT_FOUND, exactly as no upload: Tahoe's server has no accounts, but its client sends every
   * chunk through the NURL it allocated with, so only a client switching NURLs (to finish a
   * frozen account's upload through another account, or to pile chunks onto someone else's)
   * meets this. For that account there is no such upload; a 404 also tells it nothing about
   * others' uploads (a 401 or 403 would confirm that someone is uploading that share now), and
   * the secret is not even compared. 404 is Tahoe's answer for "no upload in progress" (fact 31
   * in docs/TAHOE-COMPATIBILITY.md); a Tahoe client takes any status but 200/201 as the chunk
   * failing (fact 17).
   */
  async #upload(storageIndex: string, shnum: number, uploadSecret: Uint8Array): Promise<Upload> {
    const upload = this.#core.uploads.get(uploadKey(storageIndex, shnum));
    if (upload?.accountId !== this.id) {
      if (!upload) await this.#core.throwIfUploadElsewhere(storageIndex, shnum, this.id);
      throw new AccountantError('NOT_FOUND', `no upload of ${storageIndex}/${shnum}`);
    }
    if (!sameSecret(upload.uploadSecret, uploadSecret)) {
      throw new AccountantError('BAD_UPLOAD_SECRET', 'wrong upload secret');
    }
    return upload;
  }

  async #shares(storageIndex: string, sharetype: ShareType): Promise<ShareInfo[]> {
    const shares = await guard(() => this.#core.backend.listShares(storageIndex));
    return shares.filter((share) => share.sharetype === sharetype);
  }

  async #read(
    storageIndex: string,
    share: ShareInfo,
    offset: number,
    size: number,
  ): Promise<Uint8Array> {
    const length = clippedLength(share, offset, size);
    if (length === 0) return empty;
    return await guard(() =>
      this.#core.backend.readShare(storageIndex, share.shnum, offset, length),
    );
  }

  /**
   * Shares stored but not yet in the database (written before the database existed, or by a
   * crash between the two) are adopted now, unleased, so the caller's lease can cover them.
   * The crawler does the same for shares nobody touches.
   */
  async #adoptUnknown(
    storageIndex: string,
    held: readonly number[],
    rows: readonly Share[],
  ): Promise<boolean> {
    const known = new Set(rows.map((row) => row.shnum));
    const missing = held.filter((shnum) => !known.has(shnum));
    if (missing.length === 0) return false;
    const infos = await guard(() => this.#core.backend.listShares(storageIndex));
    for (const info of infos) {
      if (!missing.includes(info.shnum)) continue;
      try {
        await this.#core.db.adoptShare({
          storageIndex,
          shnum: info.shnum,
          sharetype: info.sharetype,
          usedBytes: info.sizeBytes,
          leases: [],
        });
        await this.#core.db.appendEvent({
          kind: 'share-adopted',
          actor: 'server',
          storageIndex,
          shnum: info.shnum,
          data: { bytes: info.sizeBytes, sharetype: info.sharetype },
        });
      } catch (error) {
        // Adopted meanwhile by the crawler or another server process: fine.
        if (!(error instanceof LeaseDbError && error.code === 'INVALID_STATE_TRANSITION')) {
          throw error;
        }
      }
    }
    return true;
  }
}

const empty = new Uint8Array(0);

/**
 * Default bound on what one read-test-write's read vector returns in all: 4 MiB, 16 KiB for each
 * of 256 shares. Tahoe clients read a few small vectors of every share (a header, a checkstring:
 * facts 11 and 42 in docs/TAHOE-COMPATIBILITY.md) and fetch share data with ranged GETs.
 */
export const MAX_READ_VECTOR_BYTES = 4 * 1024 * 1024;

/**
 * How many of `size` bytes from `offset` a share holds: reads past the end are truncated, as
 * Tahoe's; a read starting past it is empty.
 */
function clippedLength(share: ShareInfo, offset: number, size: number): number {
  return Math.min(size, Math.max(0, share.sizeBytes - offset));
}

/**
 * What an answered read-test-write counts: a read when it asked for any (its bytes being those
 * returned, not those its tests compared), and an upload when its tests passed and it changed a
 * share (wrote data or set a length), with the bytes of the write vectors applied — not those of
 * a share it deleted (new length 0), which are never written.
 */
function readTestWriteTraffic(
  request: AccountReadTestWriteOptions,
  result: ReadTestWriteResult,
): Partial<TrafficCounts> {
  let bytesOut = 0;
  for (const reads of result.data.values()) for (const read of reads) bytesOut += read.length;
  const counts = { reads: request.readVector.length > 0 ? 1 : 0, bytesOut };
  const vectors = [...request.testWriteVectors.values()];
  if (!result.success || !vectors.some((v) => v.write.length > 0 || v.newLength !== null)) {
    return counts;
  }
  let bytesIn = 0;
  for (const vector of vectors) {
    if (vector.newLength === 0) continue;
    for (const write of vector.write) bytesIn += write.data.length;
  }
  return { ...counts, uploads: 1, bytesIn };
}

/** OUT_OF_RANGE for a chunk that passes the upload's allocated size (fact 53). */
function checkChunkFits(upload: Upload, offset: number, length: number): void {
  if (offset + length > upload.allocatedSize) {
    throw new AccountantError(
      'OUT_OF_RANGE',
      `bytes ${offset}–${offset + length} pass the allocated size ${upload.allocatedSize}`,
      { details: { offset, length, allocatedSize: upload.allocatedSize } },
    );
  }
}

/**
 * Longest reason of a corruption advisory kept whole, in characters (Unicode code points). Tahoe
 * clients send a short description of the failed check; the HTTP body may hold up to 32 KiB.
 */
export const MAX_ADVISORY_REASON_CHARS = 1000;

/** Marks the cut of a clipped reason. */
const CUT_MARK = '…';

/** The data key of the `notice` that says an account's further advisories are dropped. */
const DROPPED_ADVISORIES = 'droppedAdvisories';

const EVENT_PAGE = 1000;

function shareKey(storageIndex: string, shnum: number): string {
  return `${storageIndex}/${shnum}`;
}

/**
 * The reason cut to its first {@link MAX_ADVISORY_REASON_CHARS} characters, never inside a
 * surrogate pair, with {@link CUT_MARK} appended when cut; `chars` is the length it had.
 */
function clipReason(reason: string): { reason: string; cut: boolean; chars: number } {
  let chars = 0;
  let end = 0;
  for (const char of reason) {
    if (chars < MAX_ADVISORY_REASON_CHARS) end += char.length;
    chars++;
  }
  if (chars <= MAX_ADVISORY_REASON_CHARS) return { reason, cut: false, chars };
  return { reason: `${reason.slice(0, end)}${CUT_MARK}`, cut: true, chars };
}

/**
 * The account's corruption advisories kept since `since` (in all and by share), and whether the
 * notice of dropped ones was written. The crawler's `share-corrupt` events name the share's
 * owner as their account; they are not the account's reports and do not count.
 */
async function recentAdvisories(
  core: Core,
  accountId: number,
  since: number,
): Promise<{ kept: number; byShare: Map<string, number>; dropNoted: boolean }> {
  let kept = 0;
  let dropNoted = false;
  const byShare = new Map<string, number>();
  const count = (event: ActivityEvent) => {
    if (event.kind === 'notice') {
      if (event.data[DROPPED_ADVISORIES] !== undefined) dropNoted = true;
      return;
    }
    if (event.data.reportedBy !== 'client' || event.storageIndex === null) return;
    kept++;
    const key = shareKey(event.storageIndex, event.shnum ?? 0);
    byShare.set(key, (byShare.get(key) ?? 0) + 1);
  };
  // Bounded by the bounds themselves: an account has at most `advisoriesPerAccount` kept reports
  // in a window (a few more when processes race), one notice, and the crawler's reports.
  for (let afterId: number | undefined; ; ) {
    const page = await guard(() =>
      core.db.listEvents({
        accountId,
        kinds: ['share-corrupt', 'notice'],
        since,
        limit: EVENT_PAGE,
        ...(afterId === undefined ? {} : { afterId }),
      }),
    );
    for (const event of page) count(event);
    if (page.length < EVENT_PAGE) break;
    afterId = page[page.length - 1]?.id;
  }
  return { kept, byShare, dropNoted };
}

/** The lease written into a new share container, so Tahoe itself could read the share. */
function embeddedLease(secrets: LeaseSecrets, ownerNum: number, expiresAt: number): EmbeddedLease {
  return {
    ownerNum,
    renewSecret: Buffer.from(hashLeaseSecret(secrets.renewSecret), 'hex'),
    cancelSecret: Buffer.from(hashLeaseSecret(secrets.cancelSecret), 'hex'),
    secretsHashed: true,
    expiresAt,
  };
}

/**
 * Records a completed upload's share as stored (COMING → STABLE) and ends the upload. When the
 * database fails it, the upload stays registered as `stored`, for a resent chunk or the sweep to
 * record; a process that stops first leaves a COMING row whose share is complete, which the next
 * start (or another process) makes STABLE.
 */
async function recordStored(core: Core, upload: Upload): Promise<void> {
  await guard(() => core.db.markStable(upload.storageIndex, upload.shnum, upload.allocatedSize));
  core.uploads.delete(uploadKey(upload.storageIndex, upload.shnum));
}

/**
 * Drops an upload in progress from the backend, the database and the registry. One whose share
 * is complete in the store (`stored`) is not dropped but recorded: its bytes all arrived.
 */
export async function abandonUpload(core: Core, upload: Upload): Promise<void> {
  const key = uploadKey(upload.storageIndex, upload.shnum);
  if (core.uploads.get(key) !== upload) return;
  if (upload.stored) {
    await recordStored(core, upload);
    return;
  }
  core.uploads.delete(key);
  try {
    await core.backend.abortUpload(upload.storageIndex, upload.shnum);
  } catch (error) {
    if (!(error instanceof BackendError && error.code === 'NOT_FOUND')) throw error;
  }
  await core.deleteOwnerRecords(upload.storageIndex, [upload.shnum]);
  try {
    await core.db.abortComing(upload.storageIndex, upload.shnum);
  } catch (error) {
    if (!(error instanceof LeaseDbError && error.code === 'INVALID_STATE_TRANSITION')) {
      throw error;
    }
  }
}

/**
 * Deletes a stored share: STABLE → GOING (its leases dropped) → backend delete → NONE, all in one
 * database transaction, so a failed backend delete rolls the row and every lease back as they
 * were. A crash after the backend delete but before the commit leaves a STABLE row without its
 * share, which the crawler removes as vanished. A share with no row is just deleted.
 */
export async function deleteShare(
  core: Core,
  storageIndex: string,
  shnum: number,
  row: Share | undefined,
  actor: string | null,
): Promise<void> {
  if (!row) {
    await guard(() => core.backend.deleteShare(storageIndex, shnum));
    await core.deleteOwnerRecords(storageIndex, [shnum]);
    return;
  }
  await guard(() =>
    core.db.transaction(async (tx) => {
      if (row.state === 'stable') await tx.markGoing(storageIndex, shnum, { dropLeases: true });
      await core.backend.deleteShare(storageIndex, shnum);
      await tx.removeGoing(storageIndex, shnum, { actor });
    }),
  );
  await core.deleteOwnerRecords(storageIndex, [shnum]);
}

/** The arguments of a share read: a valid index and shnum, and a range of whole bytes. */
function checkReadTarget(
  storageIndex: string,
  shnum: number,
  range: { readonly offset: number; readonly length: number } | undefined,
): void {
  checkStorageIndex(storageIndex);
  checkShnum(shnum);
  if (range && (!Number.isSafeInteger(range.offset) || range.offset < 0)) {
    throw new RangeError('offset must be ≥ 0');
  }
  if (range && (!Number.isSafeInteger(range.length) || range.length < 0)) {
    throw new RangeError('length must be ≥ 0');
  }
}
