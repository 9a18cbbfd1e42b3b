import { hostname } from 'node:os';
import type { ShareBackend } from '@ostrom/backend';
import {
  type AccountRestoreReport,
  BACKUP_BLOB_PREFIX,
  type CrawlerProgress,
  type CycleReport,
  deletionHoldSeconds,
  describeRestore,
  dropClaimOfBackup,
  finishRecovery,
  listBackups,
  makeBackup,
  parseBackupName,
  type ReconcileOptions,
  reconcileNow,
  recordRestore,
  replaceDatabase,
} from '@ostrom/crawler';
import cliProgress from 'cli-progress';
import { type Command, InvalidArgumentError } from 'commander';
import { CLI_ACTOR, type CliContext, type CliIo, withOperator } from './cli-common.js';
import { formatSeconds, isoTime, table } from './cli-format.js';
import { NodeError, UsageError } from './errors.js';
import { type LoadedNode, loadNode, nodePath } from './node-dir.js';
import { assertNotRunning } from './pid-file.js';
import { openNodeBackend, openNodeDatabase } from './server.js';
import { formatSize } from './size.js';

// `ostrom db ...`: the lease database's backups (SQLite), its restore from one, and its rebuild
// from the store.

// ---------------------------------------------------------------------------- argument parsers

/** What `reconcileNow` takes from the node: its state key and `[crawler] deletion_grace`. */
function reconcileOptions(
  node: LoadedNode,
): Pick<ReconcileOptions, 'stateKey' | 'deletionGraceSeconds'> {
  return {
    stateKey: node.stateKey,
    deletionGraceSeconds: node.config.crawler.deletionGraceSeconds,
  };
}

/** How long after a restore the node's crawler deletes nothing (see `deletionHoldSeconds`). */
function deletionHoldFor(config: LoadedNode['config']): number {
  return deletionHoldSeconds(config.leases.durationSeconds, config.crawler.deletionGraceSeconds);
}

/** `--from`: a backup's blob name, or its file name without `leasedb/`. */
function backupArg(value: string): string {
  const name = value.startsWith(BACKUP_BLOB_PREFIX) ? value : `${BACKUP_BLOB_PREFIX}${value}`;
  if (parseBackupName(name) === undefined) {
    throw new InvalidArgumentError(
      'expected a backup name such as backup-001800000000.sqlite.gz (see `ostrom db backups`)',
    );
  }
  return name;
}

// ---------------------------------------------------------------------------- node access

/**
 * The node and its backend, without the database (backups, restore, rebuild). `probe`: one
 * request first, so an unreachable store is one line naming it (NodeError BACKEND_UNREACHABLE).
 */
async function withBackend<T>(
  dir: string,
  env: NodeJS.ProcessEnv,
  fn: (node: LoadedNode, backend: ShareBackend) => Promise<T>,
  options: { probe?: boolean } = {},
): Promise<T> {
  const node = await loadNode(dir);
  const backend = await openNodeBackend(node, { ...options, env });
  try {
    return await fn(node, backend);
  } finally {
    await backend.close().catch(() => undefined);
  }
}

/** The SQLite file of a node, or NodeError for PostgreSQL naming what does the job there. */
function sqlitePathOf(node: LoadedNode, what: string): string {
  const { database } = node.config;
  if (database.kind !== 'sqlite') {
    throw new NodeError(
      'CONFIG_INVALID',
      `${what} is for a SQLite lease database; this node's is on PostgreSQL ([database] url): use pg_dump and pg_restore, and \`ostrom db rebuild\` to reconcile it with the store`,
    );
  }
  return nodePath(node.dir, database.path);
}

/**
 * The id under which a CLI command claims the crawler (`db rebuild`): distinct from every server
 * process's, and shown to an operator who finds the claim taken.
 */
function cliProcessId(): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .slice(0, 40) || 'host';
  return `ostrom-cli-${host}-${process.pid}`.slice(0, 64);
}

// ---------------------------------------------------------------------------- output helpers

/**
 * Shows a reconciliation's progress: a bar (cli-progress) on a terminal, else a line per tenth
 * of the prefixes on stderr.
 */
