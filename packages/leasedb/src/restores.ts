import type { Ctx } from './context.js';
import { appendEvent } from './events.js';
import type { DatabaseRestore } from './types.js';
import { assertNonNegativeInteger } from './validate.js';

// The restores of the database. A database restored from a backup knows nothing of the leases
// renewed after that backup (and one started empty in place of a lost one knows no lease at
// all), so a share it shows unleased may have been renewed. What is kept is the time of the
// restore, not a "no deletion before" time: how long deletion waits after it follows from the
// lease duration and the crawler's deletion grace, settings of the node that the operator may
// change (lengthen one after a restore, and the hold lengthens with it), and the restore paths
// need not know them.

export interface RestoreInput {
  /** Why: `restore`, `rebuild`, `missing`, `damaged`... (1–32 of a-z, 0-9, -). */
  readonly reason: string;
  /** The backup restored (its name); null when the database started empty. */
  readonly backup: string | null;
  /** When that backup was taken. */
  readonly backupCreatedAt?: number | null;
  /** Who did it, for the activity log. */
  readonly actor?: string | null;
  /** Unix seconds (default now). */
  readonly at?: number;
}

const REASON = /^[a-z][a-z0-9-]{0,31}$/;

function validate(input: RestoreInput): void {
  if (typeof input !== 'object' || input === null) throw new TypeError('a restore is an object');
  if (typeof input.reason !== 'string' || !REASON.test(input.reason)) {
    throw new TypeError('reason must be 1–32 characters of a-z, 0-9 and -, starting with a letter');
  }
  if (
    input.backup !== null &&
    (typeof input.backup !== 'string' || input.backup.length === 0 || input.backup.length > 200)
  ) {
    throw new TypeError('backup must be a name of 1–200 characters, or null');
  }
  if (input.backupCreatedAt != null) {
    assertNonNegativeInteger('backupCreatedAt', input.backupCreatedAt);
    if (input.backup === null) throw new TypeError('backupCreatedAt without a backup');
  }
  if (input.actor != null && (typeof input.actor !== 'string' || input.actor.length > 200)) {
    throw new TypeError('actor must be a string of at most 200 characters');
  }
  if (input.at !== undefined) assertNonNegativeInteger('at', input.at);
}

/**
 * Records that the database was just restored (or started empty): the crawler holds deletion
 * for a lease duration and its grace period from `at`. Crawler claims are dropped with it: those in a restored
 * database are the claims of the processes of the backup's time, not of the live ones (a live
 * holder takes its claim again at its next renewal). A `database-restored` event is logged.
 */
export async function recordRestore(ctx: Ctx, input: RestoreInput): Promise<DatabaseRestore> {
  validate(input);
  const record: DatabaseRestore = {
    at: input.at ?? ctx.now(),
    reason: input.reason,
    backup: input.backup,
    backupCreatedAt: input.backupCreatedAt ?? null,
    actor: input.actor ?? null,
  };
  await ctx.db
    .insertInto('restores')
    .values({
      at: record.at,
      reason: record.reason,
      backup: record.backup,
      backup_created_at: record.backupCreatedAt,
      actor: record.actor,
    })
    .execute();
  await ctx.db.deleteFrom('crawler_claims').execute();
  await appendEvent(ctx, {
    kind: 'database-restored',
    actor: record.actor,
    at: record.at,
    data: {
      reason: record.reason,
      backup: record.backup,
      ...(record.backupCreatedAt === null ? {} : { backupCreatedAt: record.backupCreatedAt }),
    },
  });
  return record;
}

/** The latest restore (by its time), or undefined if the database was never restored. */
export async function getLastRestore(ctx: Ctx): Promise<DatabaseRestore | undefined> {
  const row = await ctx.db
    .selectFrom('restores')
    .selectAll()
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return (
    row && {
      at: row.at,
      reason: row.reason,
      backup: row.backup,
      backupCreatedAt: row.backup_created_at,
      actor: row.actor,
    }
  );
}
