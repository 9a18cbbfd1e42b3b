import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import {
  connectSlotServer,
  type GridAccount,
  type GridChange,
  type GridFeed,
  type GridServer,
  GsdClient,
  GsdError,
  type GsdProblem,
  gridServersYamlEntries,
  gridUsage,
  invitationIsFor,
  mergeServersYaml,
  parseIntroduction,
  readGridFeed,
  requestGridAccounts,
  SLOT_REQUEST_TIMEOUT_MS,
  type SlotServer,
  serversYaml,
  setGridLeaseDuration,
  settleGridAccounts,
  writeFileAtomically,
} from '@ostrom/gsd-client';
import {
  createStorageClient,
  type Feed,
  newGridInvitationId,
  parseNurl,
  StorageClientError,
  signMemberInvitation,
} from '@ostrom/protocol';
import type { Command } from 'commander';
import { type AccountKey, defaultKeyFile, readOrCreateAccountKey } from './account-key.js';
import { type InviteCode, inviteArg } from './cli-account.js';
import { type CliContext, durationArg, EXIT, nicknameArg } from './cli-common.js';
import { formatSeconds, isoTime, quotaText, table } from './cli-format.js';
import { introductionArg, nurlArg } from './cli-gsd.js';
import { NodeError, UsageError } from './errors.js';
import {
  type GridClientState,
  readGridClientState,
  saveGridClientState,
} from './grid-client-state.js';
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

