import {
  type AccountRecord,
  accountRecordOf,
  BackendError,
  listAccountRecordIds,
  readAccountRecord,
  type ShareBackend,
  sameAccountRecord,
  writeAccountRecord,
} from '@ostrom/backend';
import { type LeaseDb, LeaseDbError, type LeaseDbOperations } from '@ostrom/leasedb';
import type { NodeCrawlerLogger } from './node-crawler.js';

// Accounts as the store records them (`accounts/<id>`, written by the accountant before each
// change commits; docs/ARCHITECTURE.md, "Recovering a lost database"). A swissnum names its
// account by id, so a rebuilt database must give every account back under its own id, with its
// key and state, before any share is given to an owner; and no id the store knows may be issued
// again.

/** What to restore accounts with. */
export interface AccountRecordsOptions {
  readonly leaseDb: LeaseDb;
  readonly backend: ShareBackend;
  /** The node's state key, which seals the records. */
  readonly stateKey: Uint8Array;
  /** Who restores, for the activity log (default `crawler`). */
  readonly actor?: string;
}

/** An account record that could not be applied, and why. */
export interface AccountRecordProblem {
  readonly accountId: number;
  /**
   * `corrupt`: the record does not open (wrong key, altered); `id-taken`: the database has this id
   * with another key; `key-taken`: the database has this key under another id.
   */
  readonly problem: 'corrupt' | 'id-taken' | 'key-taken';
}

/** What a restore or sync of the accounts did. */
export interface AccountRestoreReport {
  /** Records found in the store. */
  readonly records: number;
  /** Accounts the database lacked, created with their recorded id and state. */
  readonly created: number[];
  /** Accounts whose row differed from their record, set to the record. */
  readonly updated: number[];
  /** Accounts with no record, whose record was written from their row. */
  readonly written: number[];
  readonly problems: AccountRecordProblem[];
  /** Every id issued from now on is greater than this (the highest id the store knows). */
  readonly reservedThrough: number;
}

const READ_CONCURRENCY = 16;

/**
 * Gives every account back from its record, for a database that may be older than the store (a
 * restored backup, an empty database): an account the database lacks is created with its
 * recorded id, key and state; one it has with the same key is set to the recorded state (status,
 * quotas, nickname, attributes: the record is the newer, as it is written before each change
 * commits). A record whose id or key the database holds otherwise is reported and left out; of
 * two records with one key, the higher id (the later creation) is taken. Then the id sequence is
 * moved past every recorded id, deleted accounts' included. Accounts the database has without a
 * record get one. Run before the shares are reconciled, so that owner records find their
 * accounts.
 */
export async function restoreAccounts(
  options: AccountRecordsOptions,
): Promise<AccountRestoreReport> {
  const { leaseDb: db, backend, stateKey } = options;
  const actor = options.actor ?? 'crawler';
  const ids = await listAccountRecordIds(backend);
  const records = new Map<number, AccountRecord>();
  const problems: AccountRecordProblem[] = [];
  await forEach(ids, READ_CONCURRENCY, async (id) => {
    const record = await readRecord(backend, stateKey, id);
    if (record === 'corrupt') problems.push({ accountId: id, problem: 'corrupt' });
    else if (record) records.set(id, record);
  });
  // The later of two records of one key wins: descending ids, and a key already taken is refused.
  const created: number[] = [];
  const updated: number[] = [];
  for (const id of [...records.keys()].sort((a, b) => b - a)) {
    const outcome = await applyRecord(db, backend, stateKey, records.get(id)!, actor);
    if (outcome === 'created') created.push(id);
    else if (outcome === 'updated') updated.push(id);
    else if (outcome !== 'unchanged') problems.push({ accountId: id, problem: outcome });
  }
  const written = await writeMissingRecords(db, backend, stateKey, new Set(ids));
  const reservedThrough = Math.max(1, ...ids);
  await db.reserveAccountIds(reservedThrough);
  return {
    records: ids.length,
    created: created.sort((a, b) => a - b),
    updated: updated.sort((a, b) => a - b),
    written,
    problems: problems.sort((a, b) => a.accountId - b.accountId),
    reservedThrough,
  };
}

