import type { AnnouncementBody, DirectoryBody, DirectoryEntry } from './bodies.js';
import { parseReadCap } from './caps.js';
import type { GsdDocument } from './document.js';
import { errorMessage } from './errors.js';
import { readDocument, type ServerProblem } from './publish.js';
import type { SlotServer } from './slot-server.js';
import { type SlotServerPool, serverKey } from './slot-server-pool.js';

// The one reader of a grid: GsdClient polls with it, a storage node checks its grid with it, and
// operator tools show the grid with it.

/** One entry of the directory, with its announcement when a server holds it. */
export interface GridEntry {
  readonly petname: string;
  readonly readcap: string;
  /** The newest valid announcement found, or undefined. */
  readonly announcement: GsdDocument<AnnouncementBody> | undefined;
  /** Why there is none, in one line (no server holds it, or every copy was refused). */
  readonly problem: string | undefined;
  /**
   * Each copy refused, or server that failed, among the servers asked for this announcement
   * (each asked once; a search stops at the first round that finds a valid copy).
   */
  readonly problems: readonly ServerProblem[];
  /** Whether one of the servers it announces answered the read (undefined: no announcement). */
  readonly answering: boolean | undefined;
  /** How many of the servers asked for this announcement answered (holding it or not). */
  readonly answered: number;
}

/** What {@link readGrid} found. */
export interface GridView {
  readonly directory: GsdDocument<DirectoryBody> | undefined;
  /** The NURL the directory was read from. */
  readonly from: string | undefined;
  /** The directory's entries (or, with no directory found, `options.fallback`'s). */
  readonly entries: readonly GridEntry[];
  /** Servers whose copy of the directory was refused or could not be read. */
  readonly problems: readonly ServerProblem[];
  /** The NURLs asked for the directory. */
  readonly asked: readonly string[];
  /** Those that answered (with a copy or without). */
  readonly answered: readonly string[];
  /** Every NURL reached or named: the start servers and each announcement's NURLs. */
  readonly nurls: readonly string[];
}

/** Options of {@link readGrid}. */
export interface ReadGridOptions {
  /** The lowest directory seqnum acceptable: lower ones are refused as rollbacks (default 0). */
  readonly directoryAtLeast?: number;
  /** The lowest seqnum acceptable for an announcement, by readcap (default 0). */
  readonly announcementAtLeast?: (readcap: string) => number;
  /** The entries to read when no server gives an acceptable directory (the last good list). */
  readonly fallback?: readonly DirectoryEntry[];
}

/**
 * How many times the servers newly named by announcements are asked in turn. Each round asks
 * only servers not asked yet, so this bounds the latency of a read, not its requests: a grid
 * whose start servers name every server settles in two rounds.
 */
const MAX_ROUNDS = 4;

interface Resolution {
  document: GsdDocument<AnnouncementBody> | undefined;
  problems: ServerProblem[];
  asked: Set<SlotServer>;
}

/**
 * One look at a grid: the directory from the start servers, every announcement it lists from
 * the servers that answered, then the directory and the announcements not found yet from the
 * servers those announcements name, until no new server turns up (a listed server may hold a
 * newer directory than the start servers). A server (the NURLs pinning one key) that answered is
 * asked at most once for each document; one that did not is asked again only at another of its
 * NURLs. Copies below the `...AtLeast` floors are refused as rollbacks. Never throws for a server's failure: problems are in the view. `readcap` is
 * checked (GsdError `BAD_CAP`).
 */
