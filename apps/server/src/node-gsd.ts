import {
  createGridMember,
  type GridDirectoryRead,
  type GridMember,
  type GridMemberStatus,
  type GsdLogger,
  parseIntroduction,
  parseReadCap,
  parseWriteCap,
  type SlotServer,
} from '@ostrom/gsd-client';
import { announcementBody, announcementWritecap, directoryWritecap } from './gsd.js';
import type { LoadedNode } from './node-dir.js';

// The grid service directory in a running node: @ostrom/gsd-client's grid member, given the
// node's `[gsd]` settings, its identity and its private writecaps. Its status is what
// `GET /admin/v1/gsd` and the panel show.

/** The grid service directory service of a running node. */
export type NodeGsd = GridMember;
/** What `GET /admin/v1/gsd` shows. */
export type NodeGsdStatus = GridMemberStatus;

export interface NodeGsdOptions {
  readonly node: LoadedNode;
  /** The node's anonymous NURL as it serves (its port may differ from the config's in tests). */
  readonly nurl: string;
  readonly furl: string;
  /** The space the node can still take (the version's `available-space`). */
  availableSpace(): Promise<number>;
  readonly logger?: GsdLogger;
  /** Unix seconds. */
  readonly now: () => number;
  /** Runs `fn` every `ms` until the returned function is called (default: an unref'd interval). */
  readonly every?: ((fn: () => Promise<void>, ms: number) => () => void) | undefined;
  /** How servers are reached (default HTTPS, 10 s a request). */
  readonly connect?: (nurl: string) => SlotServer;
  /** The slots this node takes anonymous writes of, told what each directory read lists. */
  readonly slots?: NodeDirectorySlots | undefined;
}

/**
 * The slots of the grid a node in accounting mode `required` takes anonymous writes of (the
 * accountant's `directorySlots`): the directory of its introduction and the one whose writecap
 * it holds, its own announcement (so that it holds it before the directory lists it: the
 * operator's `gsd add-announcement` reads it from here), and the announcements listed in the
 * directory it read last. Storage indexes derived from readcaps the node trusts, never from what
 * a slot holds: anyone can write bytes that look like a directory.
 */
export interface NodeDirectorySlots {
  admits(storageIndex: string): boolean;
  /**
   * The directory as a check read it (what the grid member's `onDirectory` is told): the
   * announcements it lists now, replacing those it listed before, and its membership key.
   */
  listed(directory: Pick<GridDirectoryRead, 'announcements' | 'membershipKey'>): void;
  /**
   * The grid's membership key that the directory read last publishes (32 bytes): grid
   * invitations verify under it. Undefined before any read, and when that directory has none.
   */
  membershipKey(): Uint8Array | undefined;
}

/**
 * The node's {@link NodeDirectorySlots} as its configuration and private writecaps say at
 * start. A writecap file that cannot be read admits nothing for it: the grid member reports the
 * damage at its checks.
 */
export async function nodeDirectorySlots(
  node: LoadedNode,
  logger?: GsdLogger,
): Promise<NodeDirectorySlots> {
  const { introduction, announce } = node.config.gsd;
  const fixed = new Set<string>();
  if (introduction !== undefined) {
    fixed.add(parseReadCap(parseIntroduction(introduction).readcap).storageIndex);
  }
  try {
    const held = await directoryWritecap(node);
    if (held !== undefined) fixed.add(parseWriteCap(held).storageIndex);
    if (introduction !== undefined && announce) {
      const own = await announcementWritecap(node);
      if (own.created)
        logger?.info({ readcap: own.readcap }, 'made the slot of this node’s announcement');
      fixed.add(parseReadCap(own.readcap).storageIndex);
    }
  } catch (error) {
    logger?.error({ err: error }, 'grid service directory: a private writecap is unreadable');
  }
  let listed = new Set<string>();
  let key: Uint8Array | undefined;
  return {
    admits: (storageIndex) => fixed.has(storageIndex) || listed.has(storageIndex),
    membershipKey: () => key,
    listed({ announcements, membershipKey }) {
      const next = new Set<string>();
      for (const readcap of announcements) {
        try {
          next.add(parseReadCap(readcap).storageIndex);
        } catch {
          // The directory's entries are checked when it is read; nothing else to admit here.
        }
      }
      listed = next;
      key = membershipKey;
    },
  };
}

export function createNodeGsd(options: NodeGsdOptions): NodeGsd {
  const { node, nurl, furl, logger } = options;
  const config = node.config.gsd;
  return createGridMember({
    introduction: config.introduction,
    announce: config.announce,
    nurl,
    announcement: async () =>
      announcementBody(node, {
        nurls: [nurl],
        furl,
        availableSpace: await options.availableSpace(),
      }),
    async announcementWritecap() {
      const { writecap, readcap, created } = await announcementWritecap(node);
      if (created) logger?.info({ readcap }, 'made the slot of this node’s announcement');
      return writecap;
    },
    directoryWritecap: () => directoryWritecap(node),
    ...(options.slots ? { onDirectory: (directory) => options.slots?.listed(directory) } : {}),
    checkIntervalSeconds: config.checkIntervalSeconds,
    republishIntervalSeconds: config.republishIntervalSeconds,
    now: options.now,
    ...(options.every ? { every: options.every } : {}),
    connect: options.connect,
    logger,
  });
}
