import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  connectSlotServer,
  type GridChange,
  type GridServer,
  GsdClient,
  type GsdProblem,
  parseIntroduction,
  SLOT_REQUEST_TIMEOUT_MS,
  type SlotServer,
  serversYaml,
} from '@ostrom/gsd-client';
import {
  createStorageClient,
  type Feed,
  ProtocolError,
  parseNurl,
  StorageClientError,
} from '@ostrom/protocol';
import { type Command, InvalidArgumentError } from 'commander';
import { isoTime, table } from './cli-format.js';
import { type GsdCliContext, introductionArg } from './cli-gsd.js';
import { NodeError, UsageError } from './errors.js';
import { readPrivateLine } from './node-dir.js';
import { formatSize } from './size.js';

// `ostrom grid ...`: the client side of the grid service directory. A client joins a grid with
// its introduction text and from then on asks for the grid's storage servers; the state lives in
// a directory of its own (not a node's), by default beside the account key in ~/.config/ostrom.

/** The files of a client's grid state directory. */
export const GRID_FILES = {
  /** The introduction text joined (one line). */
  introduction: 'introduction',
  /** GsdClient's state: the last good list of servers and the highest seqnums seen. */
  servers: 'servers.json',
} as const;

/**
 * The default state directory: `$XDG_CONFIG_HOME/ostrom/grid` (`~/.config/ostrom/grid`), beside
 * the account key of `ostrom account request`. A client's configuration, per user and not per
 * node (a client machine has no node directory); not a cache, since it holds the highest seqnums
 * seen, which is what refuses a server's rollback across runs, and the last servers known,
 * which is what lets a client start while every server is down.
 */
export function defaultGridDir(env: NodeJS.ProcessEnv): string {
  const config = env.XDG_CONFIG_HOME ?? join(homedir(), '.config');
  return join(config, 'ostrom', 'grid');
}

/** The introduction text joined, or undefined when no grid was joined in `dir`. */
function readIntroduction(dir: string): Promise<string | undefined> {
  return readPrivateLine(dir, GRID_FILES.introduction);
}

/** A server wrapper that notes which servers answered a read (so "nothing answered" is known). */
function noting(server: SlotServer, answered: Set<string>): SlotServer {
  return {
    nurl: server.nurl,
    serverId: server.serverId,
    read: async (storageIndex) => {
      const data = await server.read(storageIndex);
      answered.add(server.nurl);
      return data;
    },
    testAndWrite: (...args) => server.testAndWrite(...args),
    renewLease: (...args) => server.renewLease(...args),
    reachable: () => server.reachable(),
    close: () => server.close(),
  };
}

interface Refreshed {
  client: GsdClient;
  change: GridChange;
  problems: GsdProblem[];
  /** Whether any server answered this time (false: the list is the saved one). */
  answered: boolean;
}

/** The change as petnames, for people and for --json. */
function changeSummary(change: GridChange) {
  return {
    added: change.added.map((s) => s.petname),
    removed: change.removed.map((s) => s.petname),
    updated: change.updated.map(({ before, after }) => ({
      petname: after.petname,
      changed: changedFields(before, after),
    })),
  };
}

/** What differs between two versions of a server, by name. */
function changedFields(before: GridServer, after: GridServer): string[] {
  const fields: string[] = [];
  if (before.petname !== after.petname) fields.push('petname');
  if (before.reachable !== after.reachable) fields.push('reachable');
  const a = before.announcement;
  const b = after.announcement;
  for (const key of Object.keys(b) as (keyof typeof b)[]) {
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) fields.push(key);
  }
  if (fields.length === 0 && before.seqnum !== after.seqnum) fields.push('seqnum');
  return fields;
}

function serverRows(servers: readonly GridServer[]): string {
  if (servers.length === 0) return 'the directory lists no storage server yet\n';
  return table(
    ['petname', 'nickname', 'server id', 'NURL', 'available', 'answers'],
    servers.map(({ petname, announcement: a, reachable }) => [
      petname,
      a.nickname,
      `${a.serverId.slice(0, 13)}…`,
      a.nurls[0] ?? '-',
      formatSize(a.availableSpace),
      reachable ? 'yes' : 'NO',
    ]),
  );
}

function changeLines(change: GridChange): string[] {
  const summary = changeSummary(change);
  return [
    ...summary.added.map((p) => `added: ${p}`),
    ...summary.removed.map((p) => `removed: ${p}`),
    ...summary.updated.map((u) => `updated: ${u.petname} (${u.changed.join(', ')})`),
  ];
}

/** A NURL argument: one clear line (exit 2) if it is not one. */
function nurlArg(value: string): string {
  try {
    parseNurl(value.trim());
    return value.trim();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new InvalidArgumentError(error.message);
  }
}

