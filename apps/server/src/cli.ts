import { existsSync, realpathSync, statSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { fileURLToPath } from 'node:url';
import {
  ACCOUNTING_MODES,
  type Accountant,
  AccountantError,
  APPROVAL_MODES,
  swissnumFor,
} from '@ostrom/accountant';
import { BackendError, type ShareBackend } from '@ostrom/backend';
import {
  type AccountRestoreReport,
  BACKUP_BLOB_PREFIX,
  BackupError,
  CrawlerClaimedError,
  type CrawlerProgress,
  type CrawlerStatus,
  type CycleReport,
  listBackups,
  makeBackup,
  parseBackupName,
  readCrawlerStatus,
} from '@ostrom/crawler';
import { GsdError, type SlotServer } from '@ostrom/gsd-client';
import {
  ACCOUNT_STATUSES,
  type Account as AccountRow,
  type AccountStatus,
  type AccountWithUsage,
  type LeaseDb,
  LeaseDbError,
} from '@ostrom/leasedb';
import {
  base32Decode,
  base32Encode,
  createStorageClient,
  generateAccountKey,
  ProtocolError,
  parseNurl,
  publicKeyFromPrivate,
  StorageClientError,
  signAccountRequest,
} from '@ostrom/protocol';
import cliProgress from 'cli-progress';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import { prettyFactory } from 'pino-pretty';
import {
  type AccountListEntry,
  AccountListError,
  importAccounts,
  PUBLIC_KEY_FORMS,
  parseAccountList,
  parsePublicKey,
} from './admin/account-list.js';
import { accountUsageReport, serverUsageReport, usageRow } from './admin/api.js';
import { isoTime, keyValues, table } from './cli-format.js';
import { registerGridCommands } from './cli-grid.js';
import { type GsdCliContext, introductionArg, registerGsdCommands } from './cli-gsd.js';
import { BACKEND_KINDS, type ConfigValues, DEFAULT_PORT } from './config.js';
import { NodeError, UsageError } from './errors.js';
import { type Ask, checkServices, provideS3Credentials } from './init-checks.js';
import { initNode, type LoadedNode, loadNode, nodePath } from './node-dir.js';
import { assertNotRunning } from './pid-file.js';
import {
  deletionHoldFor,
  describeRestore,
  dropClaimOfBackup,
  finishRecovery,
  reconcileNow,
  recordRestore,
  replaceDatabase,
} from './recovery.js';
import {
  createNodeAccountant,
  nodeFurl,
  nodeNurl,
  openNodeBackend,
  openNodeDatabase,
  serversYaml,
  startNode,
} from './server.js';
import { formatSize, parseDuration, parseSize } from './size.js';
import { VERSION } from './version.js';

/** Where a CLI run writes and what it may use from its surroundings (injected in tests). */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env?: NodeJS.ProcessEnv;
  /** Whether stdout is a terminal (pretty logs by default). */
  readonly isTTY?: boolean;
  /** Waits between account-request retries (default a timer). */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Unix seconds (default the system clock). */
  readonly now?: () => number;
  /** `ostrom run` serves until this resolves (default: SIGTERM or SIGINT). */
  readonly stopSignal?: () => Promise<string>;
  /**
   * A terminal where `ostrom db rebuild` draws its progress bar (default stderr when it is a
   * terminal); without one, progress is printed to stderr a line per tenth.
   */
  readonly progressStream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /**
   * Asks the operator on the terminal (`ostrom init --backend s3` asks for the S3 credentials
   * when the environment has none). Default: when stdin is a terminal; else nothing is asked.
   */
  readonly ask?: Ask;
  /** How the gsd and grid commands reach a storage server (default HTTPS, 10 s a request). */
  readonly connectSlotServer?: (nurl: string) => SlotServer;
}

/** Exit codes: 0 done, 1 failed, 2 bad arguments, 3 account request pending. */
export const EXIT = { ok: 0, failed: 1, usage: 2, pending: 3 } as const;

function defaultStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

// ---------------------------------------------------------------------------- argument parsers

