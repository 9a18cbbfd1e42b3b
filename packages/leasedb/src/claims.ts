import type { Ctx } from './context.js';
import { assertCrawlerName } from './history.js';
import { assertProcessId } from './processes.js';
import type { CrawlerClaim } from './types.js';
import { assertPositiveInteger } from './validate.js';

// One crawler per database. Server processes sharing a database elect the one that crawls with
// a claim that lapses unless renewed: a process takes it when it is free, its own, or expired,
// in one compare-and-set statement (an upsert whose update is conditional), so two processes
// racing for it cannot both win on either dialect. Times are the callers' clocks, as for the
// process heartbeats: processes whose clocks disagree by more than a claim's time-to-live could
// take it from each other early, so the time-to-live must exceed that skew as well.

/** A claim lasts at most a day: one held longer would keep a crashed process's crawler for that long. */
export const MAX_CLAIM_TTL_SECONDS = 86_400;

function assertTtl(ttlSeconds: unknown): asserts ttlSeconds is number {
  assertPositiveInteger('ttlSeconds', ttlSeconds);
  if (ttlSeconds > MAX_CLAIM_TTL_SECONDS) {
    throw new RangeError(`ttlSeconds must be at most ${MAX_CLAIM_TTL_SECONDS}`);
  }
}

/**
 * Takes or renews the claim on crawler `name` for `holder` until now + `ttlSeconds`: true when
 * `holder` holds it afterwards (it was free, already its own, or expired), false when another
 * holder's claim is still running (nothing changes then).
 */
export async function claimCrawler(
  ctx: Ctx,
  name: string,
  holder: string,
  ttlSeconds: number,
): Promise<boolean> {
  assertCrawlerName(name);
  assertProcessId(holder);
  assertTtl(ttlSeconds);
  const now = ctx.now();
  const taken = await ctx.db
    .insertInto('crawler_claims')
    .values({ name, holder, claimed_at: now, renewed_at: now, expires_at: now + ttlSeconds })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet((eb) => ({
          holder: eb.ref('excluded.holder'),
          // A renewal keeps the time the claim was taken; a takeover starts it afresh.
          claimed_at: eb
            .case()
            .when('crawler_claims.holder', '=', eb.ref('excluded.holder'))
            .then(eb.ref('crawler_claims.claimed_at'))
            .else(eb.ref('excluded.claimed_at'))
            .end(),
          renewed_at: eb.ref('excluded.renewed_at'),
          expires_at: eb.ref('excluded.expires_at'),
        }))
        .where((eb) =>
          eb.or([
            eb('crawler_claims.holder', '=', eb.ref('excluded.holder')),
            eb('crawler_claims.expires_at', '<=', now),
          ]),
        ),
    )
    .returning('holder')
    .execute();
  return taken.length === 1;
}

/** Gives the claim up if `holder` holds it (expired or not); false if it did not. */
export async function releaseCrawler(ctx: Ctx, name: string, holder: string): Promise<boolean> {
  assertCrawlerName(name);
  assertProcessId(holder);
  const result = await ctx.db
    .deleteFrom('crawler_claims')
    .where('name', '=', name)
    .where('holder', '=', holder)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** The claim on crawler `name` as stored (it may have expired: compare `expiresAt` with now). */
export async function getCrawlerClaim(ctx: Ctx, name: string): Promise<CrawlerClaim | undefined> {
  assertCrawlerName(name);
  const row = await ctx.db
    .selectFrom('crawler_claims')
    .selectAll()
    .where('name', '=', name)
    .executeTakeFirst();
  return (
    row && {
      name: row.name,
      holder: row.holder,
      claimedAt: row.claimed_at,
      renewedAt: row.renewed_at,
      expiresAt: row.expires_at,
    }
  );
}
