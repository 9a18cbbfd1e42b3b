import {
  accountRecordOf,
  deleteAccountRecord,
  listAccountRecordIds,
  readAccountRecord,
  writeAccountRecord,
} from '@ostrom/backend';
import {
  type AccountRow,
  type CreateAccountInput,
  LeaseDbError,
  type LeaseDbOperations,
} from '@ostrom/leasedb';
import { type Core, translate } from './core.js';
import { AccountantError } from './errors.js';

// Every change to an account is written to its sealed record in the store before it is
// acknowledged (docs/ARCHITECTURE.md, "Owner records and sealed state blobs"), so that a rebuilt
// database gives each NURL its own account back, with its status, quotas and attributes.
//
// Order: inside one database transaction the account's row is locked, the change is made, the
// row is read back as it now stands and written whole to the record, and only then does the
// transaction commit. So:
// - the record write fails: the transaction rolls back, the caller gets UNAVAILABLE and nothing
//   changed anywhere (a record written in spite of the error names the same state again, or,
//   for an account being created, is removed);
// - the commit fails after the record was written: the record is put back as the row stands
//   (or removed, for a creation), best effort; the caller gets the error. A crash at that moment
//   leaves a record ahead of its row: a rebuild then applies a change that was not acknowledged,
//   as a crash after a commit and before the answer would;
// - two writers of one account: the row lock (PostgreSQL `FOR NO KEY UPDATE`; SQLite's one
//   connection) orders them, and each writes the whole row it read under the lock, so the last
//   record written is the row as the last change left it, whichever process wrote it.

/** Writes account `accountId`'s record from its row as `tx` sees it (the row locked by the caller). */
async function recordFrom(core: Core, tx: LeaseDbOperations, accountId: number): Promise<void> {
  const key = core.options.stateKey;
  if (!key) return;
  const row = await tx.getAccount(accountId);
  if (!row) return;
  const attributes = await tx.getAccountAttributes(accountId);
  await writeAccountRecord(core.backend, key, accountRecordOf(row, attributes));
}

/** After a failed commit: the record back as the committed row says, best effort. */
async function repairRecord(core: Core, accountId: number): Promise<void> {
  const key = core.options.stateKey;
  if (!key) return;
  try {
    const row = await core.db.getAccount(accountId);
    if (!row) {
      await deleteAccountRecord(core.backend, accountId);
      return;
    }
    await core.db.transaction(async (tx) => {
      await tx.lockAccount(accountId);
      await recordFrom(core, tx, accountId);
    });
  } catch {
    // The next change of the account, or a rebuild, settles it.
  }
}

/**
 * Runs `change` on account `accountId` in one transaction with the account's row locked, and
 * writes the account's record from the row as the change left it before the transaction commits.
 * UNKNOWN_ACCOUNT when there is no such account; a store or database failure is UNAVAILABLE with
 * nothing changed. The function to call for every change of an account's key, nickname, status,
 * quotas or attributes (`Account.setLeaseDuration` included).
 */
export async function changeAccount<T>(
  core: Core,
  accountId: number,
  change: (tx: LeaseDbOperations) => Promise<T>,
): Promise<T> {
  let recorded = false;
  try {
    return await core.db.transaction(async (tx) => {
      recorded = false;
      if (!(await tx.lockAccount(accountId))) {
        throw new AccountantError('UNKNOWN_ACCOUNT', `account ${accountId} does not exist`, {
          details: { accountId },
        });
      }
      const result = await change(tx);
      recorded = true;
      await recordFrom(core, tx, accountId);
      return result;
    });
  } catch (error) {
    if (recorded) await repairRecord(core, accountId);
    throw translate(error);
  }
}

/** The id was issued before (its record is in the store) though the database lacks it. */
class IdTaken extends Error {}

/**
 * Creates an account and writes its record before the creation commits (see {@link changeAccount}).
 * An id the database would issue but the store holds a record of (the database is older than the
 * store, e.g. restored from a dump without `ostrom db rebuild`) is never given to another key: the
 * id sequence is moved past every recorded id and the creation tried once more. ACCOUNT_EXISTS
 * from the lease database passes through as it is (a known key).
 */
export async function createRecordedAccount(
  core: Core,
  input: CreateAccountInput,
  /** More to change in the creating transaction, before the record is written (what it throws rolls all back). */
  also?: (tx: LeaseDbOperations, created: AccountRow) => Promise<void>,
): Promise<AccountRow> {
  for (let attempt = 1; ; attempt++) {
    let createdId: number | undefined;
    try {
      return await core.db.transaction(async (tx) => {
        createdId = undefined;
        let created = await tx.createAccount(input);
        if (also) {
          await also(tx, created);
          created = (await tx.getAccount(created.id)) ?? created;
        }
        const key = core.options.stateKey;
        if (!key) return created;
        const recorded = await readAccountRecord(core.backend, key, created.id).catch(
          (error: unknown) => {
            // An unreadable record of this id still says the id was issued.
            if ((error as { code?: unknown }).code === 'CORRUPT') return 'corrupt' as const;
            throw error;
          },
        );
        if (recorded === 'corrupt' || (recorded && recorded.publicKey !== created.publicKey)) {
          throw new IdTaken(`account id ${created.id} has a record in the store`);
        }
        createdId = created.id;
        await recordFrom(core, tx, created.id);
        return created;
      });
    } catch (error) {
      if (error instanceof IdTaken && attempt === 1) {
        await reserveRecordedIds(core);
        continue;
      }
      if (error instanceof IdTaken) {
        throw new AccountantError('UNAVAILABLE', `${error.message}: run \`ostrom db rebuild\``);
      }
      if (createdId !== undefined) await repairRecord(core, createdId);
      if (error instanceof LeaseDbError && error.code === 'ACCOUNT_EXISTS') throw error;
      throw translate(error);
    }
  }
}

/** Moves the id sequence past every account id the store holds a record of. */
async function reserveRecordedIds(core: Core): Promise<void> {
  try {
    const ids = await listAccountRecordIds(core.backend);
    const highest = ids.at(-1);
    if (highest !== undefined) await core.db.reserveAccountIds(highest);
  } catch (error) {
    throw translate(error);
  }
}