/** Text from another node, safe on a terminal: control characters shown as U+FFFD. */
function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, '\uFFFD');
}

/** A failure to fetch a feed as one line saying what to do about it. */
function feedFailure(error: unknown, where: string): unknown {
  if (!(error instanceof StorageClientError)) return error;
  const say = (message: string) =>
    new StorageClientError(error.code, message, {
      cause: error,
      ...(error.status === undefined ? {} : { status: error.status }),
    });
  switch (error.code) {
    case 'HTTP_STATUS':
      if (error.status === 404) return say('the feed is not enabled on that node');
      if (error.status === 401) {
        return say(`${where} does not know that NURL (401: not one of its swissnums)`);
      }
      return say(
        `${where} answered ${error.status}: ${printable((error.body ?? '').trim().split('\n')[0] ?? '')}`,
      );
    case 'PIN_MISMATCH':
      return say(`${where} is not the node of that NURL: its TLS key does not match the NURL's`);
    case 'NETWORK': {
      const cause = error.cause instanceof Error ? error.cause.message : error.message;
      return say(`cannot reach ${where}: ${cause}`);
    }
    case 'TIMEOUT':
      return say(`cannot reach ${where}: ${error.message}`);
    case 'BAD_RESPONSE':
      return say(`${where} sent something other than a feed: ${error.message}`);
  }
}

/** The feed for people: the period, the digest's sentences, then a table of the accounts. */
function feedText(feed: Feed): string {
  const hours = Math.round((feed.until - feed.since) / 3600);
  const head = `${printable(feed.serverId)}: ${isoTime(feed.since)} to ${isoTime(feed.until)}\n`;
  const digest =
    feed.digest.length === 0
      ? '  nothing happened\n'
      : feed.digest.map((line) => `  ${printable(line)}\n`).join('');
  const accounts =
    feed.accounts.length === 0
      ? 'no account holds data\n'
      : table(
          ['nickname', 'shares', 'used', `uploaded (${hours} h)`],
          feed.accounts.map((a) => [
            printable(a.nickname),
            a.shares,
            formatSize(a.bytes),
            formatSize(a.uploadedBytes),
          ]),
        );
  const { totals } = feed;
  const shown = feed.truncated ? ` (the ${feed.accounts.length} largest shown)` : '';
  return `${head}${digest}\n${accounts}${totals.accounts} account(s)${shown}, ${totals.shares} share(s), ${formatSize(totals.bytes)}\n`;
}

