import { type CrawlerStatus, readCrawlerStatus } from '@ostrom/crawler';
import type { Command } from 'commander';
import { type CliContext, withOperator } from './cli-common.js';
import { formatSeconds, isoTime, keyValues, table } from './cli-format.js';
import { formatSize } from './size.js';

// `ostrom crawler status`: where the accounting crawler is, read from the node's database.

// ---------------------------------------------------------------------------- output helpers

const COUNTER_LABELS: readonly [keyof CrawlerStatus['counters'], string][] = [
  ['examined', 'shares examined'],
  ['adopted', 'adopted'],
  ['vanished', 'vanished'],
  ['deadUploads', 'dead uploads removed'],
  ['expired', 'leases expired'],
  ['deleted', 'deleted'],
  ['deleteFailures', 'failed deletions'],
  ['unleased', 'unleased (not deleted)'],
  ['corrupt', 'corrupt'],
  ['usageCorrected', 'usage totals corrected'],
];

function counterRows(counters: CrawlerStatus['counters']): [string, string | number][] {
  return [
    ...COUNTER_LABELS.map(([key, label]): [string, number] => [label, counters[key]]),
    ['bytes examined', formatSize(counters.bytes)],
  ];
}

/** `ostrom crawler status` for people. */
function crawlerStatusText(status: CrawlerStatus): string {
  const progress =
    status.cycleStartedAt === null
      ? `cycle ${status.cycle}: not started`
      : `cycle ${status.cycle}: ${status.percent}% (${status.prefixesDone}/${status.prefixesTotal} prefixes), started ${isoTime(status.cycleStartedAt)}${status.etaSeconds === null ? '' : `, about ${formatSeconds(status.etaSeconds)} left`}`;
  const history =
    status.history.length === 0
      ? 'no cycle has finished yet\n'
      : `last cycles:\n${table(
          [
            'cycle',
            'finished',
            'took',
            'examined',
            'adopted',
            'vanished',
            'expired',
            'deleted',
            'corrupt',
          ],
          status.history.map((c) => [
            c.cycle,
            isoTime(c.finishedAt),
            formatSeconds(c.finishedAt - c.startedAt),
            c.counters.examined,
            c.counters.adopted,
            c.counters.vanished,
            c.counters.expired,
            c.counters.deleted,
            c.counters.corrupt,
          ]),
        )}`;
  return `${progress}\n${claimText(status)}${holdText(status)}${status.cycleStartedAt === null ? '' : keyValues(counterRows(status.counters))}${history}`;
}

/** Which process crawls (one per database), as the claim says. */
function claimText({ claim }: CrawlerStatus): string {
  if (claim === null) return 'crawler: no process holds the claim (none is crawling)\n';
  return claim.live
    ? `crawler: process ${claim.holder} crawls (since ${isoTime(claim.claimedAt)}; its claim runs until ${isoTime(claim.expiresAt)} and is renewed while it crawls)\n`
    : `crawler: process ${claim.holder} stopped renewing its claim, which lapsed at ${isoTime(claim.expiresAt)}; the next process to look takes over\n`;
}

/** Whether deletion is held after a restore of the database. */
function holdText({ deletionHold: hold }: CrawlerStatus): string {
  if (hold === null) return '';
  const from = hold.backup === null ? 'with no backup' : `from ${hold.backup}`;
  return `deletion held until ${isoTime(hold.until)}: the database was restored ${from} at ${isoTime(hold.restoredAt)} (${hold.reason}), leases renewed since its backup are unknown; unleased shares are only counted until then\n`;
}

// ---------------------------------------------------------------------------- the commands

/** `ostrom crawler status`. */
export function registerCrawlerCommands(program: Command, ctx: CliContext): void {
  const { env, now, command, nodeDir, print } = ctx;
  const crawler = command(program, 'crawler', 'the accounting crawler');

  command(
    crawler,
    'status',
    'cycle, progress, ETA, counters and the last cycles (node running or not)',
  )
    .option('--json', 'machine-readable output')
    .action(async (_o: unknown, cmd: Command) => {
      await withOperator(nodeDir(cmd), env, async ({ node, db }) => {
        const status = await readCrawlerStatus(db, {
          now: now(),
          deletionGraceSeconds: node.config.crawler.deletionGraceSeconds,
        });
        print(cmd, status, () => crawlerStatusText(status));
      });
    });
}
