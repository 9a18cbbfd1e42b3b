import {
  BackendError,
  deleteOwnerRecords,
  type EmbeddedLease,
  type OwnerRecord,
  ownerRecordName,
  ownerRecordPrefix,
  readOwnerRecord,
  type ShareInfo,
  type ShareSet,
} from '@ostrom/backend';
import {
  ANONYMOUS_ACCOUNT_ID,
  hashLeaseSecret,
  LeaseDbError,
  type LeaseInput,
  type Share,
  STARTER_ACCOUNT_ID,
} from '@ostrom/leasedb';
import { recreateAccount } from './accounts.js';
import { AdoptionWriter } from './adoptions.js';
import type { Counters } from './counters.js';
import type { ResolvedCrawlerOptions } from './options.js';

const ACTOR = 'crawler';

/**
 * Storage indexes settled at once within a prefix. Their reads (stat, header, owner record)
 * overlap, and their adoptions meet in one transaction (see AdoptionWriter).
 */
const CONCURRENCY = 16;

/** What settling a prefix's shares needs besides the options. */
interface Settling {
  readonly live: LiveProcesses;
  readonly counters: Counters;
  readonly adoptions: AdoptionWriter;
  /** The names of the prefix's owner records, listed once, when the first share is adopted. */
  readonly ownerRecords: () => Promise<ReadonlySet<string>>;
}

/** Whether a server process is alive, asked at most once per prefix and only when needed. */
export type LiveProcesses = () => Promise<ReadonlySet<string>>;

/**
 * Compares one prefix's share sets in the backend with the lease database's rows and settles
 * every difference. The comparison reads names only (cheap); each storage index that differs is
 * then looked at again under its lock, so a share being written right now is never mistaken for
 * a stray one, and only what is still different is changed.
 */
export async function reconcilePrefix(
  options: ResolvedCrawlerOptions,
  prefix: string,
  live: LiveProcesses,
  counters: Counters,
  listing: Promise<ShareSet[]> = options.backend.listShareSets(prefix),
): Promise<void> {
  const [sets, rows] = await Promise.all([listing, options.leaseDb.listSharesByPrefix(prefix)]);
  const rowsByKey = new Map(rows.map((row) => [keyOf(row.storageIndex, row.shnum), row]));
  // Each suspect share, and whether the database had a row for it when listed.
  const suspects = new Map<string, Map<number, boolean>>();
  const suspect = (storageIndex: string, shnum: number, hadRow: boolean) => {
    const shnums = suspects.get(storageIndex) ?? new Map<number, boolean>();
    suspects.set(storageIndex, shnums.set(shnum, hadRow));
  };

  for (const { storageIndex, shnums } of sets) {
    for (const shnum of shnums) {
      counters.examined++;
      const row = rowsByKey.get(keyOf(storageIndex, shnum));
      rowsByKey.delete(keyOf(storageIndex, shnum));
      if (row?.state === 'stable') counters.bytes += row.usedBytes;
      else if (!row || !(await inProgress(row, live))) suspect(storageIndex, shnum, !!row);
    }
  }
  // Rows whose share was not listed.
  for (const row of rowsByKey.values()) {
    if (!(await inProgress(row, live))) suspect(row.storageIndex, row.shnum, true);
  }

  const settling: Settling = {
    live,
    counters,
    adoptions: new AdoptionWriter(options.leaseDb),
    // One listing instead of a lookup per adopted share, most of which find nothing (shares that
    // Tahoe wrote, or written before owner records existed). A record is written when its share is
    // allocated, and the allocation's COMING row keeps that share from being adopted: a record
    // written after the listing never belongs to a share adopted from it.
    ownerRecords: once(
      async () => new Set(await options.backend.listBlobs(ownerRecordPrefix(prefix))),
    ),
  };
  await forEachConcurrently([...suspects], CONCURRENCY, ([storageIndex, shnums]) =>
    // The shares of one index are distinct rows and files: they are settled side by side.
    options.exclusive(storageIndex, async () => {
      await Promise.all(
        [...shnums].map(([shnum, hadRow]) =>
          hadRow
            ? settleShare(options, storageIndex, shnum, settling)
            : adoptOrSettle(options, storageIndex, shnum, settling),
        ),
      );
    }),
  );
}

/**
 * Runs `fn` over `items` with at most `limit` calls in flight. After a failure no new call
 * starts, and the first failure is thrown once the calls in flight have settled: nothing of the
 * prefix is still writing when the cycle reports its error.
 */