/**
 * What a node does at every start, before it serves: writes the record of every account that
 * has none (once, after the upgrade that introduced them: so that a database lost afterwards
 * loses no NURL), creates from its record every account the database lacks (a database restored
 * behind the node's back), and moves the id sequence past every recorded id. Accounts present on
 * both sides are not compared (that would read every record at every start; `restoreAccounts`
 * does, for rebuilds). Costs one listing of the records when nothing is missing.
 */
export async function syncAccountRecords(
  options: AccountRecordsOptions & {
    /** Told, one line each, what was written, made again, or could not be applied. */
    readonly logger?: NodeCrawlerLogger;
  },
): Promise<AccountRestoreReport> {
  const { leaseDb: db, backend, stateKey } = options;
  const actor = options.actor ?? 'server';
  const ids = await listAccountRecordIds(backend);
  const known = await accountIds(db);
  const created: number[] = [];
  const problems: AccountRecordProblem[] = [];
  for (const id of ids.filter((id) => !known.has(id)).reverse()) {
    const record = await readRecord(backend, stateKey, id);
    if (record === undefined) continue; // removed meanwhile: a creation that failed
    const outcome =
      record === 'corrupt' ? 'corrupt' : await applyRecord(db, backend, stateKey, record, actor);
    if (outcome === 'created') created.push(id);
    else if (outcome !== 'unchanged' && outcome !== 'updated') {
      problems.push({ accountId: id, problem: outcome });
    }
  }
  const written = await writeMissingRecords(db, backend, stateKey, new Set(ids), known);
  const reservedThrough = Math.max(1, ...ids);
  await db.reserveAccountIds(reservedThrough);
  const { logger } = options;
  if (written.length > 0) {
    logger?.info({ accounts: written.length }, 'wrote the records of accounts that had none');
  }
  if (created.length > 0) {
    logger?.warn(
      { accounts: created },
      'made again from their records accounts the database lacked (was it restored?)',
    );
  }
  if (problems.length > 0) logger?.error({ problems }, 'account records that could not be applied');
  return {
    records: ids.length,
    created: created.sort((a, b) => a - b),
    updated: [],
    written,
    problems: problems.sort((a, b) => a.accountId - b.accountId),
    reservedThrough,
  };
}

/**
 * The account an owner record names, created with that id (from the account's own record when
 * the store has one, else `normal` with the owner record's key and nickname) when the database
 * lacks it; its record is written. Undefined when the id or the key is the database's otherwise.
 */
export async function recreateAccount(
  options: AccountRecordsOptions,
  owner: { accountId: number; publicKey: string; nickname: string; createdAt: number },
): Promise<number | undefined> {
  const { leaseDb: db, backend, stateKey } = options;
  const recorded = await readRecord(backend, stateKey, owner.accountId);
  if (recorded === 'corrupt') return undefined;
  if (recorded && recorded.publicKey !== owner.publicKey) return undefined;
  const record: AccountRecord = recorded ?? {
    accountId: owner.accountId,
    publicKey: owner.publicKey,
    nickname: owner.nickname,
    status: 'normal',
    hardQuotaBytes: null,
    softQuotaBytes: null,
    createdAt: owner.createdAt,
    attributes: {},
  };
  const outcome = await applyRecord(db, backend, stateKey, record, options.actor ?? 'crawler', {
    createOnly: true,
  });
  return outcome === 'created' || outcome === 'unchanged' ? owner.accountId : undefined;
}

type Outcome = 'created' | 'updated' | 'unchanged' | 'id-taken' | 'key-taken' | 'corrupt';

/**
 * Applies one record under the account's row lock: created when missing, set when it differs. The
 * record is read again under the lock when the row differs from it, since a live process may have
 * changed both since it was read (it writes them under the same lock). `createOnly`: an existing
 * account is left as it is.
 */
