import type { AnnouncementBody } from './bodies.js';
import { type PublishOptions, type PublishResult, publishDocument } from './publish.js';
import type { SlotServer } from './slot-server.js';

/**
 * A storage node's own announcement, published (seqnum = newest + 1) to every given server —
 * normally every server listed in the directory, so any one of them can serve it.
 */
export function publishAnnouncement(
  servers: readonly SlotServer[],
  writecap: string,
  body: AnnouncementBody,
  options: PublishOptions = {},
): Promise<PublishResult> {
  return publishDocument(servers, writecap, 'announcement', body, options);
}

/**
 * A change of available space this large (relative to the figure last announced) is published.
 * The figure is advisory: Tahoe clients show it but do not place shares by it
 * (docs/TAHOE-COMPATIBILITY.md fact 14), and every publication is one write on
 * every server of the grid, so a node whose free space moves with every upload must not
 * republish each time. A tenth keeps the figure within 10% of the truth while a node filling up
 * from 1 TB to empty republishes about 40 times over its life.
 */
export const SPACE_CHANGE_RATIO = 0.1;

/** Whether available space moved enough to announce: {@link SPACE_CHANGE_RATIO}, or to or from zero. */
export function spaceChanged(before: number, now: number): boolean {
  if ((before === 0) !== (now === 0)) return true;
  return before > 0 && Math.abs(now - before) >= before * SPACE_CHANGE_RATIO;
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
  if (spaceChanged(previous.availableSpace, current.availableSpace)) {
    return 'available space changed';
  }
  return undefined;
}
