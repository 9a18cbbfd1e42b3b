import { accountUsageReport, serverUsageReport } from '@ostrom/accountant';
import type { Command } from 'commander';
import {
  accountIdArg,
  type CliContext,
  intArg,
  requireAccount,
  withOperator,
} from './cli-common.js';
import { isoTime, keyValues, quotaText, table, USAGE_HEAD, usageCells } from './cli-format.js';
import { NodeError, UsageError } from './errors.js';
import { nodeFurl, nodeNurl } from './server.js';
import { formatSize, parseDuration } from './size.js';

// `ostrom usage`, `ostrom nurl` and `ostrom events`: what the node's database says about its
// usage, its NURLs and its activity, read whether the node runs or not.

// ---------------------------------------------------------------------------- argument parsers

/** `--since`: Unix seconds, an ISO date, or a duration ago (`24h`, `7d`). */
function parseSince(value: string, now: number): number {
  if (/^\d{9,}$/.test(value)) return Number(value);
  const ago = parseDuration(value);
  if (ago !== undefined && /[smhdwy]$/i.test(value)) return now - ago;
  const ms = Date.parse(value);
  if (!Number.isNaN(ms)) return Math.floor(ms / 1000);
  throw new UsageError(
    `--since: expected Unix seconds, an ISO date or a duration such as 24h, got "${value}"`,
  );
}

// ---------------------------------------------------------------------------- the commands

/** `ostrom usage`, `ostrom nurl` and `ostrom events`. */
export function registerReportCommands(program: Command, ctx: CliContext): void {
  const { env, now, command, nodeDir, print } = ctx;
  command(program, 'usage', "the server's usage by account, or one account's")
    .argument('[ID]', 'account id', accountIdArg)
    .option('--json', 'machine-readable output')
    .action(async (id: number | undefined, _o: unknown, cmd: Command) => {
      await withOperator(nodeDir(cmd), env, async ({ db }) => {
        if (id !== undefined) {
          const report = await accountUsageReport(db, await requireAccount(db, id));
          print(cmd, report, () =>
            keyValues([
              ['account', `${id} (${report.nickname})`],
              ['status', report.status],
              ['shares', report.shares],
              ['used', formatSize(report.bytes)],
              ['hard quota', quotaText(report.hardQuotaBytes)],
              ['soft quota', quotaText(report.softQuotaBytes)],
            ]),
          );
          return;
        }
        const report = await serverUsageReport(db, 1000);
        print(
          cmd,
          report,
          () =>
            `server: ${report.server.shares} shares, ${formatSize(report.server.bytes)}\n` +
            table(USAGE_HEAD, report.accounts.map(usageCells)),
        );
      });
    });

  command(program, 'nurl', "print the anonymous NURL, or an account's")
    .option('--account <ID>', 'the NURL of this account', accountIdArg)
    .option('--json', 'machine-readable output (with the server id and fURL)')
    .action(async (o: { account?: number }, cmd: Command) => {
      await withOperator(nodeDir(cmd), env, async ({ node, db, accountant }) => {
        const id = o.account ?? 0;
        const account = await requireAccount(db, id);
        if (id === 1 || account.status === 'deleted') {
          throw new NodeError('CONFIG_INVALID', `account ${id} (${account.nickname}) has no NURL`);
        }
        const nurl = nodeNurl(node, accountant, id);
        print(
          cmd,
          { accountId: id, nurl, serverId: node.serverId, furl: nodeFurl(node, accountant) },
          () => `${nurl}\n`,
        );
      });
    });

  command(program, 'events', 'the activity log')
    .option('--since <T>', 'Unix seconds, an ISO date, or a duration ago such as 24h')
    .option('--account <ID>', 'only this account', accountIdArg)
    .option('--limit <N>', 'at most this many, newest (default 100)', intArg(1, 10_000))
    .option('--json', 'machine-readable output')
    .action(async (o: { since?: string; account?: number; limit?: number }, cmd: Command) => {
      const since = o.since === undefined ? undefined : parseSince(o.since, now());
      await withOperator(nodeDir(cmd), env, async ({ db }) => {
        const events = (
          await db.listEvents({
            ...(since === undefined ? {} : { since }),
            ...(o.account === undefined ? {} : { accountId: o.account }),
            order: 'desc',
            limit: o.limit ?? 100,
          })
        ).reverse();
        print(cmd, events, () =>
          table(
            ['time', 'kind', 'account', 'actor', 'details'],
            events.map((e) => [
              isoTime(e.at),
              e.kind,
              e.accountId ?? '-',
              e.actor ?? '-',
              [
                e.storageIndex && `${e.storageIndex}${e.shnum === null ? '' : `/${e.shnum}`}`,
                Object.keys(e.data).length ? JSON.stringify(e.data) : '',
              ]
                .filter(Boolean)
                .join(' '),
            ]),
          ),
        );
      });
    });
}
