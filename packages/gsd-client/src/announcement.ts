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