function reconcileProgress(io: CliIo): {
  onProgress: (progress: CrawlerProgress) => void;
  done: () => void;
} {
  const stream = io.progressStream;
  if (stream?.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format:
          'reconciling [{bar}] {percentage}% | {value}/{total} prefixes | ETA {eta_formatted} | {examined} shares, {adopted} adopted',
        hideCursor: false,
        etaBuffer: 64,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      onProgress: (p) => {
        const payload = { examined: p.counters.examined, adopted: p.counters.adopted };
        if (!started) {
          bar.start(p.prefixesTotal, p.prefixesDone, payload);
          started = true;
        } else bar.update(p.prefixesDone, payload);
      },
      done: () => {
        if (started) bar.stop();
      },
    };
  }
  let logged = 0;
  return {
    onProgress: (p) => {
      const tenth = Math.floor((p.prefixesDone * 10) / p.prefixesTotal);
      if (tenth <= logged) return;
      logged = tenth;
      io.stderr(
        `reconciling: ${tenth * 10}% (${p.prefixesDone}/${p.prefixesTotal} prefixes), ${p.counters.examined} shares examined, ${p.counters.adopted} adopted\n`,
      );
    },
    done: () => undefined,
  };
}

function cycleSummary(cycle: CycleReport): string {
  const c = cycle.counters;
  return `reconciled with the store in ${formatSeconds(cycle.finishedAt - cycle.startedAt)}: ${c.examined} shares (${formatSize(c.bytes)}), ${c.adopted} adopted, ${c.vanished} vanished, ${c.deadUploads} dead uploads removed, ${c.corrupt} corrupt, ${c.expired} leases expired, ${c.unleased} unleased\n`;
}

/** What a rebuild did to the accounts, from their records in the store; nothing when nothing. */
function accountsSummary(report: AccountRestoreReport): string {
  const parts = [
    report.created.length > 0 ? `${report.created.length} made again with their ids` : '',
    report.updated.length > 0 ? `${report.updated.length} set to their recorded state` : '',
    report.problems.length > 0
      ? `${report.problems.length} not applied (${report.problems.map((p) => `${p.accountId}: ${p.problem}`).join(', ')})`
      : '',
  ].filter(Boolean);
  return parts.length === 0 ? '' : `accounts from their records: ${parts.join(', ')}\n`;
}

// ---------------------------------------------------------------------------- the commands

