import { swissnumFor } from '@ostrom/accountant';
import {
  type AnnouncementBody,
  announcedNurls,
  connectSlotServer,
  createWriteCap,
  DirectoryWriter,
  formatIntroduction,
  type GridView,
  GsdError,
  parseIntroduction,
  parseReadCap,
  parseWriteCap,
  READCAP_PREFIX,
  readDocument,
  readGrid,
  SlotServerPool,
  updateDocument,
  WRITECAP_PREFIX,
} from '@ostrom/gsd-client';
import {
  base32Encode,
  generateAccountKey,
  newGridInvitationId,
  ProtocolError,
  parseNurl,
  signGridInvitation,
} from '@ostrom/protocol';
import { type Command, InvalidArgumentError } from 'commander';
import { type CliContext, durationArg, nicknameArg, withOperator } from './cli-common.js';
import { isoTime, table } from './cli-format.js';
import { NodeError } from './errors.js';
import {
  announcementWritecap,
  directoryWritecap,
  ensureMembershipKey,
  type MembershipKey,
  membershipKey,
} from './gsd.js';
import { type LoadedNode, loadNode, PRIVATE_FILES, writePrivateLine } from './node-dir.js';
import { nodeNurl } from './server.js';
import { formatSize } from './size.js';

// `ostrom gsd ...`: the operator's commands for the grid service directory, run on a node's
// directory (the node must be running to be written to: the directory and the announcements
// live in the storage servers' slots, this node's among them).

// ---------------------------------------------------------------------------- argument parsers

/** A readcap argument: one clear line (exit 2) if it is not one. */
export function readcapArg(value: string): string {
  try {
    parseReadCap(value);
    return value;
  } catch (error) {
    throw new InvalidArgumentError(gsdMessage(error));
  }
}

/** A petname: 1–64 printable characters without surrounding spaces. */
export function petnameArg(value: string): string {
  if (
    value.length === 0 ||
    [...value].length > 64 ||
    /\p{Cc}/u.test(value) ||
    value.trim() !== value
  ) {
    throw new InvalidArgumentError(
      'expected a petname of 1–64 printable characters, without leading or trailing spaces',
    );
  }
  return value;
}

/** A NURL argument or option: one clear line (exit 2) if it is not one. */
export function nurlArg(value: string): string {
  try {
    parseNurl(value.trim());
    return value.trim();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new InvalidArgumentError(error.message);
  }
}

// A grid invitation cannot be taken back short of a new membership key (which ends every code
// signed with the old one), so none is valid for long.
/** The longest a grid invitation may be valid. */
const MAX_GRID_INVITATION_SECONDS = 365 * 86_400;
const DEFAULT_GRID_INVITATION_SECONDS = 30 * 86_400;

/** How long a grid invitation is valid: a duration of 1 second to 365 days. */
function invitationExpiresArg(value: string): number {
  const seconds = durationArg(value);
  if (seconds < 1 || seconds > MAX_GRID_INVITATION_SECONDS) {
    throw new InvalidArgumentError('a grid invitation is valid for 1 second to 365 days');
  }
  return seconds;
}

/** `remove-announcement`'s argument: a readcap (checked) or a petname. */
function readcapOrPetnameArg(value: string): { readcap: string } | { petname: string } {
  if (value.startsWith(READCAP_PREFIX)) return { readcap: readcapArg(value) };
  if (value.startsWith(WRITECAP_PREFIX)) {
    throw new InvalidArgumentError(
      'this is a writecap: give the announcement’s readcap (gsd:r1:…) or its petname, and keep writecaps secret',
    );
  }
  return { petname: petnameArg(value) };
}

/** An introduction text argument. */
export function introductionArg(value: string): string {
  try {
    parseIntroduction(value.trim());
    return value.trim();
  } catch (error) {
    throw new InvalidArgumentError(gsdMessage(error));
  }
}

function gsdMessage(error: unknown): string {
  if (error instanceof GsdError) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return `${error.message}${error.code === 'BAD_INTRODUCTION' ? cause : ''}`;
  }
  return error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------- output helpers

/** A cap shortened for tables: its prefix and the first characters. */
export function shortCap(cap: string): string {
  return `${cap.slice(0, 7 + 10)}…`;
}

