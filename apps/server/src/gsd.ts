import {
  type AnnouncementBody,
  connectSlotServer,
  createWriteCap,
  GsdError,
  parseWriteCap,
  type SlotServer,
} from '@ostrom/gsd-client';
import { parseNurl } from '@ostrom/protocol';
import { NodeError } from './errors.js';
import { ensurePrivateLine, type LoadedNode, PRIVATE_FILES, readPrivateLine } from './node-dir.js';
import { APPLICATION_VERSION } from './version.js';

// What the node and the `ostrom gsd` commands share of the grid service directory: the node's
// private writecaps, its announcement's body, and a pool of connections to storage servers.

/**
 * A change of available space this large (relative to the figure last announced) is published.
 * The figure is advisory: Tahoe clients show it but do not place shares by it
 * (docs/TAHOE-COMPATIBILITY.md fact 14), and every publication is one write on every server of
 * the grid, so a node whose free space moves with every upload must not republish each time. A
 * tenth keeps the figure within 10% of the truth while a node filling up from 1 TB to empty
 * republishes about 40 times over its life (each at most once per `check_interval`).
 */
export const SPACE_CHANGE_RATIO = 0.1;

/** Per request, for servers of the grid: a poll or a command must not hang on one server. */
export const GSD_TIMEOUT_MS = 10_000;

/** The writecap in a private file, checked: NodeError `NODE_DAMAGED` naming the file if it is not one. */
function checkedWritecap(node: LoadedNode, name: string, text: string): string {
  try {
    parseWriteCap(text);
    return text;
  } catch (error) {
    const why = error instanceof GsdError ? error.message : String(error);
    throw new NodeError(
      'NODE_DAMAGED',
      `${node.dir}/${name} is damaged: not a grid service directory writecap (${why})`,
      { cause: error },
    );
  }
}

/**
 * The writecap of this node's announcement (`private/gsd-announcement.writecap`), made on
 * first need: it names the node's slot on every server, so it never changes afterwards.
 */
export async function announcementWritecap(
  node: LoadedNode,
): Promise<{ writecap: string; readcap: string; created: boolean }> {
  const { line, created } = await ensurePrivateLine(
    node.dir,
    PRIVATE_FILES.gsdAnnouncement,
    createWriteCap,
  );
  const writecap = checkedWritecap(node, PRIVATE_FILES.gsdAnnouncement, line);
  return { writecap, readcap: parseWriteCap(writecap).readcap, created };
}

/** The directory's writecap when this node's operator made the directory, else undefined. */
export async function directoryWritecap(node: LoadedNode): Promise<string | undefined> {
  const line = await readPrivateLine(node.dir, PRIVATE_FILES.gsdDirectory);
  return line === undefined ? undefined : checkedWritecap(node, PRIVATE_FILES.gsdDirectory, line);
}

/** This node's announcement: what a Tahoe client needs to use it (servers.yaml's `ann`). */
export function announcementBody(
  node: LoadedNode,
  current: { nurls: readonly string[]; furl: string; availableSpace: number },
): AnnouncementBody {
  return {
    nickname: node.config.node.nickname,
    serverId: node.serverId,
    nurls: [...current.nurls],
    anonymousStorageFurl: current.furl,
    permutationSeed: node.permutationSeed,
    availableSpace: Math.max(
      0,
      Math.min(Math.floor(current.availableSpace), Number.MAX_SAFE_INTEGER),
    ),
    version: APPLICATION_VERSION,
  };
}

/**
 * Why `current` must be published over `previous` (what was last announced), or undefined when
 * the difference is not worth a write on every server: anything but the available space, or
 * the space moving by {@link SPACE_CHANGE_RATIO} or more (or reaching or leaving zero).
 */
export function announcementChange(
  previous: AnnouncementBody | undefined,
  current: AnnouncementBody,
): string | undefined {
  if (previous === undefined) return 'not published yet';
  for (const key of [
    'nickname',
    'serverId',
    'anonymousStorageFurl',
    'permutationSeed',
    'version',
  ] as const) {
    if (previous[key] !== current[key]) return `${key} changed`;
  }
  if (
    previous.nurls.length !== current.nurls.length ||
    previous.nurls.some((n, i) => n !== current.nurls[i])
  ) {
    return 'NURLs changed';
  }
  if (spaceChanged(previous.availableSpace, current.availableSpace))
    return 'available space changed';
  return undefined;
}

/** Whether available space moved enough to announce: {@link SPACE_CHANGE_RATIO}, or to or from zero. */
export function spaceChanged(before: number, now: number): boolean {
  if ((before === 0) !== (now === 0)) return true;
  return before > 0 && Math.abs(now - before) >= before * SPACE_CHANGE_RATIO;
}

/** The key naming one server: the SPKI hash its NURLs pin (two NURLs of a server are one server). */
export function serverKey(nurl: string): string {
  return parseNurl(nurl).spkiHash;
}

/** A storage server of the grid over HTTPS, with {@link GSD_TIMEOUT_MS} a request. */
export function connectGsdServer(nurl: string): SlotServer {
  return connectSlotServer(nurl, { timeoutMs: GSD_TIMEOUT_MS });
}

/**
 * Connections to storage servers, made on first need (one per NURL) and all closed by
 * `close()`. `servers()` gives one per server: NURLs pinning the same key are one server (the
 * processes of one node), and the first NURL given for it is used.
 */
export class SlotServerPool {
  readonly #connect: (nurl: string) => SlotServer;
  readonly #servers = new Map<string, SlotServer>();

  constructor(connect?: (nurl: string) => SlotServer) {
    this.#connect = connect ?? connectGsdServer;
  }

  /** The server at a NURL (connected once). */
  server(nurl: string): SlotServer {
    let server = this.#servers.get(nurl);
    if (!server) {
      server = this.#connect(nurl);
      this.#servers.set(nurl, server);
    }
    return server;
  }

  /** One server per key among these NURLs, in order of first mention (earlier NURLs win). */
  servers(nurls: Iterable<string>): SlotServer[] {
    const byKey = new Map<string, SlotServer>();
    for (const nurl of nurls) {
      const key = serverKey(nurl);
      if (!byKey.has(key)) byKey.set(key, this.server(nurl));
    }
    return [...byKey.values()];
  }

  close(): void {
    for (const server of this.#servers.values()) server.close();
    this.#servers.clear();
  }
}
