import {
  type AnnouncementBody,
  type DirectoryBody,
  type GsdDocument,
  readDocument,
  type ServerProblem,
  type SlotServer,
} from '@ostrom/gsd-client';
import type { SlotServerPool } from './gsd.js';

// One look at a grid service directory from a set of servers to start from: the directory and
// every announcement it lists, each read from whichever server holds its newest valid copy.
// Operator commands (`ostrom gsd ...`) and the node use it; clients use GsdClient, which adds
// rollback protection across runs, polling and a saved state.

/** One entry of the directory, with its announcement when a server holds it. */
export interface GridEntry {
  readonly petname: string;
  readonly readcap: string;
  /** The newest valid announcement found, or undefined. */
  readonly announcement: GsdDocument<AnnouncementBody> | undefined;
  /** Why there is none (no server holds it, or every copy was refused). */
  readonly problem: string | undefined;
}

/** What {@link readGrid} found. */
export interface GridView {
  readonly directory: GsdDocument<DirectoryBody> | undefined;
  /** The NURL the directory was read from. */
  readonly from: string | undefined;
  readonly entries: readonly GridEntry[];
  /** Servers whose copy of the directory was refused or could not be read. */
  readonly problems: readonly ServerProblem[];
  /** Every server reached or named: the start servers and each announcement's NURLs. */
  readonly nurls: readonly string[];
}

/**
 * Reads the directory from the start servers, then every announcement it lists from every
 * server known (the start servers, then also those the announcements name), then the directory
 * again from all of them (a listed server may hold a newer copy than the start servers).
 */
export async function readGrid(
  pool: SlotServerPool,
  readcap: string,
  start: readonly string[],
): Promise<GridView> {
  const nurls = new Set(start);
  const servers = () => pool.servers(nurls);
  let dir = await readDocument(servers(), readcap, 'directory');
  const found = new Map<string, GsdDocument<AnnouncementBody>>();
  const problems = new Map<string, string>();
  const resolve = async (list: readonly { readcap: string }[], from: SlotServer[]) => {
    await Promise.all(
      list.map(async ({ readcap: cap }) => {
        if (found.has(cap)) return;
        const read = await readDocument(from, cap, 'announcement');
        if (read.document) {
          found.set(cap, read.document);
          problems.delete(cap);
        } else {
          problems.set(cap, describeMissing(read.problems, from.length));
        }
      }),
    );
    for (const doc of found.values()) for (const nurl of doc.body.nurls) nurls.add(nurl);
  };
  for (let round = 0; round < 3; round++) {
    const before = nurls.size;
    await resolve(dir.document?.body.announcements ?? [], servers());
    const again = await readDocument(servers(), readcap, 'directory');
    if ((again.document?.seqnum ?? -1) >= (dir.document?.seqnum ?? -1)) dir = again;
    // Stop once no new server turned up (new ones may hold announcements not found yet).
    if (nurls.size === before) break;
  }
  await resolve(dir.document?.body.announcements ?? [], servers());
  return {
    directory: dir.document,
    from: dir.from,
    entries: (dir.document?.body.announcements ?? []).map((e) => ({
      petname: e.petname,
      readcap: e.readcap,
      announcement: found.get(e.readcap),
      problem: found.has(e.readcap) ? undefined : problems.get(e.readcap),
    })),
    problems: dir.problems,
    nurls: [...nurls],
  };
}

/** Every NURL the announcements found name, in the directory's order. */
export function announcedNurls(view: GridView): string[] {
  return view.entries.flatMap((e) => e.announcement?.body.nurls ?? []);
}

/** Why no copy of a document was usable, in one line. */
export function describeMissing(problems: readonly ServerProblem[], asked: number): string {
  if (problems.length === 0) return `none of the ${asked} server(s) asked holds it`;
  const unreachable = problems.filter((p) => p.code === 'UNREACHABLE').length;
  const refused = problems.filter((p) => p.code !== 'UNREACHABLE');
  const parts = [];
  if (unreachable > 0) parts.push(`${unreachable} of ${asked} server(s) did not answer`);
  if (refused.length > 0) parts.push(`copies refused: ${refused.map((p) => p.problem).join('; ')}`);
  if (unreachable + refused.length < asked) parts.push('the others hold none');
  return parts.join(', ');
}
