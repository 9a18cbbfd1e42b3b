import type { DocumentKind } from './bodies.js';
import { parseWriteCap } from './caps.js';
import { deriveSlotSecrets } from './derive.js';
import type { GsdDocument } from './document.js';
import { errorMessage } from './errors.js';
import { readDocument } from './publish.js';
import { decodeSlotData, slotHeaderOf } from './slot.js';
import type { SlotServer } from './slot-server.js';

// A writer's upkeep of its document: which servers hold which version, and giving the newest
// version, unchanged, to those that lack it (new in the grid, down at the last write, or wiped).

/**
 * What a server holds of a document: `current` the newest version found, `stale` an older one,
 * `missing` none, `refused` a copy that failed verification; `unreachable` it did not answer.
 */
export const SERVER_COPY_STATES = [
  'current',
  'stale',
  'missing',
  'refused',
  'unreachable',
] as const;

export type ServerCopyState = (typeof SERVER_COPY_STATES)[number];

/** One server's copy of a document, as {@link surveyCopies} found it. */
export interface ServerCopy {
  readonly nurl: string;
  readonly state: ServerCopyState;
  readonly seqnum: number | null;
  readonly problem: string | null;
}

/**
 * Each server's copy of a document, read from every server at once, each on its own (so that
 * each server's state is known, not only the newest copy), and the newest valid one. Never
 * throws for a server.
 */
export async function surveyCopies(
  servers: readonly SlotServer[],
  readcap: string,
  kind: DocumentKind,
): Promise<{ newest: GsdDocument<unknown> | undefined; copies: ServerCopy[] }> {
  const reads = await Promise.all(
    servers.map(async (server) => ({
      server,
      read: await readDocument([server], readcap, kind),
    })),
  );
  let newest: GsdDocument<unknown> | undefined;
  for (const { read } of reads) {
    if (read.document && (!newest || read.document.seqnum > newest.seqnum)) newest = read.document;
  }
  const copies = reads.map(({ server, read }): ServerCopy => {
    const problem = read.problems[0];
    if (read.document) {
      return {
        nurl: server.nurl,
        state: read.document.seqnum === newest?.seqnum ? 'current' : 'stale',
        seqnum: read.document.seqnum,
        problem: null,
      };
    }
    if (problem) {
      return {
        nurl: server.nurl,
        state: problem.code === 'UNREACHABLE' ? 'unreachable' : 'refused',
        seqnum: null,
        problem: problem.problem,
      };
    }
    return { nurl: server.nurl, state: 'missing', seqnum: null, problem: null };
  });
  return { newest, copies };
}

/** Servers that answered but lack the newest copy (an unreachable one is retried later). */
export function lackingCopies(copies: readonly ServerCopy[]): ServerCopy[] {
  return copies.filter(
    (c) => c.state === 'stale' || c.state === 'missing' || c.state === 'refused',
  );
}

/** A server a write to failed, and why. */
export interface ServerFailure {
  readonly nurl: string;
  readonly reason: string;
}

/**
 * Copies the newest copy of a document, byte for byte (the same seqnum), from a server holding
 * it to each server that answered without it (`copies`: {@link surveyCopies}' result for the
 * same servers). The version is not re-sealed, so readers see no change. Each write is tested against the header that
 * server had just now, so a writer meanwhile wins (and the copy is tried at the next check).
 */
export async function copyNewestVersion(
  servers: readonly SlotServer[],
  copies: readonly ServerCopy[],
  writecap: string,
): Promise<{ copied: string[]; failed: ServerFailure[] }> {
  const cap = parseWriteCap(writecap);
  const byNurl = new Map(servers.map((s) => [s.nurl, s]));
  const current = copies.find((c) => c.state === 'current');
  const holder = current && byNurl.get(current.nurl);
  const copied: string[] = [];
  const failed: ServerFailure[] = [];
  const targets = lackingCopies(copies);
  if (!holder || !current) return { copied, failed };
  let data: Uint8Array | undefined;
  try {
    data = await holder.read(cap.storageIndex);
  } catch (error) {
    return { copied, failed: targets.map((t) => ({ nurl: t.nurl, reason: errorMessage(error) })) };
  }
  // Changed since it was read (a new version): the next check sees it.
  if (!data || decodeSlotData(data).seqnum !== current.seqnum) return { copied, failed };
  const newest = data;
  await Promise.all(
    targets.map(async ({ nurl }) => {
      const server = byNurl.get(nurl);
      if (!server) return;
      try {
        const old = await server.read(cap.storageIndex);
        const secrets = deriveSlotSecrets(cap.seed, server.serverId);
        const ok = await server.testAndWrite(cap.storageIndex, slotHeaderOf(old), newest, secrets);
        if (ok) copied.push(nurl);
        else failed.push({ nurl, reason: 'another writer changed it meanwhile' });
      } catch (error) {
        failed.push({ nurl, reason: errorMessage(error) });
      }
    }),
  );
  return { copied, failed };
}