function intArg(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer ${min}–${max}`);
    }
    return n;
  };
}
const accountIdArg = intArg(0, Number.MAX_SAFE_INTEGER);

function sizeArg(value: string): string {
  if (parseSize(value) === undefined) {
    throw new InvalidArgumentError('expected a size such as 5GB, 512MiB or a number of bytes');
  }
  return value;
}

/** A quota: bytes, or `none`. Commander drops a null from a parser, so `none` stays a word here. */
function quotaArg(value: string): number | 'none' {
  if (value === 'none') return 'none';
  const bytes = parseSize(value);
  if (bytes === undefined) {
    throw new InvalidArgumentError('expected a size such as 5GB, 512MiB, or "none"');
  }
  return bytes;
}

function quotaValue(value: number | 'none'): number | null;
function quotaValue(value: number | 'none' | undefined): number | null | undefined;
function quotaValue(value: number | 'none' | undefined): number | null | undefined {
  return value === 'none' ? null : value;
}

function durationArg(value: string): string {
  if (parseDuration(value) === undefined) {
    throw new InvalidArgumentError('expected a duration such as 31d, 12h or seconds');
  }
  return value;
}

/** A public key as 64 hex digits (the database's form) or 52 base32 characters. */
function publicKeyArg(value: string): string {
  const key = parsePublicKey(value);
  if (key === undefined) {
    throw new InvalidArgumentError(`expected an Ed25519 public key: ${PUBLIC_KEY_FORMS}`);
  }
  return key;
}

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

// ---------------------------------------------------------------------------- output helpers

function quotaText(bytes: number | null): string {
  return bytes === null ? 'none' : formatSize(bytes);
}

function accountJson(account: AccountRow | AccountWithUsage) {
  return account;
}

/** The columns `usage` and `accounts list` share, and their cells for one account. */
const USAGE_HEAD = ['id', 'nickname', 'status', 'shares', 'used', 'hard quota'];
function usageCells(row: ReturnType<typeof usageRow>): (string | number)[] {
  return [
    row.id,
    row.nickname,
    row.status,
    row.shares,
    formatSize(row.bytes),
    quotaText(row.hardQuotaBytes),
  ];
}

// ---------------------------------------------------------------------------- node access

interface Operator {
  readonly node: LoadedNode;
  readonly db: LeaseDb;
  readonly backend: ShareBackend;
  readonly accountant: Accountant;
}

/**
 * A SQLite database that is missing while the store holds backups of it was lost, not never
 * made: creating an empty one here would hide the loss from the next start (which restores the
 * newest backup), so operator commands refuse instead.
 */
async function refuseLostDatabase(node: LoadedNode, backend: ShareBackend): Promise<void> {
  const { database } = node.config;
  if (database.kind !== 'sqlite') return;
  const path = nodePath(node.dir, database.path);
  if (existsSync(path)) return;
  const backups = await listBackups(backend);
  if (backups.length === 0) return;
  throw new NodeError(
    'DATABASE_LOST',
    `the database ${path} is missing and the store holds ${backups.length} backup${backups.length === 1 ? '' : 's'} of it: start the node (it restores the newest and reconciles it with the store) or run \`ostrom db rebuild\``,
  );
}

/**
 * Opens the node's own database for an operator command. It works whether the server runs or
 * not: SQLite write transactions take the file lock at BEGIN IMMEDIATE and wait for the
 * server's (busy timeout); PostgreSQL serialises as usual. The backend is opened without a
 * probe: operator commands touch it only for backups.
 */
async function withOperator<T>(
  dir: string,
  env: NodeJS.ProcessEnv,
  fn: (op: Operator) => Promise<T>,
): Promise<T> {
  const node = await loadNode(dir);
  const backend = await openNodeBackend(node, { env });
  try {
    await refuseLostDatabase(node, backend);
    const db = await openNodeDatabase(node);
    try {
      return await fn({ node, db, backend, accountant: createNodeAccountant(node, db, backend) });
    } finally {
      await db.close().catch(() => undefined);
    }
  } finally {
    await backend.close().catch(() => undefined);
  }
}

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

/** Seconds for people: `45 s`, `12 min`, `3 h 10 min`, `2 d 4 h` (rounded to the unit shown). */
export function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  // Rounded before it is split, so that 59 min 50 s is "1 h 0 min", never "60 min".
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 24 * 60) return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  const hours = Math.round(s / 3600);
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

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

/**
 * `--adopt PATH`: the Tahoe-LAFS storage directory (the one holding `shares/`, which is what the
 * disk backend's root is), or its `shares/` directory itself.
 */
function tahoeStorageRoot(path: string): string {
  const given = resolve(path);
  const isDir = (p: string) => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  };
  if (isDir(join(given, 'shares'))) return given;
  if (basename(given) === 'shares' && isDir(given)) return dirname(given);
  throw new UsageError(
    `--adopt: ${given} is not a Tahoe-LAFS storage directory (no shares/ in it): give the node's storage/ directory or its shares/`,
  );
}

async function requireAccount(db: LeaseDb, id: number): Promise<AccountRow> {
  const account = await db.getAccount(id);
  if (!account) throw new NodeError('CONFIG_INVALID', `no account ${id}`);
  return account;
}

