// Helpers of crawler.bench.ts: share names, generation progress, timing, the crawl itself, rows
// and clean-up (see the header of crawler.bench.ts for what is measured).
import { randomBytes } from 'node:crypto';
import type { ShareBackend } from '@ostrom/backend';
import { openLeaseDb } from '@ostrom/leasedb';
import { base32 } from '@scure/base';
import { AccountingCrawler, type CycleReport } from '../src/index.js';

export const PER_SET = 4;
/** The bytes of every generated share (an immutable share of 64 bytes, no embedded lease). */
export const SHARE = new Uint8Array(64).fill(7);

/** A 16-byte storage index, base32 as Tahoe's; the first bytes spread sets over all prefixes. */
export function storageIndex(set: number): string {
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setUint32(0, Math.imul(set + 1, 2654435761) >>> 0);
  new DataView(bytes.buffer).setUint32(12, set);
  return base32.encode(bytes).toLowerCase().replace(/=+$/, '');
}

/** Share sets of PER_SET shares, the last one holding the remainder. */
export function setCount(shares: number): number {
  return Math.ceil(shares / PER_SET);
}

export function sharesInSet(set: number, shares: number): number {
  return Math.min(PER_SET, shares - set * PER_SET);
}

export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await fn();
  return [result, (performance.now() - start) / 1000];
}

/** Calls `fn(0)` … `fn(count - 1)` with at most `width` calls in flight. */
export async function forEachIndex(
  count: number,
  width: number,
  fn: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
}

export const fmt = (n: number) => n.toLocaleString('en');

/** Counts written shares and prints a line at every `step` of them, so a long run shows life. */
export function progress(label: string, total: number, step: number): (shares: number) => void {
  const start = performance.now();
  let done = 0;
  return (shares) => {
    const before = Math.floor(done / step);
    done += shares;
    if (Math.floor(done / step) > before || done === total) {
      const seconds = (performance.now() - start) / 1000;
      console.log(`  ${label}: ${fmt(done)} / ${fmt(total)} shares, ${seconds.toFixed(1)} s`);
    }
  };
}

export interface Crawled {
  readonly rebuild: CycleReport;
  readonly rebuildSeconds: number;
  readonly cycle: CycleReport;
  readonly cycleSeconds: number;
}

/**
 * One rebuild (runOnce on an empty SQLite lease database: every share adopted) and then one full
 * cycle with the database in agreement, both unpaced. The crawler gets a 32-byte state key as
 * the node passes it, so the rebuild also lists each prefix's owner records (none here: an empty
 * directory on disk, an empty listing on S3), as a real rebuild does.
 */
export async function crawl(
  label: string,
  backend: ShareBackend,
  databasePath: string,
): Promise<Crawled> {
  const leaseDb = await openLeaseDb({
    dialect: 'sqlite',
    path: databasePath,
    synchronous: 'normal',
  });
  try {
    const crawler = new AccountingCrawler({ leaseDb, backend, stateKey: randomBytes(32) });
    const run = (what: string) => {
      const start = performance.now();
      return crawler.runOnce({
        onProgress: ({ prefixesDone, prefixesTotal, counters }) => {
          if (prefixesDone % 256 !== 0) return;
          const seconds = ((performance.now() - start) / 1000).toFixed(1);
          console.log(
            `  ${label} ${what}: ${prefixesDone}/${prefixesTotal} prefixes, ${fmt(counters.examined)} shares, ${seconds} s`,
          );
        },
      });
    };
    const [rebuild, rebuildSeconds] = await timed(() => run('rebuild'));
    const [cycle, cycleSeconds] = await timed(() => run('cycle'));
    return { rebuild, rebuildSeconds, cycle, cycleSeconds };
  } finally {
    await leaseDb.close();
  }
}

/** Throws unless the crawl saw exactly the generated shares (else the figures mean nothing). */
export function checkCrawl(label: string, shares: number, listed: number, crawled: Crawled): void {
  const { rebuild, cycle } = crawled;
  const wrong = [
    listed !== shares && `the bare listing found ${fmt(listed)}`,
    rebuild.counters.adopted !== shares && `the rebuild adopted ${fmt(rebuild.counters.adopted)}`,
    rebuild.counters.corrupt !== 0 && `the rebuild found ${rebuild.counters.corrupt} corrupt`,
    cycle.counters.examined !== shares && `the cycle examined ${fmt(cycle.counters.examined)}`,
    cycle.counters.adopted !== 0 && `the cycle adopted ${fmt(cycle.counters.adopted)}`,
  ].filter(Boolean);
  if (wrong.length > 0) {
    throw new Error(`${label}: ${fmt(shares)} shares made, but ${wrong.join(', ')}`);
  }
}

/** The rows of one backend: each time and its ratio to that backend's own bare listing. */
export function printRows(
  label: string,
  baseline: { what: string; seconds: number },
  crawled: Crawled,
  cycleTarget?: number,
): void {
  const row = (what: string, seconds: number, note = '') =>
    `${label.padEnd(5)} ${what.padEnd(50)} ${seconds.toFixed(2).padStart(8)} s ${(seconds / baseline.seconds).toFixed(2).padStart(7)}x${note}`;
  const cycleRatio = crawled.cycleSeconds / baseline.seconds;
  const target =
    cycleTarget === undefined
      ? ''
      : `  (target ≤ ${cycleTarget}x: ${cycleRatio <= cycleTarget ? 'met' : 'MISSED'})`;
  console.log(row(baseline.what, baseline.seconds));
  console.log(
    row(
      `full cycle, database in agreement (${fmt(crawled.cycle.counters.examined)})`,
      crawled.cycleSeconds,
      target,
    ),
  );
  console.log(
    row(
      `rebuild from no database (${fmt(crawled.rebuild.counters.adopted)} adopted)`,
      crawled.rebuildSeconds,
    ),
  );
}

/**
 * Clean-up steps (temp dirs, the moto process), run in reverse order when the bench ends, fails
 * or is interrupted (SIGINT, SIGTERM).
 */
export class CleanUp {
  readonly #steps: (() => Promise<void>)[] = [];

  constructor() {
    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      process.once(signal, () => {
        console.error(`${signal}: cleaning up`);
        void this.run().finally(() => process.exit(code));
      });
    }
  }

  add(step: () => Promise<void>): void {
    this.#steps.push(step);
  }

  async run(): Promise<void> {
    for (let step = this.#steps.pop(); step; step = this.#steps.pop()) {
      await step().catch((error: unknown) => console.error('clean-up failed:', error));
    }
  }
}
