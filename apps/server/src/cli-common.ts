import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Accountant, AccountantError } from '@ostrom/accountant';
import { BackendError, type ShareBackend } from '@ostrom/backend';
import { BackupError, CrawlerClaimedError, listBackups } from '@ostrom/crawler';
import { GsdError, type SlotServer, type SlotServerPool } from '@ostrom/gsd-client';
import { type AccountRow, type LeaseDb, LeaseDbError } from '@ostrom/leasedb';
import { ProtocolError, StorageClientError } from '@ostrom/protocol';
import { type Command, InvalidArgumentError } from 'commander';
import type { Ask } from './cli-init-checks.js';
import { NodeError, UsageError } from './errors.js';
import { type LoadedNode, loadNode, nodePath } from './node-dir.js';
import { createNodeAccountant, openNodeBackend, openNodeDatabase } from './server.js';
import { parseDuration, parseSize } from './size.js';

// What every `ostrom` command module shares: the run's IO and exit codes, the context
// buildProgram hands each `register*Commands`, the parsers more than one group takes, and the
// node's database opened for an operator command.

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

/** The message and exit code of an error that ends a run (`ostrom: <message>` on stderr). */
export function errorLine(error: unknown): { message: string; code: number } {
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

// ---------------------------------------------------------------------------- the context

/** The actor the activity log names for what an operator does from the command line. */
export const CLI_ACTOR = 'cli';

/** What buildProgram hands every `register*Commands`. */
export interface CliContext {
  readonly io: CliIo;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** Unix seconds. */
  readonly now: () => number;
  /** Adds a subcommand sharing the program's exit override and output. */
  command(parent: Command, nameAndArgs: string, description: string): Command;
  /** The node directory: the command's `[DIR]` when given, else `-d`, $OSTROM_DIR, ~/.ostrom. */
  nodeDir(cmd: Command, positional?: string): string;
  json(cmd: Command): boolean;
  /** JSON with `--json`, else `human()`. */
  print(cmd: Command, value: unknown, human: () => string): void;
  /** The exit code of the run (set to 1 for a partial failure that still printed a result). */
  readonly result: { code: number };
  /** How servers are reached (tests may substitute); default HTTPS with a 10 s timeout. */
  readonly connect?: ConstructorParameters<typeof SlotServerPool>[0];
}

/** The context of one run; `result.code` is the exit code a command sets without failing. */
export function createCliContext(io: CliIo, result: { code: number }): CliContext {
  const env = io.env ?? process.env;
  const json = (cmd: Command) => cmd.opts<{ json?: boolean }>().json === true;
  return {
    io,
    stdout: io.stdout,
    stderr: io.stderr,
    env,
    now: io.now ?? (() => Math.floor(Date.now() / 1000)),
    // Every subcommand shares the exit override and output, so tests see everything.
    command: (parent, nameAndArgs, description) =>
      parent
        .command(nameAndArgs)
        .description(description)
        .exitOverride()
        .configureOutput({ writeOut: io.stdout, writeErr: io.stderr }),
    nodeDir: (cmd, positional) =>
      resolve(
        positional ?? cmd.optsWithGlobals<{ nodeDir?: string }>().nodeDir ?? defaultNodeDir(env),
      ),
    json,
    print: (cmd, value, human) =>
      io.stdout(json(cmd) ? `${JSON.stringify(value, null, 2)}\n` : human()),
    result,
    ...(io.connectSlotServer ? { connect: io.connectSlotServer } : {}),
  };
}

function defaultNodeDir(env: NodeJS.ProcessEnv): string {
  return env.OSTROM_DIR ?? join(homedir(), '.ostrom');
}

// ---------------------------------------------------------------------------- argument parsers

/** An integer option or argument in `min`–`max`. */
export function intArg(min: number, max: number): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer ${min}–${max}`);
    }
    return n;
  };
}

/** A quota: bytes, or `none`. Commander drops a null from a parser, so `none` stays a word here. */
export function quotaArg(value: string): number | 'none' {
  if (value === 'none') return 'none';
  const bytes = parseSize(value);
  if (bytes === undefined) {
    throw new InvalidArgumentError('expected a size such as 5GB, 512MiB, or "none"');
  }
  return bytes;
}

export function quotaValue(value: number | 'none'): number | null;
export function quotaValue(value: number | 'none' | undefined): number | null | undefined;
export function quotaValue(value: number | 'none' | undefined): number | null | undefined {
  return value === 'none' ? null : value;
}

/**
 * A nickname argument: 1 to 64 characters, none a control character (`\p{Cc}`, the account
 * request's rule, which is also within the lease database's).
 */
export function nicknameArg(value: string): string {
  if (value.length < 1 || value.length > 64 || /\p{Cc}/u.test(value)) {
    throw new InvalidArgumentError('a nickname is 1 to 64 characters, none of them a control');
  }
  return value;
}

/** A duration argument, in seconds (`90d`, `12h`, `3600`). */
export function durationArg(value: string): number {
  const seconds = parseDuration(value);
  if (seconds === undefined) {
    throw new InvalidArgumentError('not a duration: give a number with s, m, h, d, w or y (90d)');
  }
  return seconds;
}

/** An account id: a whole number from 0. */
export const accountIdArg = intArg(0, Number.MAX_SAFE_INTEGER);

// ---------------------------------------------------------------------------- node access

/** What an operator command works with: the node, its database, backend and accountant. */
export interface Operator {
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
export async function withOperator<T>(
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

/** The account `id`, or NodeError CONFIG_INVALID naming it when there is none. */
export async function requireAccount(db: LeaseDb, id: number): Promise<AccountRow> {
  const account = await db.getAccount(id);
  if (!account) throw new NodeError('CONFIG_INVALID', `no account ${id}`);
  return account;
}