export async function readGrid(
  pool: SlotServerPool,
  readcap: string,
  start: readonly string[],
  options: ReadGridOptions = {},
): Promise<GridView> {
  parseReadCap(readcap);
  const known = new Set(start);
  const asked = new Set<SlotServer>();
  /** NURLs asked for the directory, or that could not be connected. */
  const tried = new Set<string>();
  const answeredKeys = new Set<string>();
  const answered = new Set<SlotServer>();
  const problems: ServerProblem[] = [];
  const resolutions = new Map<string, Resolution>();
  let directory: GsdDocument<DirectoryBody> | undefined;
  let from: string | undefined;
  const entries = (): readonly DirectoryEntry[] =>
    directory?.body.announcements ?? options.fallback ?? [];

  const resolve = async (entry: DirectoryEntry): Promise<void> => {
    let resolution = resolutions.get(entry.readcap);
    if (resolution === undefined) {
      resolution = { document: undefined, problems: [], asked: new Set() };
      resolutions.set(entry.readcap, resolution);
    }
    if (resolution.document !== undefined) return;
    const fresh = [...answered].filter((server) => !resolution.asked.has(server));
    if (fresh.length === 0) return;
    for (const server of fresh) resolution.asked.add(server);
    const read = await readDocument(fresh, entry.readcap, 'announcement', {
      atLeast: options.announcementAtLeast?.(entry.readcap) ?? 0,
    });
    resolution.problems.push(...read.problems);
    if (read.document !== undefined) resolution.document = read.document;
  };

  for (let round = 0; round < MAX_ROUNDS; round++) {
    // One NURL per server (SPKI key) not heard from yet: a server that answered is not asked
    // again, but one that did not may answer at another of its NURLs (it moved to another
    // port, or another of its processes is up), tried in the next round.
    const fresh = new Map<string, SlotServer>();
    for (const nurl of known) {
      if (tried.has(nurl)) continue;
      try {
        const key = serverKey(nurl);
        if (fresh.has(key)) continue;
        tried.add(nurl);
        if (!answeredKeys.has(key)) fresh.set(key, pool.server(nurl));
      } catch (error) {
        tried.add(nurl);
        problems.push({ nurl, code: 'UNREACHABLE', problem: errorMessage(error) });
      }
    }
    if (fresh.size === 0) break;
    for (const server of fresh.values()) asked.add(server);
    const read = await readDocument([...fresh.values()], readcap, 'directory', {
      atLeast: options.directoryAtLeast ?? 0,
    });
    problems.push(...read.problems);
    for (const [key, server] of fresh) {
      if (!read.answered.includes(server.nurl)) continue;
      answered.add(server);
      answeredKeys.add(key);
    }
    if (read.document !== undefined && read.document.seqnum > (directory?.seqnum ?? -1)) {
      directory = read.document;
      from = read.from;
    }
    await Promise.all(entries().map(resolve));
    for (const { document } of resolutions.values()) {
      for (const nurl of document?.body.nurls ?? []) known.add(nurl);
    }
  }

  return {
    directory,
    from,
    entries: entries().map((entry): GridEntry => {
      const resolution = resolutions.get(entry.readcap);
      const document = resolution?.document;
      return {
        petname: entry.petname,
        readcap: entry.readcap,
        announcement: document,
        problem:
          document === undefined
            ? describeMissing(resolution?.problems ?? [], resolution?.asked.size ?? 0)
            : undefined,
        problems: resolution?.problems ?? [],
        answering: document?.body.nurls.some((nurl) => answeredKeys.has(serverKey(nurl))),
        answered:
          (resolution?.asked.size ?? 0) -
          (resolution?.problems ?? []).filter((p) => p.code === 'UNREACHABLE').length,
      };
    }),
    problems,
    asked: [...asked].map((server) => server.nurl),
    answered: [...answered].map((server) => server.nurl),
    nurls: [...known],
  };
}

/** Every NURL the announcements found name, in the directory's order. */
export function announcedNurls(view: GridView): string[] {
  return view.entries.flatMap((entry) => entry.announcement?.body.nurls ?? []);
}

/** Why no copy of a document was usable, in one line. */
export function describeMissing(problems: readonly ServerProblem[], asked: number): string {
  if (asked === 0) return 'no server answered to be asked for it';
  if (problems.length === 0) return `none of the ${asked} server(s) asked holds it`;
  const unreachable = problems.filter((p) => p.code === 'UNREACHABLE').length;
  const refused = problems.filter((p) => p.code !== 'UNREACHABLE');
  const parts = [];
  if (unreachable > 0) parts.push(`${unreachable} of ${asked} server(s) did not answer`);
  if (refused.length > 0) parts.push(`copies refused: ${refused.map((p) => p.problem).join('; ')}`);
  if (unreachable + refused.length < asked) parts.push('the others hold none');
  return parts.join(', ');
}