/** The introduction text joined in `dir`, checked; NodeError when there is none or it is damaged. */
async function joinedIntroduction(dir: string): Promise<string> {
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
  return introduction;
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

function changeLines(summary: ReturnType<typeof changeSummary>): string[] {
  return [
    ...summary.added.map((p) => `added: ${p}`),
    ...summary.removed.map((p) => `removed: ${p}`),
    ...summary.updated.map((u) => `updated: ${u.petname} (${u.changed.join(', ')})`),
  ];
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

// ---------------------------------------------------------------------------- accounts on the grid

/** Tahoe's servers.yaml in a Tahoe-LAFS node directory. */
function serversYamlPath(tahoeDir: string): string {
  return join(tahoeDir, 'private', 'servers.yaml');
}

/** Refuses a directory that is not a Tahoe-LAFS node's (it has a tahoe.cfg) before any request. */
async function checkTahoeDir(dir: string): Promise<void> {
  const config = await stat(join(dir, 'tahoe.cfg')).catch(() => undefined);
  if (!config?.isFile()) {
    throw new UsageError(
      `${dir} is not a Tahoe-LAFS node directory (no tahoe.cfg): give the directory \`tahoe create-client\` made`,
    );
  }
}

/** The NURL a Tahoe client will use for one server, in words. */
function usedNurl(account: GridAccount): string {
  return account.status === 'active' ? 'account' : 'anonymous';
}

function accountRows(accounts: readonly GridAccount[]): string {
  if (accounts.length === 0) return 'the directory lists no storage server yet\n';
  return table(
    ['petname', 'account', 'NURL used', 'why'],
    accounts.map((a) => [
      a.petname,
      a.status === 'active' && a.accountId !== undefined ? `active (${a.accountId})` : a.status,
      usedNurl(a),
      printable(a.reason ?? ''),
    ]),
  );
}

/** What a round of account requests did to servers.yaml, for --json. */
interface ServersYamlOutcome {
  path: string;
  changed: boolean;
  accountNurls: number;
  anonymousNurls: number;
  keptYourEntries: string[];
  removed: string[];
}

function serversYamlLine(outcome: ServersYamlOutcome): string {
  const counts = `${outcome.accountNurls} account NURL(s), ${outcome.anonymousNurls} anonymous`;
  const kept = outcome.keptYourEntries.map(
    (id) => `kept your own entry for ${id} in servers.yaml (the directory lists it too)\n`,
  );
  const head = outcome.changed
    ? `wrote ${outcome.path} (${counts}): restart the Tahoe-LAFS node to use it\n`
    : `${outcome.path} is up to date (${counts})\n`;
  return `${kept.join('')}${head}`;
}

interface JoinOptions {
  state?: string;
  force?: boolean;
  tahoeDir?: string;
  nickname?: string;
  key?: string;
  invite?: InviteCode;
}

/** The grid's merged feed for people: the digest, the new servers, then who stores what where. */
function gridFeedText(feed: GridFeed, newServers: readonly string[]): string {
  const period =
    feed.since === null || feed.until === null
      ? ''
      : ` (${isoTime(feed.since)} to ${isoTime(feed.until)})`;
  const head = `the grid: feeds of ${feed.totals.servers} of ${feed.servers.length} server(s)${period}\n`;
  const news = newServers.map((petname) => `  new in the directory: ${printable(petname)}\n`);
  const digest = feed.digest.map((line) => `  ${printable(line)}\n`);
  const said =
    news.length + digest.length === 0 ? '  nothing happened\n' : [...news, ...digest].join('');
  const accounts =
    feed.accounts.length === 0
      ? 'no account holds data\n'
      : table(
          ['nickname', 'shares', 'used', 'uploaded', 'where'],
          feed.accounts.map((a) => [
            printable(a.nickname),
            a.shares,
            formatSize(a.bytes),
            formatSize(a.uploadedBytes),
            a.where.map((w) => `${printable(w.petname)} ${formatSize(w.bytes)}`).join(', '),
          ]),
        );
  const missing = feed.servers.flatMap((s) =>
    s.status === 'read' ? [] : [`no feed from ${printable(s.petname)}: ${printable(s.reason)}\n`],
  );
  const { totals } = feed;
  return `${head}${said}\n${accounts}${missing.join('')}${totals.accounts} account(s), ${totals.shares} share(s), ${formatSize(totals.bytes)} on ${totals.servers} server(s)\n`;
}

export function registerGridCommands(program: Command, ctx: CliContext): void {
  const { command, print, now, json, result: exit } = ctx;
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

  /**
   * Asks every server for the key's account, settles the answers against the last ones, rewrites
   * servers.yaml when it changed (keeping the user's own entries) and saves the answers.
   */
  const syncAccounts = async (
    dir: string,
    settings: Pick<GridClientState, 'tahoeDir' | 'nickname' | 'keyFile'>,
    servers: readonly GridServer[],
    previous: Pick<GridClientState, 'accounts' | 'written'>,
    key: AccountKey,
    invite?: InviteCode,
  ) => {
    const fresh = await requestGridAccounts({
      servers,
      key,
      nickname: settings.nickname,
      now,
      ...(invite?.kind === 'server' ? { invitation: invite.invitation } : {}),
      ...(invite?.kind === 'grid' ? { gridInvitation: invite.signed.bytes } : {}),
      ...(invite?.kind === 'member' ? { memberInvitation: invite.signed.bytes } : {}),
    });
    const accounts = settleGridAccounts(previous.accounts, fresh);
    const path = serversYamlPath(settings.tahoeDir);
    const existing = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    let merged: ReturnType<typeof mergeServersYaml>;
    try {
      merged = mergeServersYaml(
        existing,
        gridServersYamlEntries(servers, accounts),
        new Set(previous.written),
      );
    } catch (error) {
      if (!(error instanceof GsdError)) throw error;
      throw new NodeError(
        'NODE_DAMAGED',
        `${path}: ${error.message}; fix it or move it away, then run this again`,
      );
    }
    const state = {
      ...settings,
      publicKey: Buffer.from(key.publicKey).toString('hex'),
      accounts,
    };
    if (merged.changed) {
      // Ours before and after, while the file is being replaced: a crash in between leaves
      // no entry of ours counted as the user's.
      const both = new Set([...previous.written, ...merged.written]);
      await saveGridClientState(dir, { ...state, written: [...both] });
      await writeFileAtomically(path, merged.text, 0o600);
    }
    await saveGridClientState(dir, { ...state, written: merged.written });
    const active = new Set(accounts.filter((a) => a.status === 'active').map((a) => a.serverId));
    const accountNurls = merged.written.filter((id) => active.has(id)).length;
    const serversYaml: ServersYamlOutcome = {
      path,
      changed: merged.changed,
      accountNurls,
      anonymousNurls: merged.written.length - accountNurls,
      keptYourEntries: merged.keptTheirs,
      removed: merged.removed,
    };
    return { accounts, serversYaml };
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
    .option(
      '--tahoe-dir <DIR>',
      "a Tahoe-LAFS client's node directory: ask every server for an account and write its private/servers.yaml",
    )
    .option(
      '--nickname <NAME>',
      'with --tahoe-dir: how operators see you (default this host name)',
      nicknameArg,
    )
    .option(
      '--key <FILE>',
      'with --tahoe-dir: your Ed25519 key, created if missing (default ~/.config/ostrom/account.key)',
    )
    .option(
      '--invite <CODE>',
      "with --tahoe-dir: an invitation code: one server's (used there), the grid's or a member's (used on every server)",
      inviteArg,
    )
    .option('--json', 'machine-readable output')
    .action(async (introduction: string, o: JoinOptions, cmd: Command) => {
      const dir = stateDir(o);
      if (
        (o.nickname !== undefined || o.key !== undefined || o.invite !== undefined) &&
        o.tahoeDir === undefined
      ) {
        throw new UsageError('--nickname, --key and --invite go with --tahoe-dir');
      }
      // Everything local is checked before the first request: a bad directory or an unreadable
      // key refuses the join without asking any server for anything.
      const tahoeDir = o.tahoeDir === undefined ? undefined : resolve(o.tahoeDir);
      if (tahoeDir !== undefined) await checkTahoeDir(tahoeDir);
      const keyFile = resolve(o.key ?? defaultKeyFile(ctx.env));
      // An existing key is read (and checked) now; a new one is made once the directory is read,
      // so that a join that fails leaves nothing behind.
      const existingKey =
        tahoeDir === undefined
          ? undefined
          : await readOrCreateAccountKey(keyFile, { create: false }).catch((error: unknown) => {
              if (error instanceof NodeError && error.code === 'NODE_MISSING') return undefined;
              throw error;
            });
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
      const joined = {
        stateDir: dir,
        directory: readcap,
        seqnum: result.client.directorySeqnum,
        servers,
        problems: result.problems,
      };
      const joinedText = `joined the grid: ${servers.length} storage server(s), ${servers.filter((s) => s.reachable).length} answering (directory seqnum ${result.client.directorySeqnum}); state in ${dir}\n`;
      if (tahoeDir === undefined) {
        print(cmd, joined, () => `${joinedText}${serverRows(servers)}`);
        return;
      }
      // A damaged accounts file is written again; the entries it named as ours are then kept
      // as the user's (never removed by mistake).
      const saved = await readGridClientState(dir).catch(() => undefined);
      const before = {
        accounts: sameGrid ? (saved?.accounts ?? []) : [],
        written: saved?.tahoeDir === tahoeDir ? saved.written : [],
      };
      const key = existingKey ?? (await readOrCreateAccountKey(keyFile));
      if (key.created && !json(cmd)) ctx.stderr(`created the account key ${keyFile}\n`);
      const nickname = o.nickname ?? nicknameArg(hostname().slice(0, 64) || 'tahoe client');
      const settings = { tahoeDir, nickname, keyFile };
      const server = o.invite?.kind === 'server' ? o.invite.invitation : undefined;
      if (
        server &&
        !servers.some((s) => s.announcement.nurls.some((n) => invitationIsFor(server, n)))
      ) {
        ctx.stderr(
          'ostrom: the invitation is for a server this directory does not list; not used\n',
        );
      }
      const synced = await syncAccounts(dir, settings, servers, before, key, o.invite);
      print(
        cmd,
        { ...joined, ...settings, ...synced },
        () => `${joinedText}${accountRows(synced.accounts)}${serversYamlLine(synced.serversYaml)}`,
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
        const introduction = await joinedIntroduction(dir);
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
          for (const line of changeLines(changeSummary(result.change))) ctx.stderr(`${line}\n`);
        }
        if (o.yaml) {
          // After `join --tahoe-dir`, the NURLs servers.yaml gets: the accounts' where active.
          const accounts = (await readGridClientState(dir))?.accounts ?? [];
          ctx.stdout(
            serversYaml(gridServersYamlEntries(servers, accounts), {
              reachableOnly: o.reachableOnly === true,
            }),
          );
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

  /** The saved accounts state of `dir`; NodeError when `grid join --tahoe-dir` never ran there. */
  const clientState = async (dir: string): Promise<GridClientState> => {
    const state = await readGridClientState(dir);
    if (state === undefined) {
      throw new NodeError(
        'NODE_MISSING',
        `no accounts asked for in ${dir}: run \`ostrom grid join INTRODUCTION-TEXT --tahoe-dir DIR\` first`,
      );
    }
    return state;
  };

  command(
    grid,
    'sync',
    "read the directory again, ask new servers for accounts, and rewrite the Tahoe node's servers.yaml when it changed",
  )
    .option(...stateOption)
    .option('--watch', 'keep doing it, every --interval, until stopped')
    .option(
      '--interval <DURATION>',
      'with --watch: how often (default 10m, at least 10s)',
      durationArg,
    )
    .option('--json', 'machine-readable output (with --watch, one line of JSON a round)')
    .action(async (o: { state?: string; watch?: boolean; interval?: number }, cmd: Command) => {
      if (o.interval !== undefined && !o.watch) {
        throw new UsageError('--interval goes with --watch');
      }
      const interval = o.interval ?? 600;
      if (interval < 10) throw new UsageError('--interval is at least 10s');
      const dir = stateDir(o);
      const introduction = await joinedIntroduction(dir);
      await clientState(dir);
      const once = async () => {
        const state = await clientState(dir);
        // Never a new key here: the accounts on the grid are the saved key's.
        const key = await readOrCreateAccountKey(state.keyFile, { create: false });
        const refreshed = await refresh(introduction, dir);
        if (!refreshed.answered) {
          if (refreshed.client.directorySeqnum === 0) {
            throw new NodeError(
              'BACKEND_UNREACHABLE',
              'no server of the grid answered, and no list of servers was saved before',
            );
          }
          ctx.stderr('ostrom: no server of the grid answered; using the servers known\n');
        }
        const synced = await syncAccounts(dir, state, refreshed.client.servers, state, key);
        return {
          at: now(),
          fromSavedState: !refreshed.answered,
          changes: changeSummary(refreshed.change),
          ...synced,
        };
      };
      const say = (round: Awaited<ReturnType<typeof once>>) => {
        if (o.watch && json(cmd)) {
          ctx.stdout(`${JSON.stringify(round)}\n`);
          return;
        }
        print(cmd, round, () => {
          const changes = changeLines(round.changes);
          return `${o.watch ? `${isoTime(round.at)}\n` : ''}${changes.map((l) => `${l}\n`).join('')}${accountRows(round.accounts)}${serversYamlLine(round.serversYaml)}`;
        });
      };
      if (!o.watch) {
        say(await once());
        return;
      }
      const sleep = ctx.io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
      for (;;) {
        try {
          say(await once());
        } catch (error) {
          // A round that fails (a server, the disk) is said and the next one tried: a watcher
          // that dies at the first outage would leave servers.yaml as stale as no watcher.
          ctx.stderr(`ostrom: ${isoTime(now())}: ${(error as Error).message}\n`);
        }
        await sleep(interval * 1000);
      }
    });

  command(
    grid,
    'usage',
    'what each server holds of yours: your account there, its shares, bytes, quota and lease duration, and the total',
  )
    .option(...stateOption)
    .option('--json', 'machine-readable output')
    .action(async (o: { state?: string }, cmd: Command) => {
      const state = await clientState(stateDir(o));
      const usage = await gridUsage(state.accounts);
      if (
        usage.servers.some(
          (row) =>
            row.status === 'unreachable' &&
            state.accounts.some((a) => a.serverId === row.serverId && a.status === 'active'),
        )
      ) {
        exit.code = EXIT.failed;
      }
      print(cmd, usage, () => {
        const rows = usage.servers.map((row) =>
          row.status === 'read'
            ? [
                row.petname,
                row.account.status,
                row.account.shares,
                formatSize(row.account.bytes),
                quotaText(row.account.hardQuotaBytes),
                quotaText(row.account.softQuotaBytes),
                formatSeconds(row.account.leaseDurationSeconds),
              ]
            : [row.petname, `${row.status}: ${printable(row.reason)}`, '-', '-', '-', '-', '-'],
        );
        const { total } = usage;
        return `${table(['server', 'account', 'shares', 'used', 'hard quota', 'soft quota', 'lease duration'], rows)}total: ${total.shares} share(s), ${formatSize(total.bytes)} on ${total.servers} server(s)\n`;
      });
    });

  command(
    grid,
    'invite',
    'sign an invitation with your account key: good on every server that gave you an invitation budget',
  )
    .option(
      '--nickname <NAME>',
      "the invited person's nickname (default: the one they ask for)",
      nicknameArg,
    )
    .option(
      '--expires <DURATION>',
      'how long it may be used (default 30d, at most 365d)',
      durationArg,
    )
    .option('--key <FILE>', 'your Ed25519 key (default ~/.config/ostrom/account.key)')
    .option('--json', 'machine-readable output')
    .action(async (o: { nickname?: string; expires?: number; key?: string }, cmd: Command) => {
      const expires = o.expires ?? 30 * 86_400;
      if (expires > 365 * 86_400) throw new UsageError('--expires is at most 365d');
      const keyFile = resolve(o.key ?? defaultKeyFile(ctx.env));
      // Never a new key: an invitation is worth what the servers gave this key's account.
      const key = await readOrCreateAccountKey(keyFile, { create: false });
      const id = newGridInvitationId();
      const invitation = { id, nickname: o.nickname ?? null, expires: now() + expires };
      const code = signMemberInvitation(invitation, key.privateKey);
      print(
        cmd,
        {
          code,
          id: Buffer.from(id).toString('hex'),
          nickname: invitation.nickname,
          expires: invitation.expires,
        },
        () =>
          `an invitation from your key, until ${isoTime(invitation.expires)}; good where an operator gave your account an invitation budget:\n${code}\n`,
      );
    });

  command(
    grid,
    'lease-duration',
    'ask every server where you have an account for this lease duration (what your new leases get)',
  )
    .argument('<DURATION>', 'e.g. 90d, 31d, 12h', durationArg)
    .option(...stateOption)
    .option('--json', 'machine-readable output')
    .action(async (seconds: number, o: { state?: string }, cmd: Command) => {
      const state = await clientState(stateDir(o));
      const answers = await setGridLeaseDuration(state.accounts, seconds);
      if (answers.some((a) => a.outcome === 'refused')) exit.code = EXIT.failed;
      print(cmd, { askedSeconds: seconds, servers: answers }, () =>
        table(
          ['server', 'answer', 'lease duration'],
          answers.map((a) =>
            'leaseDurationSeconds' in a
              ? [a.petname, a.outcome, formatSeconds(a.leaseDurationSeconds)]
              : [a.petname, a.outcome, printable(a.reason)],
          ),
        ),
      );
    });

  command(
    grid,
    'feed',
    "a node's public feed (what happened in the last 24 hours and each account's usage); without NURL, every server's of the grid joined, merged",
  )
    .argument('[NURL]', "a NURL of the node: the anonymous one or your account's", nurlArg)
    .option(...stateOption)
    .option('--json', 'the feed as JSON')
    .action(async (nurl: string | undefined, o: { state?: string }, cmd: Command) => {
      if (nurl === undefined) {
        const dir = stateDir(o);
        const refreshed = await refresh(await joinedIntroduction(dir), dir);
        if (!refreshed.answered) {
          ctx.stderr('ostrom: no server of the grid answered; using the servers known\n');
        }
        const feed = await readGridFeed(refreshed.client.servers);
        if (feed.totals.servers === 0) exit.code = EXIT.failed;
        const newServers = changeSummary(refreshed.change).added;
        print(cmd, { ...feed, newServers }, () => gridFeedText(feed, newServers));
        return;
      }
      if (o.state !== undefined) throw new UsageError('--state goes with the grid feed, not NURL');
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