function writeSummary(
  what: string,
  result: {
    seqnum: number;
    written: string[];
    conflicts: string[];
    failed: { nurl: string; reason: string }[];
  },
): string {
  const total = result.written.length + result.conflicts.length + result.failed.length;
  const lines = [
    `${what} (seqnum ${result.seqnum}) written to ${result.written.length} of ${total} server(s)`,
  ];
  for (const nurl of result.conflicts) {
    lines.push(
      `  ${nurl}: another writer changed it meanwhile; left as it is (run the command again)`,
    );
  }
  for (const f of result.failed) lines.push(`  ${f.nurl}: not written: ${f.reason}`);
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------- this node

/** This node's anonymous NURL as its config says (the CLI opens no database for it). */
export function selfNurl(node: LoadedNode): string {
  return nodeNurl(node, { swissnumFor: (id) => swissnumFor(node.serverSecret, id) }, 0);
}

/**
 * Where `gsd create` writes a new directory on this node: its anonymous NURL, or in accounting
 * mode `required`, where the running node takes anonymous writes only of the slots it knew at
 * start, the NURL of its `grid directory` account, which those writes are made as anyway.
 */
async function creatorNurl(node: LoadedNode, env: NodeJS.ProcessEnv): Promise<string> {
  if (node.config.accounting.mode !== 'required') return selfNurl(node);
  return await withOperator(node.dir, env, async ({ accountant }) => {
    const id = await accountant.directoryAccountId();
    if (id === undefined) throw new Error('mode required without a directory account');
    return nodeNurl(node, accountant, id);
  });
}

/** The membership key, or NodeError CONFIG_INVALID naming the command that makes it. */
async function requireMembershipKey(node: LoadedNode): Promise<MembershipKey> {
  const key = await membershipKey(node);
  if (key === undefined) {
    throw new NodeError(
      'CONFIG_INVALID',
      `this node holds no membership key for the grid (no ${PRIVATE_FILES.gsdMembership}): make it and publish it in the directory with \`ostrom gsd membership-key\``,
    );
  }
  return key;
}

async function requireDirectoryWritecap(node: LoadedNode): Promise<string> {
  const writecap = await directoryWritecap(node);
  if (writecap === undefined) {
    throw new NodeError(
      'CONFIG_INVALID',
      `this node holds no grid service directory (no ${PRIVATE_FILES.gsdDirectory}): create one with \`ostrom gsd create\`, on the node of the directory's operator`,
    );
  }
  return writecap;
}

/** The directory's readcap: the one this node writes, else the one of `[gsd] introduction`. */
function directoryReadcap(node: LoadedNode, writecap: string | undefined): string {
  if (writecap !== undefined) return parseWriteCap(writecap).readcap;
  const introduction = node.config.gsd.introduction;
  if (introduction !== undefined) return parseIntroduction(introduction).readcap;
  throw new NodeError(
    'CONFIG_INVALID',
    `this node knows no grid service directory: it holds none (\`ostrom gsd create\`) and its ostrom.toml sets no [gsd] introduction`,
  );
}

/** Where to look for the directory first: this node, then the introduction's servers. */
function startNurls(node: LoadedNode): string[] {
  const introduction = node.config.gsd.introduction;
  return [selfNurl(node), ...(introduction ? parseIntroduction(introduction).nurls : [])];
}

/** Fails with one line when the directory is nowhere to be read. */
function requireDirectory(
  view: GridView,
  self: string,
): asserts view is GridView & { directory: NonNullable<GridView['directory']> } {
  if (view.directory !== undefined) return;
  const selfDown = view.problems.some((p) => p.code === 'UNREACHABLE' && p.nurl === self);
  throw new GsdError(
    view.answered.length === 0 ? 'UNREACHABLE' : 'NOT_FOUND',
    selfDown
      ? `this node does not answer at ${self}: is it running (\`ostrom run\`)? No other server gave the directory either`
      : `no server reached holds the directory (${view.asked.length} asked${view.problems.length > 0 ? `; ${view.problems.map((p) => `${p.nurl}: ${p.problem}`).join('; ')}` : ''})`,
  );
}

/** The servers the directory is written to: every server it lists, and this node. */
function directoryServers(view: GridView, self: string, extra: readonly string[] = []): string[] {
  return [self, ...announcedNurls(view), ...extra];
}

interface ShownServer {
  petname: string;
  readcap: string;
  seqnum: number | null;
  publishedAt: number | null;
  announcement: AnnouncementBody | null;
  reachable: boolean | null;
  problem: string | null;
}

// ---------------------------------------------------------------------------- the commands

export function registerGsdCommands(program: Command, ctx: CliContext): void {
  const { command, nodeDir, print, now } = ctx;
  const withPool = async <T>(fn: (pool: SlotServerPool) => Promise<T>): Promise<T> => {
    const pool = new SlotServerPool(ctx.connect ?? ((nurl: string) => connectSlotServer(nurl)));
    try {
      return await fn(pool);
    } finally {
      pool.close();
    }
  };

  const gsd = command(
    program,
    'gsd',
    "the grid service directory: the grid's list of storage servers, kept on the servers",
  );

  command(
    gsd,
    'create',
    'create the directory (its writecap is kept in private/), publish it empty to this node, print its introduction text',
  )
    .option(
      '--force',
      'make a new directory even though this node holds one (the old writecap is kept aside)',
    )
    .option('--json', 'machine-readable output')
    .action(async (o: { force?: boolean }, cmd: Command) => {
      const node = await loadNode(nodeDir(cmd));
      const existing = await directoryWritecap(node);
      if (existing !== undefined && !o.force) {
        throw new NodeError(
          'NODE_EXISTS',
          `this node already holds a directory (${PRIVATE_FILES.gsdDirectory}, readcap ${parseWriteCap(existing).readcap}): \`ostrom gsd show\` lists it; --force makes a new one, and clients and nodes must then be given its new introduction text`,
        );
      }
      const self = selfNurl(node);
      const writecap = createWriteCap();
      const { readcap } = parseWriteCap(writecap);
      // A membership key this node holds already (a directory made before, --force) is kept;
      // a new one is written only once the directory publishing it is.
      const heldKey = await membershipKey(node);
      const fresh = heldKey === undefined ? generateAccountKey() : undefined;
      const publicKey = heldKey?.publicKey ?? fresh!.publicKey;
      const via = await creatorNurl(node, ctx.env);
      const result = await withPool((pool) =>
        updateDocument(
          [pool.server(via)],
          writecap,
          'directory',
          () => ({ announcements: [], membershipKey: publicKey }),
          { now },
        ),
      );
      if (!result.written.includes(via)) {
        const why = result.failed[0]?.reason ?? 'it refused the write';
        throw new GsdError(
          'UNREACHABLE',
          `this node did not take the directory at ${self} (${why}): is it running (\`ostrom run\`)? Nothing was kept`,
        );
      }
      const saved = await writePrivateLine(node.dir, PRIVATE_FILES.gsdDirectory, writecap, {
        replace: o.force === true,
        now: now(),
      });
      if (fresh !== undefined) {
        await writePrivateLine(
          node.dir,
          PRIVATE_FILES.gsdMembership,
          base32Encode(fresh.privateKey),
        );
      }
      const introduction = formatIntroduction(readcap, [self]);
      const membership = base32Encode(publicKey);
      print(
        cmd,
        {
          writecap,
          readcap,
          introduction,
          file: saved.path,
          movedAside: saved.movedAside ?? null,
          membershipKey: membership,
        },
        () =>
          [
            `Created the grid service directory. Its writecap, kept in ${saved.path} (0600):`,
            '',
            `  ${writecap}`,
            '',
            'Whoever holds it can rewrite the directory: keep a copy somewhere safe, and give it to nobody.',
            ...(saved.movedAside ? [`The previous writecap was kept as ${saved.movedAside}.`] : []),
            '',
            `It publishes the grid's membership key ${membership}`,
            `(its private half ${fresh ? 'made in' : 'kept in'} ${PRIVATE_FILES.gsdMembership}): \`ostrom gsd invite\` signs grid`,
            'invitations with it.',
            '',
            'The introduction text, for clients (`ostrom grid join`) and for [gsd] introduction in',
            "each storage node's ostrom.toml:",
            '',
            `  ${introduction}`,
            '',
            "Set it in this node's ostrom.toml too and restart it: it then announces itself, renews",
            "the directory's leases and gives a copy to listed servers that lack one. Then list each",
            'node: `ostrom gsd add-announcement READCAP` with the readcap that `ostrom gsd',
            'announcement` prints on that node.',
            '',
          ].join('\n'),
      );
    });

  command(
    gsd,
    'introduction-text',
    "print the directory's introduction text: its readcap and this node's NURL",
  )
    .option('--json', 'machine-readable output')
    .action(async (_o: unknown, cmd: Command) => {
      const node = await loadNode(nodeDir(cmd));
      const readcap = directoryReadcap(node, await directoryWritecap(node));
      const nurls = [selfNurl(node)];
      const introduction = formatIntroduction(readcap, nurls);
      print(cmd, { introduction, readcap, nurls }, () => `${introduction}\n`);
    });

  command(
    gsd,
    'announcement',
    "print the readcap of this node's announcement, for the directory's operator (`ostrom gsd add-announcement`)",
  )
    .option('--json', 'machine-readable output')
    .action(async (_o: unknown, cmd: Command) => {
      const node = await loadNode(nodeDir(cmd));
      const { readcap, created } = await announcementWritecap(node);
      // Whether it is published: this node and the introduction's servers are where it goes.
      const read = await withPool((pool) =>
        readDocument(pool.servers(startNurls(node)), readcap, 'announcement'),
      );
      const published = read.document !== undefined;
      if (created && !ctx.json(cmd)) {
        ctx.stderr(`created ${PRIVATE_FILES.gsdAnnouncement}: this node's announcement slot\n`);
      }
      if (read.answered.length === 0 && !ctx.json(cmd)) {
        ctx.stderr(
          'whether it is published is unknown: neither this node nor the introduction’s servers answered (is this node running?)\n',
        );
      } else if (!published && !ctx.json(cmd)) {
        ctx.stderr(
          node.config.gsd.introduction === undefined
            ? 'not published yet: set [gsd] introduction in ostrom.toml and restart the node, which then publishes it\n'
            : 'not published yet: the running node publishes it (restart it if it was started before [gsd] introduction was set)\n',
        );
      }
      print(
        cmd,
        {
          readcap,
          created,
          published: read.answered.length === 0 ? null : published,
          seqnum: read.document?.seqnum ?? null,
          announcement: read.document?.body ?? null,
        },
        () => `${readcap}\n`,
      );
    });

  command(gsd, 'add-announcement', 'list a storage node in the directory (again: rename it)')
    .argument(
      '<READCAP>',
      "the node's announcement readcap (`ostrom gsd announcement` on that node)",
      readcapArg,
    )
    .option(
      '--petname <NAME>',
      "the operator's name for it (default: its nickname, if free)",
      petnameArg,
    )
    .option(
      '--from <NURL>',
      "also read the announcement from this server: the node's own NURL, when the directory's servers are in accounting mode required (they take only listed announcements)",
      nurlArg,
    )
    .option('--json', 'machine-readable output')
    .action(async (readcap: string, o: { petname?: string; from?: string }, cmd: Command) => {
      const node = await loadNode(nodeDir(cmd));
      const writecap = await requireDirectoryWritecap(node);
      const dirReadcap = parseWriteCap(writecap).readcap;
      const self = selfNurl(node);
      await withPool(async (pool) => {
        const view = await readGrid(pool, dirReadcap, startNurls(node));
        requireDirectory(view, self);
        const listed = view.entries.find((e) => e.readcap === readcap);
        if (listed && (o.petname === undefined || o.petname === listed.petname)) {
          throw new NodeError(
            'NODE_EXISTS',
            `this announcement is listed already, as "${listed.petname}" (--petname renames it)`,
          );
        }
        // The announcement must be readable: it says where to write the directory, and a
        // readcap copied wrong (but with a valid checksum: another node's) shows up here.
        const asked = [...view.nurls, ...(o.from === undefined ? [] : [o.from])];
        const read = await readDocument(pool.servers(asked), readcap, 'announcement');
        if (!read.document) {
          throw new GsdError(
            'NOT_FOUND',
            `no server reached holds this announcement (${asked.length} asked): start that node with [gsd] introduction set (it publishes its announcement to this node), then try again${o.from === undefined ? "; if this grid's servers are in accounting mode required, they hold only listed announcements: give that node's NURL with --from" : ''}`,
          );
        }
        const announcement = read.document.body;
        const servers = pool.servers(directoryServers(view, self, announcement.nurls));
        const result = await new DirectoryWriter(writecap, () => servers, {
          now,
        }).addAnnouncement(readcap, o.petname);
        const petname =
          result.body.announcements.find((e) => e.readcap === readcap)?.petname ?? '?';
        if (result.failed.length + result.conflicts.length > 0) ctx.result.code = 1;
        const { body: _body, ...outcome } = result;
        print(
          cmd,
          { petname, readcap, announcement, renamedFrom: listed?.petname ?? null, ...outcome },
          () =>
            `${listed ? `renamed "${listed.petname}" to` : 'listed'} "${petname}" (${announcement.nickname}, ${announcement.serverId})\n${writeSummary('the directory', result)}`,
        );
      });
    });

  command(gsd, 'remove-announcement', 'remove a storage node from the directory')
    .argument('<READCAP|NAME>', 'its announcement readcap or its petname', readcapOrPetnameArg)
    .option('--json', 'machine-readable output')
    .action(async (which: { readcap: string } | { petname: string }, _o: unknown, cmd: Command) => {
      const node = await loadNode(nodeDir(cmd));
      const writecap = await requireDirectoryWritecap(node);
      const dirReadcap = parseWriteCap(writecap).readcap;
      const self = selfNurl(node);
      const matches = (e: { readcap: string; petname: string }) =>
        'readcap' in which ? e.readcap === which.readcap : e.petname === which.petname;
      const named = 'readcap' in which ? shortCap(which.readcap) : `"${which.petname}"`;
      await withPool(async (pool) => {
        const view = await readGrid(pool, dirReadcap, startNurls(node));
        requireDirectory(view, self);
        const entry = view.entries.find(matches);
        if (!entry) throw new GsdError('NOT_FOUND', `the directory lists no announcement ${named}`);
        // Written to the removed server too, so that it does not keep serving the old list.
        const servers = pool.servers(directoryServers(view, self));
        const result = await new DirectoryWriter(writecap, () => servers, {
          now,
        }).removeAnnouncement(entry.readcap);
        if (result.failed.length + result.conflicts.length > 0) ctx.result.code = 1;
        const { body: _body, ...outcome } = result;
        print(
          cmd,
          { petname: entry.petname, readcap: entry.readcap, ...outcome },
          () => `removed "${entry.petname}"\n${writeSummary('the directory', result)}`,
        );
      });
    });

  command(
    gsd,
    'membership-key',
    "print the grid's membership key (grid invitations are signed with it), making it and publishing it in the directory if need be",
  )
    .option('--json', 'machine-readable output')
    .action(async (_o: unknown, cmd: Command) => {
      const node = await loadNode(nodeDir(cmd));
      const writecap = await requireDirectoryWritecap(node);
      const dirReadcap = parseWriteCap(writecap).readcap;
      const self = selfNurl(node);
      const key = await ensureMembershipKey(node);
      const text = base32Encode(key.publicKey);
      if (key.created && !ctx.json(cmd)) {
        ctx.stderr(`created ${PRIVATE_FILES.gsdMembership}: the grid's membership key\n`);
      }
      await withPool(async (pool) => {
        const view = await readGrid(pool, dirReadcap, startNurls(node));
        requireDirectory(view, self);
        const published = view.directory.body.membershipKey;
        if (published !== undefined && Buffer.from(published).equals(key.publicKey)) {
          print(
            cmd,
            {
              membershipKey: text,
              created: key.created,
              changed: false,
              replaced: null,
              seqnum: view.directory.seqnum,
            },
            () => `${text}\n`,
          );
          return;
        }
        const servers = pool.servers(directoryServers(view, self));
        const result = await new DirectoryWriter(writecap, () => servers, {
          now,
        }).setMembershipKey(key.publicKey);
        if (result.failed.length + result.conflicts.length > 0) ctx.result.code = 1;
        const { body: _body, ...outcome } = result;
        if (!ctx.json(cmd)) {
          if (published !== undefined) {
            ctx.stderr(
              'the directory published another membership key: replaced (codes signed with it are no longer honoured)\n',
            );
          }
          ctx.stderr(writeSummary('the directory, with the membership key,', result));
        }
        print(
          cmd,
          {
            membershipKey: text,
            created: key.created,
            changed: true,
            replaced: published === undefined ? null : base32Encode(published),
            ...outcome,
          },
          () => `${text}\n`,
        );
      });
    });

  command(
    gsd,
    'invite',
    "print a grid invitation code, signed with the grid's membership key: every server of the grid whose operator opted in honours it",
  )
    .option(
      '--nickname <NAME>',
      "the account's nickname (default: the one it asks for)",
      nicknameArg,
    )
    .option(
      '--expires <DURATION>',
      'how long the code may be used (default 30d, at most 365d)',
      invitationExpiresArg,
    )
    .option('--json', 'machine-readable output')
    .action(async (o: { nickname?: string; expires?: number }, cmd: Command) => {
      const node = await loadNode(nodeDir(cmd));
      const writecap = await requireDirectoryWritecap(node);
      const { seed } = await requireMembershipKey(node);
      const directory = parseWriteCap(writecap).storageIndex;
      const id = newGridInvitationId();
      const nickname = o.nickname ?? null;
      const expires = now() + (o.expires ?? DEFAULT_GRID_INVITATION_SECONDS);
      const code = signGridInvitation({ directory, id, nickname, expires }, seed);
      print(cmd, { code, id: base32Encode(id), nickname, expires, directory }, () => {
        const who = nickname === null ? '' : ` for ${nickname}`;
        return `grid invitation ${base32Encode(id)}${who}, until ${isoTime(expires)}:\n${code}\n`;
      });
    });

  command(gsd, 'show', 'the directory, each announcement, and whether its servers answer')
    .option('--json', 'machine-readable output')
    .action(async (_o: unknown, cmd: Command) => {
      const node = await loadNode(nodeDir(cmd));
      const writecap = await directoryWritecap(node);
      const readcap = directoryReadcap(node, writecap);
      const self = selfNurl(node);
      await withPool(async (pool) => {
        const view = await readGrid(pool, readcap, startNurls(node));
        requireDirectory(view, self);
        const servers: ShownServer[] = await Promise.all(
          view.entries.map(async (e) => {
            const body = e.announcement?.body;
            const answers = body
              ? await Promise.all(body.nurls.map((n) => pool.server(n).reachable()))
              : [];
            return {
              petname: e.petname,
              readcap: e.readcap,
              seqnum: e.announcement?.seqnum ?? null,
              publishedAt: e.announcement?.timestamp ?? null,
              announcement: body ?? null,
              reachable: body ? answers.some(Boolean) : null,
              problem: e.problem ?? null,
            };
          }),
        );
        const directory = view.directory;
        print(
          cmd,
          {
            readcap,
            writer: writecap !== undefined,
            seqnum: directory.seqnum,
            updatedAt: directory.timestamp,
            from: view.from,
            servers,
            problems: view.problems,
          },
          () =>
            [
              `directory ${readcap}`,
              `seqnum ${directory.seqnum}, written ${isoTime(directory.timestamp)}, read from ${view.from}${writecap ? ' (this node holds its writecap)' : ''}`,
              servers.length === 0
                ? 'it lists no announcement yet (`ostrom gsd add-announcement`)\n'
                : table(
                    ['petname', 'nickname', 'server id', 'NURL', 'available', 'seqnum', 'answers'],
                    servers.map((s) => [
                      s.petname,
                      s.announcement?.nickname ?? '-',
                      s.announcement ? `${s.announcement.serverId.slice(0, 13)}…` : '-',
                      s.announcement?.nurls[0] ?? `(${s.problem})`,
                      s.announcement ? formatSize(s.announcement.availableSpace) : '-',
                      s.seqnum ?? '-',
                      s.reachable === null ? '-' : s.reachable ? 'yes' : 'NO',
                    ]),
                  ),
              ...view.problems.map((p) => `problem: ${p.nurl}: ${p.problem}\n`),
            ]
              .join('\n')
              .replace(/\n\n$/, '\n'),
        );
      });
    });
}