async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      try {
        await fn(items[next++]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

/** Calls `fn` the first time it is asked, and answers every later call with that same promise. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => (result ??= fn());
}

/** A COMING row whose upload a live server process holds: not ours to touch. */
async function inProgress(row: Share, live: LiveProcesses): Promise<boolean> {
  if (row.state !== 'coming' || row.uploadProcess === null) return false;
  return (await live()).has(row.uploadProcess);
}

/**
 * A stored share the database had no row for when the prefix was listed (every share, in a
 * rebuild): adopted without looking at the database first. A row that appeared since (an upload
 * between the listing and the lock) makes the adoption fail as a whole, and the share is then
 * settled as any other.
 */
async function adoptOrSettle(
  options: ResolvedCrawlerOptions,
  storageIndex: string,
  shnum: number,
  settling: Settling,
): Promise<void> {
  try {
    await adopt(options, storageIndex, shnum, settling);
  } catch (error) {
    if (!(error instanceof LeaseDbError && error.code === 'INVALID_STATE_TRANSITION')) throw error;
    await settleShare(options, storageIndex, shnum, settling);
  }
}

/** Settles one share under its index's lock, from a fresh look at both sides. */
async function settleShare(
  options: ResolvedCrawlerOptions,
  storageIndex: string,
  shnum: number,
  settling: Settling,
): Promise<void> {
  const { leaseDb: db, backend } = options;
  const { live, counters } = settling;
  const row = await db.getShare(storageIndex, shnum);
  if (!row) {
    await adopt(options, storageIndex, shnum, settling); // reads the header: no stat needed
    return;
  }
  if (await inProgress(row, live)) return;
  let stored: ShareInfo | undefined;
  try {
    stored = await backend.statShare(storageIndex, shnum);
  } catch (error) {
    if (!(error instanceof BackendError && error.code === 'CORRUPT')) throw error;
    await reportCorrupt(options, storageIndex, shnum, row, error, counters);
    return;
  }

  if (!stored) {
    // The owner record goes before the row: when the store fails its removal, the row is still
    // there for the next cycle to settle, so no record outlives every trace of its share.
    await forgetOwner(options, storageIndex, shnum);
    if (row.state === 'stable') {
      await db.removeVanished(storageIndex, shnum, { actor: ACTOR });
      counters.vanished++;
    } else if (row.state === 'coming') {
      // An upload whose process died: whatever the backend still has of it goes too.
      await backend.abortUpload(storageIndex, shnum).catch(() => undefined);
      await db.abortComing(storageIndex, shnum);
      counters.deadUploads++;
    } else {
      await db.removeGoing(storageIndex, shnum, { actor: ACTOR }); // its delete got through
      counters.deleted++;
    }
    return;
  }

  if (row.state === 'coming') {
    // Every byte arrived before the process died: the share is kept, with its owner and lease.
    if (stored.sharetype === row.sharetype && stored.sizeBytes <= row.usedBytes) {
      await db.markStable(storageIndex, shnum, stored.sizeBytes);
      counters.bytes += stored.sizeBytes;
    } else {
      await db.abortComing(storageIndex, shnum);
      await adopt(options, storageIndex, shnum, settling);
    }
  } else if (row.state === 'going') {
    // A deletion interrupted between its two steps: finish it.
    await backend.deleteShare(storageIndex, shnum);
    await forgetOwner(options, storageIndex, shnum);
    await db.removeGoing(storageIndex, shnum, { actor: ACTOR });
    counters.deleted++;
  } else {
    counters.bytes += row.usedBytes;
  }
}

async function reportCorrupt(
  options: ResolvedCrawlerOptions,
  storageIndex: string,
  shnum: number,
  row: Share | undefined,
  error: BackendError,
  counters: Counters,
): Promise<void> {
  counters.corrupt++;
  await options.leaseDb.appendEvent({
    kind: 'share-corrupt',
    actor: ACTOR,
    accountId: row?.ownerAccountId ?? null,
    storageIndex,
    shnum,
    data: { reason: error.message, known: row !== undefined },
  });
}

/**
 * NONE → STABLE for a share found in the backend: owned and leased by the account its owner
 * record names (recreated from its key when the database lost it), else leased to the anonymous
 * account as the leases embedded in its container say (Tahoe's own shares), else given a
 * starter lease. One lease per account: several embedded leases become one, lasting until the
 * latest of them expires (when Tahoe would have let the share go).
 */
async function adopt(
  options: ResolvedCrawlerOptions,
  storageIndex: string,
  shnum: number,
  { counters, adoptions, ownerRecords }: Settling,
): Promise<void> {
  const db = options.leaseDb;
  const [meta, record] = await Promise.all([
    options.backend.getShareMeta(storageIndex, shnum).catch((error: unknown) => {
      if (error instanceof BackendError && error.code === 'CORRUPT') return error;
      throw error;
    }),
    ownerRecord(options, storageIndex, shnum, ownerRecords),
  ]);
  if (meta instanceof BackendError) {
    await reportCorrupt(options, storageIndex, shnum, undefined, meta, counters);
    return;
  }
  if (!meta) return; // not there (any more)
  const latest = latestLease(meta.leases);
  const owner = record ? await ownerAccount(options, record, storageIndex, shnum) : null;
  let leases: LeaseInput[] | undefined;
  if (owner !== null) {
    leases = [
      {
        accountId: owner,
        expiresAt: latest?.expiresAt ?? options.now() + db.policy.leaseDurationSeconds,
        ...secretHashes(latest),
      },
    ];
  } else if (latest) {
    leases = [
      { accountId: ANONYMOUS_ACCOUNT_ID, expiresAt: latest.expiresAt, ...secretHashes(latest) },
    ];
  }
  const share = {
    storageIndex,
    shnum,
    sharetype: meta.sharetype,
    usedBytes: meta.sizeBytes,
    ownerAccountId: owner,
    ...(leases ? { leases } : {}),
  };
  await adoptions.adopt(share, {
    kind: 'share-adopted',
    actor: ACTOR,
    accountId: owner,
    storageIndex,
    shnum,
    data: {
      bytes: meta.sizeBytes,
      sharetype: meta.sharetype,
      leasedBy: owner !== null ? 'owner-record' : latest ? 'embedded-lease' : 'starter',
    },
  });
  counters.adopted++;
  counters.bytes += meta.sizeBytes;
}

function latestLease(leases: readonly EmbeddedLease[]): EmbeddedLease | undefined {
  let latest: EmbeddedLease | undefined;
  for (const lease of leases) if (!latest || lease.expiresAt > latest.expiresAt) latest = lease;
  return latest;
}

function secretHashes(lease: EmbeddedLease | undefined) {
  if (!lease) return {};
  const hash = (secret: Uint8Array) =>
    lease.secretsHashed ? Buffer.from(secret).toString('hex') : hashLeaseSecret(secret);
  return { renewSecretHash: hash(lease.renewSecret), cancelSecretHash: hash(lease.cancelSecret) };
}

/** The share's owner record, if the state key is known and the record is readable. */
async function ownerRecord(
  options: ResolvedCrawlerOptions,
  storageIndex: string,
  shnum: number,
  listed: Settling['ownerRecords'],
): Promise<OwnerRecord | undefined> {
  if (!options.stateKey) return undefined;
  if (!(await listed()).has(ownerRecordName(storageIndex, shnum))) return undefined;
  try {
    return await readOwnerRecord(options.backend, options.stateKey, storageIndex, shnum);
  } catch (error) {
    // A damaged record is no worse than none: the embedded leases still count.
    if (error instanceof BackendError && error.code === 'CORRUPT') return undefined;
    throw error;
  }
}

/**
 * The account an owner record names, by its id: a swissnum names its account by id, so the id is
 * the identity (docs/ARCHITECTURE.md, "Recovering a lost database"). The account with that id and
 * the record's key is the owner. Missing, it is made again with that id (from the account's own
 * record when the store has one, else `normal` from the owner record), never with a fresh id.
 * When the id belongs to another key, the share must not go to that account: it goes to the
 * account that holds the record's key under another id (the same client, whose account a
 * database rebuilt before account records existed gave a fresh id), or else to nobody (null: the
 * embedded leases or a starter lease, as for a share without a record); a `notice` event says so.
 */
async function ownerAccount(
  options: ResolvedCrawlerOptions,
  record: OwnerRecord,
  storageIndex: string,
  shnum: number,
): Promise<number | null> {
  const db = options.leaseDb;
  if (record.publicKey === null) {
    return record.accountId === STARTER_ACCOUNT_ID ? STARTER_ACCOUNT_ID : ANONYMOUS_ACCOUNT_ID;
  }
  const byId = await db.getAccount(record.accountId);
  if (byId?.publicKey === record.publicKey) return byId.id;
  const byKey = await db.getAccountByPublicKey(record.publicKey);
  if (!byId && !byKey && options.stateKey) {
    const recreated = await recreateAccount(
      { leaseDb: db, backend: options.backend, stateKey: options.stateKey, actor: ACTOR },
      record as OwnerRecord & { publicKey: string },
    );
    if (recreated !== undefined) return recreated;
  }
  const owner = byKey?.id ?? null;
  await db.appendEvent({
    kind: 'notice',
    actor: ACTOR,
    accountId: owner,
    storageIndex,
    shnum,
    data: {
      reason: 'owner-record-conflict',
      recordAccountId: record.accountId,
      // Who holds the record's id now (null: nobody, and it could not be made again).
      idHeldBy: byId ? 'another-key' : null,
      givenTo: owner === null ? 'no-owner' : 'same-key-other-id',
    },
  });
  return owner;
}

async function forgetOwner(
  options: ResolvedCrawlerOptions,
  storageIndex: string,
  shnum: number,
): Promise<void> {
  if (options.stateKey) await deleteOwnerRecords(options.backend, storageIndex, [shnum]);
}

function keyOf(storageIndex: string, shnum: number): string {
  return `${storageIndex}/${shnum}`;
}