function defaultNodeDir(env: NodeJS.ProcessEnv): string {
  return env.OSTROM_DIR ?? join(homedir(), '.ostrom');
}

function defaultKeyFile(env: NodeJS.ProcessEnv): string {
  const config = env.XDG_CONFIG_HOME ?? join(homedir(), '.config');
  return join(config, 'ostrom', 'account.key');
}

/** Reads the account key file, or creates it (0600, in a 0700 directory) with a new key. */
async function accountKey(
  file: string,
): Promise<{ privateKey: Uint8Array; publicKey: Uint8Array; created: boolean }> {
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text !== undefined) {
    const seed = base32Decode(text.trim());
    if (seed?.length !== 32) {
      throw new NodeError(
        'NODE_DAMAGED',
        `${file} is not an Ostrom account key (32 bytes of base32)`,
      );
    }
    return { privateKey: seed, publicKey: publicKeyFromPrivate(seed), created: false };
  }
  const key = generateAccountKey();
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${base32Encode(key.privateKey)}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  return { ...key, created: true };
}

// ---------------------------------------------------------------------------- the program

function buildProgram(io: CliIo, result: { code: number }): Command {
  const env = io.env ?? process.env;
  const now = io.now ?? (() => Math.floor(Date.now() / 1000));
  const out = io.stdout;
  const program = new Command('ostrom');
  program
    .description('An Ostrom storage node for Tahoe-LAFS grids, and its operator commands')
    .version(VERSION)
    .option('-d, --node-dir <DIR>', 'the node directory (default $OSTROM_DIR or ~/.ostrom)')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .configureHelp({ showGlobalOptions: true });
  // Every subcommand shares the exit override and output, so tests see everything.
  const command = (parent: Command, nameAndArgs: string, description: string) =>
    parent
      .command(nameAndArgs)
      .description(description)
      .exitOverride()
      .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  const nodeDir = (cmd: Command, positional?: string): string =>
    resolve(
      positional ?? cmd.optsWithGlobals<{ nodeDir?: string }>().nodeDir ?? defaultNodeDir(env),
    );
  const json = (cmd: Command) => cmd.opts<{ json?: boolean }>().json === true;
  const print = (cmd: Command, value: unknown, human: () => string) =>
    out(json(cmd) ? `${JSON.stringify(value, null, 2)}\n` : human());

  // ------------------------------------------------------------------ init
  command(program, 'init', 'create a node directory (config, TLS key, secrets) and print its NURL')
    .argument('[DIR]', 'the node directory to create')
    .option('--nickname <NAME>', 'shown to clients')
    .option('--listen <ADDR>', 'listen address (default 127.0.0.1)')
    .option('--port <N>', `storage port (default ${DEFAULT_PORT})`, intArg(1, 65535))
    .option('--hostname <HOST>', 'public host name written into NURLs (default the listen address)')
    .option('--reserved-space <SIZE>', 'space kept free on the disk', sizeArg)
    .addOption(new Option('--backend <KIND>', 'where shares are kept').choices(BACKEND_KINDS))
    .option('--storage-path <PATH>', 'disk backend directory (default storage/)')
    .option(
      '--adopt <PATH>',
      'serve an existing Tahoe-LAFS storage directory (its storage/ or shares/) in place: the first start adopts every share with its leases',
    )
    .option('--s3-bucket <NAME>', 's3 backend: the bucket (must exist)')
    .option('--s3-endpoint <URL>', 's3 backend: endpoint of an S3-compatible server (default AWS)')
    .option('--s3-region <REGION>', 's3 backend: region (default us-east-1)')
    .option('--s3-prefix <PREFIX>', 's3 backend: key prefix such as node-1/')
    .option('--database <URL>', 'a postgres:// URL (default: SQLite leasedb.sqlite in the node)')
    .addOption(new Option('--mode <MODE>', 'accounting mode').choices(ACCOUNTING_MODES))
    .addOption(new Option('--approval <HOW>', 'account requests granted').choices(APPROVAL_MODES))
    .option('--hard-quota <SIZE>', 'default hard quota of new accounts', sizeArg)
    .option('--soft-quota <SIZE>', 'default soft quota of new accounts', sizeArg)
    .option('--lease-duration <DURATION>', 'lease duration (default 31d)', durationArg)
    .option(
      '--introduction <TEXT>',
      "a grid's introduction text ([gsd] introduction): the node announces itself there",
      introductionArg,
    )
    .option('--json', 'machine-readable output')
    .action(
      async (
        dirArg: string | undefined,
        o: Record<string, string | number | undefined>,
        cmd: Command,
      ) => {
        const backend = o.backend as ConfigValues['backend'];
        const s3Given = [o.s3Bucket, o.s3Endpoint, o.s3Region, o.s3Prefix].some(
          (v) => v !== undefined,
        );
        if (backend !== 's3' && s3Given) throw new UsageError('--s3-* options need --backend s3');
        if (backend === 's3' && o.s3Bucket === undefined)
          throw new UsageError('--backend s3 needs --s3-bucket');
        if (backend === 's3' && o.storagePath !== undefined)
          throw new UsageError('--storage-path is for --backend disk');
        if (o.adopt !== undefined && backend === 's3')
          throw new UsageError('--adopt is for the disk backend (a Tahoe-LAFS storage directory)');
        if (o.adopt !== undefined && o.storagePath !== undefined)
          throw new UsageError('give --adopt or --storage-path, not both');
        const adopt = o.adopt === undefined ? undefined : tahoeStorageRoot(String(o.adopt));
        const str = (v: string | number | undefined) => (v === undefined ? undefined : String(v));
        const values: ConfigValues = {
          nickname: str(o.nickname),
          listen: str(o.listen),
          port: o.port as number | undefined,
          publicHostname: str(o.hostname),
          reservedSpace: str(o.reservedSpace),
          backend,
          diskPath: adopt ?? str(o.storagePath),
          ...(backend === 's3'
            ? {
                s3: {
                  bucket: String(o.s3Bucket),
                  endpoint: str(o.s3Endpoint),
                  region: str(o.s3Region),
                  prefix: str(o.s3Prefix),
                },
              }
            : {}),
          databaseUrl: str(o.database),
          mode: o.mode as ConfigValues['mode'],
          approval: o.approval as ConfigValues['approval'],
          defaultHardQuota: str(o.hardQuota),
          defaultSoftQuota: str(o.softQuota),
          leaseDuration: str(o.leaseDuration),
          gsdIntroduction: str(o.introduction),
        };
        const node = await initNode(nodeDir(cmd, dirArg), values);
        const credentials = await provideS3Credentials(node, env, io.ask);
        // A bucket or database named wrongly is said now, not at the first `ostrom run`; the
        // directory stays, to be fixed (ostrom.toml, private/s3-credentials) and started.
        const problems = await checkServices(node, env);
        if (problems.length > 0) result.code = EXIT.failed;
        // The NURL needs only the secret and the certificate; no database is opened.
        const { swissnumFor } = createSwissnums(node);
        const nurl = nodeNurl(node, { swissnumFor }, 0);
        const furl = nodeFurl(node, { swissnumFor });
        print(
          cmd,
          {
            dir: node.dir,
            serverId: node.serverId,
            nurl,
            furl,
            serversYaml: serversYaml(node, nurl, furl),
            ...(adopt === undefined ? {} : { adopted: adopt }),
            ...(credentials === undefined ? {} : { s3CredentialsFrom: credentials }),
            problems,
          },
          () =>
            [
              `Created the node ${node.dir}`,
              `server id: ${node.serverId}`,
              `NURL:      ${nurl}`,
              `fURL:      ${furl}`,
              '',
              'A Tahoe-LAFS client uses this node with this block in its private/servers.yaml:',
              '',
              serversYaml(node, nurl, furl),
              ...(adopt === undefined
                ? []
                : [
                    `Its shares are those of the Tahoe-LAFS storage directory ${adopt}: the first start adopts`,
                    'every share with the leases in it before it serves (stop the Tahoe server first).',
                  ]),
              ...(credentials === undefined
                ? []
                : [
                    `Wrote the S3 credentials ${credentials === 'environment' ? 'of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY' : 'given'} into private/s3-credentials (mode 0600).`,
                  ]),
              ...(problems.length === 0
                ? [`Start it with: ostrom run ${node.dir}`]
                : [
                    'It cannot start yet:',
                    ...problems.map((problem) => `  - ${problem}`),
                    `Fix this (ostrom.toml, private/), then start it with: ostrom run ${node.dir}`,
                  ]),
              '',
            ].join('\n'),
        );
      },
    );

  // ------------------------------------------------------------------ run
  command(program, 'run', 'serve the node until SIGTERM or SIGINT')
    .argument('[DIR]', 'the node directory')
    .option(
      '--init',
      'create the node directory first when it has none (the defaults: SQLite + disk)',
    )
    .option('--pretty', 'readable logs (default when stdout is a terminal)')
    .option('--json-logs', 'one JSON object a line even on a terminal')
    .action(
      async (
        dirArg: string | undefined,
        o: { init?: boolean; pretty?: boolean; jsonLogs?: boolean },
        cmd: Command,
      ) => {
        const dir = nodeDir(cmd, dirArg);
        if (o.init && !existsSync(join(dir, 'ostrom.toml'))) {
          const node = await initNode(dir, {});
          io.stderr(`Created the node ${node.dir}\n`);
        }
        const pretty = o.pretty === true || (io.isTTY === true && o.jsonLogs !== true);
        const prettify = pretty ? prettyFactory({ colorize: io.isTTY === true }) : undefined;
        const logger = pino(
          { base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
          { write: (line: string) => out(prettify ? prettify(line) : line) },
        );
        // Listen for the stop signal before starting: a SIGTERM that arrives while the node
        // starts must stop it cleanly, not kill the process.
        const stopSignal = (io.stopSignal ?? defaultStopSignal)();
        const running = await startNode(dir, { logger });
        io.stderr(`Serving. Anonymous NURL: ${running.nurl}\n`);
        const signal = await stopSignal;
        logger.info({ signal }, 'shutting down');
        await running.close();
      },
    );

  // ------------------------------------------------------------------ accounts
  const accounts = command(
    program,
    'accounts',
    "manage the node's accounts (works whether it runs or not)",
  );
  const actor = 'cli';

  command(accounts, 'list', 'list accounts with their usage')
    .addOption(
      new Option('--status <STATUS>', 'only accounts with this status').choices(ACCOUNT_STATUSES),
    )
    .option('--search <TEXT>', 'only accounts whose nickname contains this')
    .option('--limit <N>', 'at most this many (default 1000)', intArg(1, 100_000))
    .option('--json', 'machine-readable output')
    .action(
      async (o: { status?: AccountStatus; search?: string; limit?: number }, cmd: Command) => {
        await withOperator(nodeDir(cmd), env, async ({ db }) => {
          const page = await db.listAccounts({
            ...(o.status ? { status: o.status } : {}),
            ...(o.search ? { search: o.search } : {}),
            limit: o.limit ?? 1000,
          });
          print(
            cmd,
            page.accounts.map(accountJson),
            () =>
              table(
                [...USAGE_HEAD, 'soft quota', 'public key'],
                page.accounts.map((a) => [
                  ...usageCells(usageRow(a)),
                  quotaText(a.softQuotaBytes),
                  a.publicKey ? `${a.publicKey.slice(0, 16)}…` : '-',
                ]),
              ) +
              (page.total > page.accounts.length
                ? `(${page.accounts.length} of ${page.total})\n`
                : ''),
          );
        });
      },
    );

  command(accounts, 'show', 'one account: status, quota, usage, NURL')
    .argument('<ID>', 'account id', accountIdArg)
    .option('--json', 'machine-readable output')
    .action(async (id: number, _o: unknown, cmd: Command) => {
      await withOperator(nodeDir(cmd), env, async ({ node, db, accountant }) => {
        const account = await requireAccount(db, id);
        const usage = (await db.getAccountUsage(id)) ?? { shares: 0, bytes: 0 };
        const attributes = await db.getAccountAttributes(id);
        const nurl = account.status === 'deleted' ? null : nodeNurl(node, accountant, id);
        print(cmd, { ...account, usage, attributes, nurl }, () =>
          keyValues([
            ['id', account.id],
            ['nickname', account.nickname],
            ['status', account.status],
            ['public key', account.publicKey ?? '-'],
            ['created', isoTime(account.createdAt)],
            ['shares', usage.shares],
            ['used', formatSize(usage.bytes)],
            ['hard quota', quotaText(account.hardQuotaBytes)],
            ['soft quota', quotaText(account.softQuotaBytes)],
            ...Object.entries(attributes).map(([k, v]): [string, string] => [k, v]),
            ['NURL', nurl ?? '-'],
          ]),
        );
      });
    });

  const statusCommand = (
    name: string,
    description: string,
    change: (a: Accountant, id: number, reason: string | undefined) => Promise<AccountRow>,
    { withReason = false } = {},
  ) => {
    const cmd = command(accounts, name, description).argument('<ID>', 'account id', accountIdArg);
    if (withReason)
      cmd.option('--reason <TEXT>', 'why, for the activity log (at most 200 characters)');
    return cmd
      .option('--json', 'machine-readable output')
      .action(async (id: number, o: { reason?: string }, cmd: Command) => {
        await withOperator(nodeDir(cmd), env, async ({ accountant }) => {
          const account = await change(accountant, id, o.reason);
          print(
            cmd,
            account,
            () => `account ${account.id} (${account.nickname}): ${account.status}\n`,
          );
        });
      });
  };
  const why = (reason: string | undefined) => ({
    actor,
    ...(reason === undefined ? {} : { reason }),
  });
  statusCommand('approve', 'approve a pending account', (a, id) => a.approveAccount(id, { actor }));
  statusCommand(
    'refuse',
    "refuse a pending account's request: it becomes disabled, and its key is answered refused",
    (a, id, reason) => a.refuseAccount(id, why(reason)),
    { withReason: true },
  );
  statusCommand(
    'freeze',
    'freeze an account: it may read, not write',
    (a, id, reason) => a.setAccountStatus(id, 'frozen', why(reason)),
    { withReason: true },
  );
  statusCommand('thaw', 'return a frozen or disabled account to normal', (a, id) =>
    a.setAccountStatus(id, 'normal', { actor }),
  );
  statusCommand(
    'disable',
    'disable an account: no reads, no writes',
    (a, id, reason) => a.setAccountStatus(id, 'disabled', why(reason)),
    { withReason: true },
  );
  statusCommand('delete', 'delete an account: its shares go after the grace period', (a, id) =>
    a.setAccountStatus(id, 'deleted', { actor }),
  );

  command(accounts, 'rename', 'give an account another nickname')
    .argument('<ID>', 'account id', accountIdArg)
    .argument('<NICKNAME>', 'its new nickname')
    .option('--json', 'machine-readable output')
    .action(async (id: number, nickname: string, _o: unknown, cmd: Command) => {
      await withOperator(nodeDir(cmd), env, async ({ accountant }) => {
        const account = await accountant.renameAccount(id, nickname, { actor });
        print(cmd, account, () => `account ${account.id} is now ${account.nickname}\n`);
      });
    });

  command(accounts, 'set-quota', 'set an account\'s quotas ("none" removes one)')
    .argument('<ID>', 'account id', accountIdArg)
    .option('--hard <SIZE>', 'allocations past this are refused', quotaArg)
    .option('--soft <SIZE>', 'crossing 80% and 100% of this warns', quotaArg)
    .option('--json', 'machine-readable output')
    .action(
      async (
        id: number,
        given: { hard?: number | 'none'; soft?: number | 'none' },
        cmd: Command,
      ) => {
        if (given.hard === undefined && given.soft === undefined)
          throw new UsageError('give --hard, --soft or both');
        const o = { hard: quotaValue(given.hard), soft: quotaValue(given.soft) };
        await withOperator(nodeDir(cmd), env, async ({ db, accountant }) => {
          const current = await requireAccount(db, id);
          const hardBytes = o.hard === undefined ? current.hardQuotaBytes : o.hard;
          const softBytes = o.soft === undefined ? current.softQuotaBytes : o.soft;
          if (hardBytes !== null && softBytes !== null && softBytes > hardBytes) {
            throw new UsageError('the soft quota must not exceed the hard quota');
          }
          const account = await accountant.setAccountQuota(id, { hardBytes, softBytes }, { actor });
          print(
            cmd,
            account,
            () =>
              `account ${account.id} (${account.nickname}): hard quota ${quotaText(account.hardQuotaBytes)}, soft quota ${quotaText(account.softQuotaBytes)}\n`,
          );
          // Allowed (an operator may stop an account's growth this way), but never silently.
          const usage = (await db.getAccountUsage(id)) ?? { shares: 0, bytes: 0 };
          if (hardBytes !== null && usage.bytes > hardBytes) {
            io.stderr(
              `ostrom: warning: account ${id} holds ${formatSize(usage.bytes)}, more than its hard quota of ${formatSize(hardBytes)}: it can store nothing more until it holds less (nothing it holds is deleted)\n`,
            );
          }
        });
      },
    );

  command(accounts, 'add', 'pre-approve a public key: its account is active at once')
    .requiredOption('--pubkey <KEY>', 'Ed25519 public key (64 hex digits)', publicKeyArg)
    .requiredOption('--nickname <NAME>', 'a name for the account')
    .option('--hard <SIZE>', 'hard quota (default the config default)', quotaArg)
    .option('--soft <SIZE>', 'soft quota (default the config default)', quotaArg)
    .option('--json', 'machine-readable output')
    .action(
      async (
        given: { pubkey: string; nickname: string; hard?: number | 'none'; soft?: number | 'none' },
        cmd: Command,
      ) => {
        const o = { ...given, hard: quotaValue(given.hard), soft: quotaValue(given.soft) };
        await withOperator(nodeDir(cmd), env, async ({ node, accountant }) => {
          const account = await accountant.addAccount(
            {
              publicKey: o.pubkey,
              nickname: o.nickname,
              ...(o.hard === undefined ? {} : { hardQuotaBytes: o.hard }),
              ...(o.soft === undefined ? {} : { softQuotaBytes: o.soft }),
            },
            { actor },
          );
          const nurl = nodeNurl(node, accountant, account.id);
          print(
            cmd,
            { ...account, nurl },
            () => `account ${account.id} (${account.nickname}): ${account.status}\nNURL: ${nurl}\n`,
          );
        });
      },
    );

  command(accounts, 'import', 'pre-approve keys from a file: "pubkey nickname" a line, # comments')
    .argument('<FILE>', "the list (as Tahoe's planned storage-accounts.txt)")
    .option('--json', 'machine-readable output')
    .action(async (file: string, _o: unknown, cmd: Command) => {
      const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new UsageError(`cannot read ${file} (${error.code})`);
      });
      let entries: AccountListEntry[];
      try {
        entries = parseAccountList(text, file);
      } catch (error) {
        throw error instanceof AccountListError ? new UsageError(error.message) : error;
      }
      await withOperator(nodeDir(cmd), env, async ({ db, accountant }) => {
        const { added, existing } = await importAccounts(accountant, db, entries, actor);
        print(cmd, { added, existing }, () =>
          [
            ...added.map((a) => `added account ${a.id} (${a.nickname})`),
            ...existing.map((a) => `exists: account ${a.id} (${a.nickname}, ${a.status})`),
            `${added.length} added, ${existing.length} already present`,
            '',
          ].join('\n'),
        );
      });
    });

  // ------------------------------------------------------------------ usage, nurl, events
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

  // ------------------------------------------------------------------ crawler
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

  // ------------------------------------------------------------------ db
  /** What a rebuild did to the accounts, from their records in the store; nothing when nothing. */
  const accountsSummary = (report: AccountRestoreReport): string => {
    const parts = [
      report.created.length > 0 ? `${report.created.length} made again with their ids` : '',
      report.updated.length > 0 ? `${report.updated.length} set to their recorded state` : '',
      report.problems.length > 0
        ? `${report.problems.length} not applied (${report.problems.map((p) => `${p.accountId}: ${p.problem}`).join(', ')})`
        : '',
    ].filter(Boolean);
    return parts.length === 0 ? '' : `accounts from their records: ${parts.join(', ')}\n`;
  };
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
          const replaced = await replaceDatabase(path, backend, node.stateKey, {
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
            ? await replaceDatabase(path, backend, node.stateKey, {
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
              node,
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

  // ------------------------------------------------------------------ grid service directory
  const gsdContext: GsdCliContext = {
    stdout: out,
    stderr: io.stderr,
    env,
    now,
    command,
    nodeDir: (cmd) => nodeDir(cmd),
    json,
    print,
    result,
    ...(io.connectSlotServer ? { connect: io.connectSlotServer } : {}),
  };
  registerGsdCommands(program, gsdContext);
  registerGridCommands(program, gsdContext);

  // ------------------------------------------------------------------ client side
  const account = command(
    program,
    'account',
    'client side: obtain and inspect your account on a server',
  );

  command(account, 'request', 'ask a server for an account; prints its NURL')
    .argument('<NURL>', "the server's NURL (the anonymous one)")
    .option(
      '--key <FILE>',
      'your Ed25519 key, created if missing (default ~/.config/ostrom/account.key)',
    )
    .option('--nickname <NAME>', 'how the operator sees you (default this host name)')
    .option('--wait', 'while pending, wait and retry until approved or refused')
    .option('--json', 'machine-readable output')
    .action(
      async (
        nurl: string,
        o: { key?: string; nickname?: string; wait?: boolean },
        cmd: Command,
      ) => {
        const keyFile = resolve(o.key ?? defaultKeyFile(env));
        const key = await accountKey(keyFile);
        if (key.created && !json(cmd)) io.stderr(`created the account key ${keyFile}\n`);
        const nickname = (o.nickname ?? hostname()).slice(0, 64);
        const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
        const client = createStorageClient({ nurl });
        try {
          for (;;) {
            const signed = signAccountRequest(
              {
                // The server's id is its TLS key's pin, from the NURL (packages/protocol README).
                serverId: parseNurl(nurl).spkiHash,
                publicKey: key.publicKey,
                nickname,
                timestamp: now(),
                nonce: crypto.getRandomValues(new Uint8Array(16)),
              },
              key.privateKey,
            );
            const answer = await client.accounting.requestAccount(signed);
            const publicKey = Buffer.from(key.publicKey).toString('hex');
            if (answer.status === 'active') {
              print(cmd, { ...answer, publicKey }, () => `${answer.nurl}\n`);
              return;
            }
            if (answer.status === 'refused') {
              print(cmd, { ...answer, publicKey }, () => `refused: ${answer.reason}\n`);
              result.code = EXIT.failed;
              return;
            }
            const at = isoTime(now() + answer.retryAfterSeconds);
            if (!o.wait) {
              print(
                cmd,
                { ...answer, publicKey },
                () =>
                  `pending: retry after ${at} (${answer.retryAfterSeconds} s); your public key is ${publicKey}\n`,
              );
              result.code = EXIT.pending;
              return;
            }
            io.stderr(`pending: waiting ${answer.retryAfterSeconds} s, until ${at}\n`);
            await sleep(answer.retryAfterSeconds * 1000);
          }
        } finally {
          client.close();
        }
      },
    );

  command(account, 'usage', "your account's usage, status and quota")
    .argument('<NURL>', "your account's NURL")
    .option('--json', 'machine-readable output')
    .action(async (nurl: string, _o: unknown, cmd: Command) => {
      const client = createStorageClient({ nurl });
      try {
        const info = await client.accounting.getAccount();
        print(cmd, info, () =>
          keyValues([
            ['account', `${info.accountId} (${info.nickname})`],
            ['status', info.status],
            ['shares', info.shares],
            ['used', formatSize(info.bytes)],
            ['hard quota', quotaText(info.hardQuotaBytes)],
            ['soft quota', quotaText(info.softQuotaBytes)],
            ['lease duration', `${Math.round(info.leaseDurationSeconds / 86_400)} days`],
          ]),
        );
      } finally {
        client.close();
      }
    });

  return program;
}

/** Swissnums without a database: the Accountant derives them from the secret alone. */
/** Swissnums are a pure function of the server secret: no database needed to print a NURL. */
function createSwissnums(node: LoadedNode): Pick<Accountant, 'swissnumFor'> {
  return { swissnumFor: (id) => swissnumFor(node.serverSecret, id) };
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

function errorLine(error: unknown): { message: string; code: number } {
  if (error instanceof UsageError) return { message: error.message, code: EXIT.usage };
  if (
    error instanceof NodeError ||
    error instanceof BackupError ||
    error instanceof CrawlerClaimedError ||
    error instanceof AccountantError ||
    error instanceof LeaseDbError ||
    error instanceof StorageClientError ||
    error instanceof ProtocolError
  ) {
    return { message: error.message, code: EXIT.failed };
  }
  if (error instanceof GsdError) {
    // A cap or introduction text given wrong is a bad argument; the rest are failures (a
    // server down, a directory missing, a conflict with another writer).
    const usage = error.code === 'BAD_CAP' || error.code === 'BAD_INTRODUCTION';
    return { message: error.message, code: usage ? EXIT.usage : EXIT.failed };
  }
  if (error instanceof BackendError) {
    // The store's own error says what went wrong (a refused request, a refused connection).
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return { message: `the store: ${error.message}${cause}`, code: EXIT.failed };
  }
  if (error instanceof TypeError || error instanceof RangeError) {
    return { message: error.message, code: EXIT.usage };
  }
  return {
    message: error instanceof Error ? (error.stack ?? error.message) : String(error),
    code: EXIT.failed,
  };
}

/** Asks on stderr and reads a line from the terminal; a secret answer is not echoed. */
async function askOnTerminal(question: string, options: { secret: boolean }): Promise<string> {
  const terminal = createInterface({
    input: process.stdin,
    output: process.stderr,
    terminal: true,
  });
  try {
    const answer = terminal.question(question);
    if (options.secret) {
      // readline echoes what it reads through this method; after the question, nothing is.
      (terminal as unknown as { _writeToOutput: (text: string) => void })._writeToOutput = () =>
        undefined;
    }
    return await answer;
  } finally {
    terminal.close();
    if (options.secret) process.stderr.write('\n');
  }
}

/**
 * Runs the `ostrom` command line (`argv` without node and the script) and resolves to its exit
 * code: 0 done, 1 failed, 2 bad arguments, 3 account request pending. Output goes to `io`.
 */
export async function main(argv: readonly string[], io?: CliIo): Promise<number> {
  // The AWS SDK warns, on every client it builds, that Node 20 support ends in a later release:
  // it is pinned to a release that supports it (README: Node.js 20.19+), and an operator's
  // every command printing the warning says nothing they can act on.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const actualIo: CliIo = io ?? {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    isTTY: process.stdout.isTTY === true,
    ...(process.stderr.isTTY ? { progressStream: process.stderr } : {}),
    ...(process.stdin.isTTY ? { ask: askOnTerminal } : {}),
  };
  const result = { code: EXIT.ok as number };
  const program = buildProgram(actualIo, result);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return result.code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander printed its message (or the help) already.
      return error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
        ? EXIT.ok
        : EXIT.usage;
    }
    const { message, code } = errorLine(error);
    actualIo.stderr(`ostrom: ${message}\n`);
    return code;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await main(process.argv.slice(2));
}
