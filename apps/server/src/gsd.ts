import { type AnnouncementBody, createWriteCap, GsdError, parseWriteCap } from '@ostrom/gsd-client';
import { NodeError } from './errors.js';
import { ensurePrivateLine, type LoadedNode, PRIVATE_FILES, readPrivateLine } from './node-dir.js';
import { APPLICATION_VERSION } from './version.js';

// What the node and the `ostrom gsd` commands share of the grid service directory: the node's
// private writecaps and its announcement's body. The rest is @ostrom/gsd-client's.

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
