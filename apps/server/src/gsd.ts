import { type AnnouncementBody, createWriteCap, GsdError, parseWriteCap } from '@ostrom/gsd-client';
import {
  base32Decode,
  base32Encode,
  generateAccountKey,
  publicKeyFromPrivate,
} from '@ostrom/protocol';
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

/** The grid's membership key as this node keeps it: the seed signs, the public key is published. */
export interface MembershipKey {
  /** The 32-byte Ed25519 seed (private: `private/gsd-membership.key`). */
  readonly seed: Uint8Array;
  /** The 32-byte public key the directory publishes. */
  readonly publicKey: Uint8Array;
}

function checkedMembershipKey(node: LoadedNode, line: string): MembershipKey {
  const seed = base32Decode(line);
  if (seed?.length !== 32) {
    throw new NodeError(
      'NODE_DAMAGED',
      `${node.dir}/${PRIVATE_FILES.gsdMembership} is damaged: expected 32 bytes of base32`,
    );
  }
  return { seed, publicKey: publicKeyFromPrivate(seed) };
}

/** The grid's membership key, on the node of the directory's operator once made; else undefined. */
export async function membershipKey(node: LoadedNode): Promise<MembershipKey | undefined> {
  const line = await readPrivateLine(node.dir, PRIVATE_FILES.gsdMembership);
  return line === undefined ? undefined : checkedMembershipKey(node, line);
}

/**
 * The grid's membership key (`private/gsd-membership.key`), made on first need. Losing it only
 * means making another and publishing it: invitations signed with the old one stop working.
 */
export async function ensureMembershipKey(
  node: LoadedNode,
): Promise<MembershipKey & { created: boolean }> {
  const { line, created } = await ensurePrivateLine(node.dir, PRIVATE_FILES.gsdMembership, () =>
    base32Encode(generateAccountKey().privateKey),
  );
  return { ...checkedMembershipKey(node, line), created };
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