export function registerGridCommands(program: Command, ctx: GsdCliContext): void {
  const { command, print, now } = ctx;
  const connect = ctx.connect ?? ((nurl: string) => connectSlotServer(nurl));
  const stateDir = (o: { state?: string }) => resolve(o.state ?? defaultGridDir(ctx.env));

  /** Loads the saved state (if any) and polls once. */
  const refresh = async (introduction: string, dir: string): Promise<Refreshed> => {
    const answered = new Set<string>();
    const client = new GsdClient({
      introduction,
      statePath: join(dir, GRID_FILES.servers),
      now,
      connect: (nurl) => noting(connect(nurl), answered),
    });
    const problems: GsdProblem[] = [];
    client.on('problem', (p) => problems.push(p));
    try {
      await client.load();
      const change = await client.refresh();
      return { client, change, problems, answered: answered.size > 0 };
    } finally {
      await client.stop();
    }
  };

  const grid = command(
    program,
    'grid',
    "client side: a grid's storage servers, from its grid service directory",
  );
  const stateOption = [
    '--state <DIR>',
    `where the grid's state is kept (default $XDG_CONFIG_HOME/ostrom/grid, i.e. ~/.config/ostrom/grid)`,
  ] as const;

  command(
    grid,
    'join',
    'join a grid: check its introduction text, read its directory, keep both for `ostrom grid servers`',
  )
    .argument(
      '<INTRODUCTION-TEXT>',
      '"<directory readcap>,<nurl>[,<nurl>...]" from the grid\'s operator',
      introductionArg,
    )
    .option(...stateOption)
    .option('--force', 'replace the grid joined before (its state is discarded)')
    .option('--json', 'machine-readable output')
    .action(async (introduction: string, o: { state?: string; force?: boolean }, cmd: Command) => {
      const dir = stateDir(o);
      const previous = await readIntroduction(dir);
      const { readcap } = parseIntroduction(introduction);
      const sameGrid = previous !== undefined && parseIntroduction(previous).readcap === readcap;
      if (previous !== undefined && !sameGrid && !o.force) {
        throw new NodeError(
          'NODE_EXISTS',
          `${dir} holds another grid (directory ${parseIntroduction(previous).readcap.slice(0, 17)}…): --force replaces it, --state DIR keeps this one elsewhere`,
        );
      }
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const serversFile = join(dir, GRID_FILES.servers);
      if (!sameGrid) await rm(serversFile, { force: true });
      const result = await refresh(introduction, dir);
      if (result.client.directorySeqnum === 0) {
        // Nothing kept: a join that read no directory would only mislead `grid servers`.
        if (!sameGrid) await rm(serversFile, { force: true });
        const why = result.answered
          ? 'the servers that answered hold no valid directory'
          : 'none of its servers answered';
        const details = result.problems.map((p) => `${p.nurl ?? ''} ${p.problem}`.trim());
        throw new NodeError(
          'BACKEND_UNREACHABLE',
          `cannot join: ${why} (${details.slice(0, 3).join('; ') || 'no details'})`,
        );
      }
      await writeFile(join(dir, GRID_FILES.introduction), `${introduction}\n`, { mode: 0o600 });
      await chmod(join(dir, GRID_FILES.introduction), 0o600);
      const servers = result.client.servers;
      print(
        cmd,
        {
          stateDir: dir,
          directory: readcap,
          seqnum: result.client.directorySeqnum,
          servers,
          problems: result.problems,
        },
        () =>
          `joined the grid: ${servers.length} storage server(s), ${servers.filter((s) => s.reachable).length} answering (directory seqnum ${result.client.directorySeqnum}); state in ${dir}\n${serverRows(servers)}`,
      );
    });

  command(
    grid,
    'servers',
    "the grid's storage servers, read again now (the saved list when no server answers)",
  )
    .option(...stateOption)
    .option('--json', 'machine-readable output')
    .option('--yaml', "Tahoe-LAFS's private/servers.yaml (the storage: block)")
    .option('--reachable-only', 'with --yaml: leave out servers that did not answer')
    .action(
      async (
        o: { state?: string; json?: boolean; yaml?: boolean; reachableOnly?: boolean },
        cmd: Command,
      ) => {
        if (o.json && o.yaml) throw new UsageError('give --json or --yaml, not both');
        if (o.reachableOnly && !o.yaml) throw new UsageError('--reachable-only goes with --yaml');
        const dir = stateDir(o);
        const introduction = await readIntroduction(dir);
        if (introduction === undefined) {
          throw new NodeError(
            'NODE_MISSING',
            `no grid joined in ${dir}: run \`ostrom grid join INTRODUCTION-TEXT\` first`,
          );
        }
        try {
          parseIntroduction(introduction);
        } catch (error) {
          throw new NodeError(
            'NODE_DAMAGED',
            `${join(dir, GRID_FILES.introduction)} is damaged: ${(error as Error).message}`,
          );
        }
        const result = await refresh(introduction, dir);
        const { client } = result;
        const servers = client.servers;
        const stale = !result.answered;
        if (stale) {
          if (client.directorySeqnum === 0) {
            throw new NodeError(
              'BACKEND_UNREACHABLE',
              'no server of the grid answered, and no list of servers was saved before',
            );
          }
          const at = client.refreshedAt;
          ctx.stderr(
            `ostrom: no server of the grid answered; these are the servers known${at === null ? '' : ` (directory seqnum ${client.directorySeqnum})`}\n`,
          );
        } else if (!o.json && !o.yaml) {
          for (const line of changeLines(result.change)) ctx.stderr(`${line}\n`);
        }
        if (o.yaml) {
          ctx.stdout(serversYaml(servers, { reachableOnly: o.reachableOnly === true }));
          return;
        }
        print(
          cmd,
          {
            directory: client.directory,
            seqnum: client.directorySeqnum,
            refreshedAt: client.refreshedAt,
            fromSavedState: stale,
            changes: changeSummary(result.change),
            servers,
            problems: result.problems,
          },
          () => serverRows(servers),
        );
      },
    );

  command(
    grid,
    'feed',
    "a node's public feed: what happened in the last 24 hours and each account's usage",
  )
    .argument('<NURL>', "a NURL of the node: the anonymous one or your account's", nurlArg)
    .option('--json', 'the feed as JSON')
    .action(async (nurl: string, _o: unknown, cmd: Command) => {
      const parsed = parseNurl(nurl);
      const where = `${parsed.host.includes(':') ? `[${parsed.host}]` : parsed.host}:${parsed.port}`;
      // Pinned to the NURL's key like every grid command: the feed is that node's, or nothing.
      const client = createStorageClient({ nurl: parsed, timeoutMs: SLOT_REQUEST_TIMEOUT_MS });
      let feed: Feed;
      try {
        feed = await client.accounting.getFeed();
      } catch (error) {
        throw feedFailure(error, where);
      } finally {
        client.close();
      }
      print(cmd, feed, () => feedText(feed));
    });
}