/** `ostrom db backup|backups|restore|rebuild`. */
export function registerDbCommands(program: Command, ctx: CliContext): void {
  const { io, env, now, command, nodeDir, json, print } = ctx;
  const actor = CLI_ACTOR;
  const database = command(
    program,
    'db',
    'the lease database: backups (SQLite), restore, rebuild from the store',
  );

  command(
    database,
    'backup',
    'back the database up into the backend now (works while the node runs)',
  )
    .option('--json', 'machine-readable output')
    .action(async (_o: unknown, cmd: Command) => {
      await withOperator(nodeDir(cmd), env, async ({ node, db, backend }) => {
        const report = await makeBackup({
          leaseDb: db,
          backend,
          stateKey: node.stateKey,
          keep: node.config.crawler.backupsKept,
          actor,
          now,
        });
        print(
          cmd,
          report,
          () =>
            `backed up the database to ${report.name} (${formatSize(report.databaseBytes)}, ${formatSize(report.compressedBytes)} compressed)${report.pruned.length > 0 ? `; removed ${report.pruned.length} older` : ''}\n`,
        );
      });
    });

  command(database, 'backups', 'list the backups kept in the backend, newest first')
    .option('--json', 'machine-readable output')
    .action(async (_o: unknown, cmd: Command) => {
      await withBackend(
        nodeDir(cmd),
        env,
        async (node, backend) => {
          // Backups in the store are of a SQLite database: on PostgreSQL, pg_dump makes them.
          sqlitePathOf(node, '`ostrom db backups`');
          const backups = await listBackups(backend);
          print(cmd, backups, () =>
            backups.length === 0
              ? 'no backups\n'
              : table(
                  ['name', 'taken'],
                  backups.map((b) => [
                    b.name.slice(BACKUP_BLOB_PREFIX.length),
                    isoTime(b.createdAt),
                  ]),
                ),
          );
        },
        { probe: true },
      );
    });

  command(
    database,
    'restore',
    'replace the database by a backup (node stopped); the node reconciles it at its next start',
  )
    .option('--from <NAME>', 'this backup (default: the newest that opens)', backupArg)
    .option('--json', 'machine-readable output')
    .action(async (o: { from?: string }, cmd: Command) => {
      const dir = nodeDir(cmd);
      await withBackend(
        dir,
        env,
        async (node, backend) => {
          const path = sqlitePathOf(node, 'db restore');
          await assertNotRunning(node.dir, 'restoring its database');
          const at = now();
          const replaced = await replaceDatabase({
            path,
            backend,
            stateKey: node.stateKey,
            label: 'replaced',
            reason: 'restore',
            at,
            requireBackup: true,
            ...(o.from === undefined ? {} : { from: o.from }),
          });
          // Deletion is held from now (and again from the reconciliation at the next start,
          // which the marker left by replaceDatabase asks for).
          const db = await openNodeDatabase(node, { now });
          try {
            await recordRestore(db, { reason: 'restore', backup: replaced.restored, at, actor });
          } finally {
            await db.close().catch(() => undefined);
          }
          const deletionHeldUntil = at + deletionHoldFor(node.config);
          const result = { ...replaced, deletionHeldUntil };
          print(cmd, result, () =>
            [
              describeRestore(result),
              ...result.movedAside.map((p) => `the previous database was kept as ${p}`),
              'the node reconciles it with the store when it next starts',
              `deletion of unleased shares is held until ${isoTime(deletionHeldUntil)} at least (a lease duration and the deletion grace, counted again from the reconciliation at the next start): leases renewed after the backup are unknown`,
              '',
            ].join('\n'),
          );
        },
        { probe: true },
      );
    });

  command(
    database,
    'rebuild',
    'replace the database by the newest backup (or an empty one), then reconcile it with the store (node stopped)',
  )
    .option(
      '--restored',
      'PostgreSQL: the database was restored with pg_restore; hold deletion as after any restore',
    )
    .option('--json', 'machine-readable output')
    .action(async (o: { restored?: boolean }, cmd: Command) => {
      const dir = nodeDir(cmd);
      await withBackend(
        dir,
        env,
        async (node, backend) => {
          await assertNotRunning(node.dir, 'rebuilding its database');
          const sqlite = node.config.database.kind === 'sqlite';
          if (sqlite && o.restored) {
            throw new UsageError(
              '--restored is for PostgreSQL databases restored with pg_restore; on SQLite, `db rebuild` restores the newest backup itself',
            );
          }
          const path = sqlite ? sqlitePathOf(node, 'db rebuild') : undefined;
          // PostgreSQL: no file to restore (pg_restore's job); the database is reconciled as it
          // is, under the crawler's claim: refused, naming the process, while another crawls it.
          const replaced = path
            ? await replaceDatabase({
                path,
                backend,
                stateKey: node.stateKey,
                label: 'replaced',
                reason: 'rebuild',
                at: now(),
              })
            : undefined;
          if (replaced && !json(cmd)) {
            io.stderr(`${describeRestore(replaced)}\n`);
            for (const p of replaced.movedAside)
              io.stderr(`the previous database was kept as ${p}\n`);
          }
          const db = await openNodeDatabase(node, { now });
          let cycle: Awaited<ReturnType<typeof reconcileNow>>;
          let deletionHeld = false;
          const progress = reconcileProgress(io);
          try {
            if (replaced?.restored) await dropClaimOfBackup(db);
            cycle = await reconcileNow({
              ...reconcileOptions(node),
              leaseDb: db,
              backend,
              processId: cliProcessId(),
              now,
              onProgress: progress.onProgress,
            });
            if (replaced || o.restored) {
              deletionHeld = await recordRestore(db, {
                reason: replaced ? 'rebuild' : 'pg-restore',
                backup: replaced?.restored,
                at: now(),
                actor,
                cycle,
              });
            }
          } finally {
            progress.done();
            await db.close().catch(() => undefined);
          }
          if (path) await finishRecovery(path);
          const deletionHeldUntil = deletionHeld ? now() + deletionHoldFor(node.config) : null;
          print(
            cmd,
            {
              restored: replaced?.restored ?? null,
              skipped: replaced?.skipped ?? [],
              movedAside: replaced?.movedAside ?? [],
              cycle,
              deletionHeldUntil,
            },
            () =>
              `${cycleSummary(cycle)}${accountsSummary(cycle.accounts)}${deletionHeldUntil === null ? '' : `deletion of unleased shares is held until ${isoTime(deletionHeldUntil)} (a lease duration and the deletion grace): leases renewed after the backup are unknown\n`}`,
          );
        },
        { probe: true },
      );
    });
}