async function applyRecord(
  db: LeaseDb,
  backend: ShareBackend,
  stateKey: Uint8Array,
  record: AccountRecord,
  actor: string,
  options: { createOnly?: boolean } = {},
): Promise<Outcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(async (tx) => {
        const row = await tx.lockAccount(record.accountId);
        let current = record;
        if (row) {
          if (row.publicKey !== record.publicKey) return 'id-taken';
          if (options.createOnly) return 'unchanged';
          const attributes = await tx.getAccountAttributes(row.id);
          if (sameAccountRecord(accountRecordOf(row, attributes), record)) return 'unchanged';
          const again = await readRecord(backend, stateKey, record.accountId);
          if (again === 'corrupt') return 'corrupt';
          if (again === undefined) return 'unchanged';
          current = again;
        }
        const outcome = await restoreRow(tx, current, actor);
        if (outcome === 'created') await recordFromRow(tx, backend, stateKey, current.accountId);
        return outcome;
      });
    } catch (error) {
      // Created by another process between our look and our insert: look again, once.
      if (
        attempt === 1 &&
        error instanceof LeaseDbError &&
        error.code === 'ACCOUNT_EXISTS' &&
        error.details.conflict === 'id'
      ) {
        continue;
      }
      throw error;
    }
  }
}

async function restoreRow(
  db: LeaseDbOperations,
  record: AccountRecord,
  actor: string,
): Promise<Outcome> {
  try {
    const result = await db.restoreAccount({
      id: record.accountId,
      publicKey: record.publicKey,
      nickname: record.nickname,
      status: record.status,
      hardQuotaBytes: record.hardQuotaBytes,
      softQuotaBytes: record.softQuotaBytes,
      createdAt: record.createdAt,
      attributes: record.attributes,
      actor,
    });
    return result.outcome;
  } catch (error) {
    if (error instanceof LeaseDbError && error.code === 'ACCOUNT_EXISTS') {
      if (error.details.conflict === 'key') return 'key-taken';
      if (error.details.conflict === 'id' && error.cause === undefined) return 'id-taken';
    }
    throw error;
  }
}

/** Writes an account's record from its row (the caller holds the row's lock). */
async function recordFromRow(
  tx: LeaseDbOperations,
  backend: ShareBackend,
  stateKey: Uint8Array,
  accountId: number,
): Promise<void> {
  const row = await tx.getAccount(accountId);
  if (!row) return;
  const attributes = await tx.getAccountAttributes(accountId);
  await writeAccountRecord(backend, stateKey, accountRecordOf(row, attributes));
}

/** Writes the record of every account that has none, each from its row under its lock. */
async function writeMissingRecords(
  db: LeaseDb,
  backend: ShareBackend,
  stateKey: Uint8Array,
  recorded: ReadonlySet<number>,
  known?: ReadonlySet<number>,
): Promise<number[]> {
  const written: number[] = [];
  for (const id of known ?? (await accountIds(db))) {
    if (recorded.has(id)) continue;
    await db.transaction(async (tx) => {
      if (await tx.lockAccount(id)) await recordFromRow(tx, backend, stateKey, id);
    });
    written.push(id);
  }
  return written.sort((a, b) => a - b);
}

/** Every account id in the database (paged). */
async function accountIds(db: LeaseDb): Promise<Set<number>> {
  const ids = new Set<number>();
  const limit = 10_000;
  for (let offset = 0; ; offset += limit) {
    const page = await db.listAccounts({ orderBy: 'id', limit, offset });
    for (const account of page.accounts) ids.add(account.id);
    if (page.accounts.length < limit) return ids;
  }
}

async function readRecord(
  backend: ShareBackend,
  stateKey: Uint8Array,
  id: number,
): Promise<AccountRecord | 'corrupt' | undefined> {
  try {
    return await readAccountRecord(backend, stateKey, id);
  } catch (error) {
    if (error instanceof BackendError && error.code === 'CORRUPT') return 'corrupt';
    throw error;
  }
}

async function forEach<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
