import type { ShareBackend } from '@ostrom/backend';
import { expect, it } from 'vitest';
import { CrawlerClaimedError, PREFIXES } from '../src/index.js';
import {
  bytes,
  describeMatrix,
  makeWorld,
  type SteppedPacing,
  steppedPacing,
  storageIndex,
  storeOutOfBand,
  type World,
} from './setup.js';

// One crawler per database: two crawlers stand for two server processes sharing a database
// (on PostgreSQL each with a connection pool of its own). Their pacing is stepped by the test,
// so every wait (for the turn, between cycles) is seen and ended by hand; the claim's time is
// the world's clock.

const TTL = 300; // the default claim time-to-live
const RENEW_MS = (TTL * 1000) / 3;

/** A process's view of the store: records the prefixes it lists, and can be held at one. */
function watched(world: World) {
  const seen: string[] = [];
  let holdAt: string | undefined;
  let held: (() => void) | undefined;
  let release: (() => void) | undefined;
  const reached = new Promise<void>((resolve) => {
    held = resolve;
  });
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const backend = Object.assign(Object.create(world.backend) as ShareBackend, {
    async listShareSets(prefix: string) {
      seen.push(prefix);
      if (prefix === holdAt) {
        held?.();
        await gate;
      }
      return world.backend.listShareSets(prefix);
    },
  });
  return {
    backend,
    seen,
    /** Stops the crawler when it lists `prefix`, until `release()`; resolves once it has. */
    holdAt(prefix: string): Promise<void> {
      holdAt = prefix;
      return reached;
    },
    release: () => release?.(),
  };
}

/** Two shares stored behind the database's back, one early in the walk and one late. */
async function twoShares(world: World): Promise<[string, string]> {
  const a = storageIndex('election-early');
  const b = storageIndex('election-late');
  await storeOutOfBand(world.backend, a, 0, bytes(10));
  await storeOutOfBand(world.backend, b, 0, bytes(20));
  return [a, b].sort() as [string, string];
}

async function process(world: World, id: string, pacing: SteppedPacing) {
  const store = watched(world);
  const crawler = world.crawler({
    leaseDb: await world.anotherConnection(),
    backend: store.backend,
    processId: id,
    clock: pacing,
  });
  return { crawler, store, pacing };
}

