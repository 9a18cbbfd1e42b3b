import {
  createGridMember,
  type GridMember,
  type GridMemberStatus,
  type GsdLogger,
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
    checkIntervalSeconds: config.checkIntervalSeconds,
    republishIntervalSeconds: config.republishIntervalSeconds,
    now: options.now,
    ...(options.every ? { every: options.every } : {}),
    connect: options.connect,
    logger,
  });
}
