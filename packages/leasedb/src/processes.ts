import type { Ctx } from './context.js';
import type { ServerProcess } from './types.js';
import { assertNonNegativeInteger } from './validate.js';

// Server processes that share this database (several nodes behind one load balancer). Each
// says it is alive now and then; an upload in progress names the process that holds it.

const PROCESS_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function assertProcessId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !PROCESS_ID.test(id)) {
    throw new TypeError('a process id is 1–64 characters of A-Z, a-z, 0-9, ".", "_" and "-"');
  }
}

function assertProcessUrl(url: unknown): asserts url is string | null {
  if (url === null) return;
  if (typeof url !== 'string' || url.length > 2048 || !URL.canParse(url)) {
    throw new TypeError('a process url is an absolute URL of at most 2048 characters, or null');
  }
}

/** Records that the process is alive now (registering it on first call), reachable at `url`. */
export async function heartbeatProcess(ctx: Ctx, id: string, url: string | null): Promise<void> {
  assertProcessId(id);
  assertProcessUrl(url);
  const now = ctx.now();
  await ctx.db
    .insertInto('server_processes')
    .values({ id, url, started_at: now, heartbeat_at: now })
    .onConflict((oc) => oc.column('id').doUpdateSet({ url, heartbeat_at: now }))
    .execute();
}

/** Forgets a process (on a clean stop); false if it was not registered. */
export async function removeProcess(ctx: Ctx, id: string): Promise<boolean> {
  assertProcessId(id);
  const result = await ctx.db
    .deleteFrom('server_processes')
    .where('id', '=', id)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** Registered processes, optionally only those heard from at or after `aliveSince`. */
export async function listProcesses(
  ctx: Ctx,
  query: { aliveSince?: number } = {},
): Promise<ServerProcess[]> {
  let select = ctx.db.selectFrom('server_processes').selectAll();
  if (query.aliveSince !== undefined) {
    assertNonNegativeInteger('aliveSince', query.aliveSince);
    select = select.where('heartbeat_at', '>=', query.aliveSince);
  }
  const rows = await select.orderBy('id').execute();
  return rows.map((row) => ({
    id: row.id,
    url: row.url,
    startedAt: row.started_at,
    heartbeatAt: row.heartbeat_at,
  }));
}