describeMatrix('one crawler per database', (matrix) => {
  it('of two processes only the holder of the claim crawls; when it stops, the other resumes from its position', async () => {
    const world = await makeWorld(matrix);
    const [first, second] = await twoShares(world);
    const a = await process(world, 'node-a', steppedPacing());
    const b = await process(world, 'node-b', steppedPacing());
    // node-a is held at the prefix after the first share's, having adopted that share.
    const stopAt = PREFIXES[PREFIXES.indexOf(first.slice(0, 2)) + 1]!;
    const aHeld = a.store.holdAt(stopAt);
    a.crawler.start();
    await aHeld;

    b.crawler.start();
    await b.pacing.asleep();
    expect(b.crawler.running).toBe(true);
    expect(b.crawler.holding).toBe(false);
    const status = await b.crawler.status();
    expect(status.claim).toEqual({
      holder: 'node-a',
      claimedAt: world.clock.now(),
      expiresAt: world.clock.now() + TTL,
      live: true,
    });
    // It asks again a third of the time-to-live later, and waits again.
    b.pacing.wake();
    await b.pacing.asleep();
    expect(b.pacing.sleeps).toEqual([RENEW_MS, RENEW_MS]);
    expect(b.store.seen).toEqual([]);

    // node-a stops after the prefix in hand, and gives the claim up.
    const stopping = a.crawler.stop();
    a.store.release();
    await stopping;
    expect(await world.db.getCrawlerClaim('accounting')).toBeUndefined();
    const saved = await b.crawler.status();
    expect(saved).toMatchObject({ position: stopAt, claim: null });
    expect(saved.counters.adopted).toBe(1);

    // node-b takes over at once when it next asks, from the prefix after node-a's last.
    b.pacing.wake();
    await b.pacing.asleep(); // the cycle is done; it waits out the minimum cycle
    const rest = PREFIXES.slice(PREFIXES.indexOf(stopAt) + 1);
    expect(b.store.seen).toEqual(rest);
    expect(b.crawler.holding).toBe(true);
    const after = await b.crawler.status();
    expect(after.history).toMatchObject([
      { cycle: 1, counters: expect.objectContaining({ adopted: 2, examined: 2 }) },
    ]);
    expect((await world.db.getShare(second, 0))?.state).toBe('stable');
    expect(after.claim).toMatchObject({ holder: 'node-b', live: true });

    // While it waits between cycles it keeps renewing its claim.
    world.clock.advance(100);
    b.pacing.wake();
    await b.pacing.asleep();
    expect((await world.db.getCrawlerClaim('accounting'))?.expiresAt).toBe(world.clock.now() + TTL);
    await b.crawler.stop();
    expect(await world.db.getCrawlerClaim('accounting')).toBeUndefined();
  });

  it('a crashed holder: its claim lapses unrenewed and the other process resumes from the saved position', async () => {
    const world = await makeWorld(matrix);
    await twoShares(world);
    // A process that saved its position at prefix 600 and died, its claim still running.
    const position = PREFIXES[600]!;
    await world.db.saveCrawlerState({
      name: 'accounting',
      cycle: 3,
      position,
      cycleStartedAt: world.clock.now(),
      counters: { examined: 5 },
    });
    expect(await world.db.claimCrawler('accounting', 'node-dead', TTL)).toBe(true);

    const b = await process(world, 'node-b', steppedPacing());
    b.crawler.start();
    await b.pacing.asleep();
    world.clock.advance(TTL - 1);
    b.pacing.wake();
    await b.pacing.asleep();
    expect(b.store.seen).toEqual([]); // one second left on the dead process's claim
    expect((await b.crawler.status()).claim).toMatchObject({ holder: 'node-dead', live: true });

    world.clock.advance(1);
    expect((await b.crawler.status()).claim).toMatchObject({ holder: 'node-dead', live: false });
    b.pacing.wake();
    await b.pacing.asleep();
    expect(b.store.seen).toEqual(PREFIXES.slice(601));
    const [cycle] = (await b.crawler.status()).history;
    expect(cycle).toMatchObject({ cycle: 3 });
    // Counted on from the saved counters: 5, and the shares after the saved position.
    expect(cycle?.counters.examined).toBe(5 + sharesAfter(position));
    expect((await world.db.getCrawlerClaim('accounting'))?.holder).toBe('node-b');
  });

  it('a holder stalled past its time-to-live loses the claim; its late save is refused, the position kept', async () => {
    const world = await makeWorld(matrix);
    const [first] = await twoShares(world);
    const a = await process(world, 'node-a', steppedPacing());
    const b = await process(world, 'node-b', steppedPacing());
    const stopAt = PREFIXES[PREFIXES.indexOf(first.slice(0, 2)) + 1]!;
    const aHeld = a.store.holdAt(stopAt);
    a.crawler.start();
    await aHeld; // node-a hangs in the middle of a prefix, renewing nothing

    b.crawler.start();
    await b.pacing.asleep();
    world.clock.advance(TTL);
    b.pacing.wake();
    await b.pacing.asleep(); // node-b took over and finished the cycle
    expect(b.store.seen[0]).toBe(PREFIXES[PREFIXES.indexOf(stopAt)]);
    const finished = await b.crawler.status();
    expect(finished).toMatchObject({ cycle: 2, position: null });

    // node-a wakes up, settles its prefix, and may not save: it waits for its turn instead.
    a.store.release();
    await a.pacing.asleep();
    expect(a.crawler.holding).toBe(false);
    expect(a.pacing.sleeps).toEqual([RENEW_MS]);
    const now = await b.crawler.status();
    expect(now).toMatchObject({ cycle: 2, position: null });
    expect(now.history.map((c) => c.cycle)).toEqual([1]);
    expect(now.claim?.holder).toBe('node-b');
  });

  it('runOnce takes the claim and gives it up; it refuses, naming the holder, while another live process holds it', async () => {
    const world = await makeWorld(matrix);
    expect(await world.db.claimCrawler('accounting', 'node-a', TTL)).toBe(true);
    const until = world.clock.now() + TTL;
    const crawler = world.crawler({ processId: 'node-b' });
    const refused = await crawler.runOnce().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CrawlerClaimedError);
    expect(refused).toMatchObject({ holder: 'node-a', expiresAt: until });
    expect((refused as Error).message).toBe(
      `cannot run the accounting crawler: process node-a holds it (until ${new Date(until * 1000).toISOString()} unless it renews it; it does while it crawls); one process crawls a database at a time`,
    );
    expect((await crawler.status()).cycle).toBe(1);

    world.clock.advance(TTL);
    expect((await crawler.runOnce()).cycle).toBe(1);
    expect(await world.db.getCrawlerClaim('accounting')).toBeUndefined();
    // Its own claim (say, left by a crash of this very process) is no obstacle.
    await world.db.claimCrawler('accounting', 'node-b', TTL);
    expect((await crawler.runOnce()).cycle).toBe(2);
  });

  it('refuses a malformed processId or claim time-to-live at construction', async () => {
    const world = await makeWorld(matrix);
    expect(() => world.crawler({ processId: 'no spaces' })).toThrow(/processId must be/);
    expect(() => world.crawler({ processId: '' })).toThrow(/processId must be/);
    expect(() => world.crawler({ claimTtlSeconds: 2 })).toThrow(RangeError);
    expect(() => world.crawler({ claimTtlSeconds: 86_401 })).toThrow(RangeError);
    expect(world.crawler().processId).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
  });
});

/** How many of the test's shares lie after `position` in the walk. */
function sharesAfter(position: string): number {
  const indexes = [storageIndex('election-early'), storageIndex('election-late')];
  return indexes.filter((si) => si.slice(0, 2) > position).length;
}
