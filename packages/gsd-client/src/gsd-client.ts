import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { base32Decode, base32Encode } from '@ostrom/protocol';
import { z } from 'zod';
import { writeFileAtomically } from './atomic-file.js';
import {
  type AnnouncementBody,
  announcementBodySchema,
  describeIssue,
  MEMBERSHIP_KEY_BYTES,
  petnameSchema,
  uintSchema,
} from './bodies.js';
import { errorMessage, GsdError, type GsdErrorCode } from './errors.js';
import { readGrid } from './grid-reader.js';
import { type Introduction, parseIntroduction } from './introduction.js';
import type { ServerProblem } from './publish.js';
import type { SlotServer } from './slot-server.js';
import { SlotServerPool, serverKey } from './slot-server-pool.js';

/** One storage server of the grid, as the directory and its announcement describe it. */
export interface GridServer {
  /** The operator's name for it in the directory. */
  petname: string;
  /** The readcap of its announcement. */
  readcap: string;
  /** The seqnum of the announcement in use. */
  seqnum: number;
  announcement: AnnouncementBody;
  /** Whether one of its NURLs answered during the last poll. */
  reachable: boolean;
}

/** What one poll changed; a change of reachability is an update. */
export interface GridChange {
  added: GridServer[];
  removed: GridServer[];
  updated: { before: GridServer; after: GridServer }[];
}

/** Something wrong that a poll skipped over: a server down, a forged or replayed document, … */
export interface GsdProblem {
  nurl?: string;
  /** The readcap of the document concerned (the directory's or an announcement's). */
  readcap?: string;
  code: GsdErrorCode;
  problem: string;
}

/** The events of a {@link GsdClient}. */
export interface GsdClientEvents {
  change: [GridChange];
  problem: [GsdProblem];
}

/** Timer functions, injectable so tests drive polls by hand. */
export interface GsdTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Options of {@link GsdClient}. */
export interface GsdClientOptions {
  /** `<directory readcap>,<nurl>[,<nurl>...]`. */
  introduction: string;
  /** Where the last good state is kept (JSON); without one nothing persists. */
  statePath?: string;
  /** Seconds between polls once started (default 300). */
  pollSeconds?: number;
  /** The clock, Unix seconds (default: the system clock). */
  now?: () => number;
  /** How a NURL becomes a {@link SlotServer} (default: over HTTPS, `connectSlotServer`). */
  connect?: (nurl: string) => SlotServer;
  timers?: GsdTimers;
}

const STATE_VERSION = 1;

const gridServerSchema = z.object({
  petname: petnameSchema,
  readcap: z.string(),
  seqnum: uintSchema,
  announcement: announcementBodySchema,
  reachable: z.boolean(),
});

const stateSchema = z.object({
  version: z.literal(STATE_VERSION),
  directory: z.string(),
  directorySeqnum: uintSchema,
  /** Highest seqnum seen per announcement readcap, kept after removal (re-adding can't roll back). */
  seqnums: z.record(z.string(), uintSchema),
  refreshedAt: z.number().int().nullable(),
  servers: z.array(gridServerSchema),
  /** The directory's membership key, base32; absent when it has none (and in older states). */
  membershipKey: z
    .string()
    .refine((t) => base32Decode(t)?.length === MEMBERSHIP_KEY_BYTES, 'a membership key')
    .optional(),
});

type State = z.infer<typeof stateSchema>;

const systemTimers: GsdTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** A canonical text of a server, to tell whether it changed. */
function fingerprint(server: GridServer): string {
  const a = server.announcement;
  return JSON.stringify([
    server.petname,
    server.readcap,
    server.seqnum,
    server.reachable,
    [a.nickname, a.serverId, a.nurls, a.anonymousStorageFurl, a.permutationSeed],
    [a.availableSpace, a.version],
  ]);
}

/** The changes from `before` to `after`, servers named by their announcement readcap. */
function diffServers(before: readonly GridServer[], after: readonly GridServer[]): GridChange {
  const old = new Map(before.map((s) => [s.readcap, s]));
  const now = new Map(after.map((s) => [s.readcap, s]));
  const change: GridChange = { added: [], removed: [], updated: [] };
  for (const server of after) {
    const previous = old.get(server.readcap);
    if (previous === undefined) change.added.push(server);
    else if (fingerprint(previous) !== fingerprint(server)) {
      change.updated.push({ before: previous, after: server });
    }
  }
  for (const server of before) if (!now.has(server.readcap)) change.removed.push(server);
  return change;
}

/** Whether a change has anything in it. */
function isEmptyChange(change: GridChange): boolean {
  return change.added.length + change.removed.length + change.updated.length === 0;
}

/**
 * A client of a grid service directory: reads the directory and every announcement through any
 * storage server it can reach, refuses rollbacks (per document, across restarts through the state
 * file), skips servers that are down, reports and ignores documents that fail verification, and
 * keeps the last good list of storage servers. Emits `change` after a poll that changed the list
 * and `problem` for each thing skipped.
 */
export class GsdClient extends EventEmitter<GsdClientEvents> {
  readonly #introduction: Introduction;
  readonly #statePath: string | undefined;
  readonly #pollMs: number;
  readonly #now: () => number;
  readonly #pool: SlotServerPool;
  readonly #timers: GsdTimers;
  #servers: GridServer[] = [];
  #directorySeqnum = 0;
  #membershipKey: Uint8Array | undefined;
  #seqnums = new Map<string, number>();
  #refreshedAt: number | null = null;
  #running: Promise<GridChange> | undefined;
  #timer: unknown;
  #started = false;

  constructor(options: GsdClientOptions) {
    super();
    this.#introduction = parseIntroduction(options.introduction);
    const pollSeconds = options.pollSeconds ?? 300;
    if (!(pollSeconds > 0) || !Number.isFinite(pollSeconds)) {
      throw new RangeError('pollSeconds must be > 0');
    }
    this.#pollMs = pollSeconds * 1000;
    this.#statePath = options.statePath;
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.#pool = new SlotServerPool(options.connect);
    this.#timers = options.timers ?? systemTimers;
  }

  /** The storage servers as of the last good poll (or the loaded state). */
  get servers(): readonly GridServer[] {
    return this.#servers;
  }

  /** The directory's readcap. */
  get directory(): string {
    return this.#introduction.readcap;
  }

  /** The directory seqnum last accepted: lower ones are refused. */
  get directorySeqnum(): number {
    return this.#directorySeqnum;
  }

  /**
   * The grid's membership key the directory published as of the last poll that read it (or the
   * loaded state): what grid invitations are signed with. Undefined when it publishes none.
   */
  get membershipKey(): Uint8Array | undefined {
    return this.#membershipKey;
  }

  /** When the last poll finished (Unix seconds), if ever. */
  get refreshedAt(): number | null {
    return this.#refreshedAt;
  }

  /**
   * Reads the state file, if there is one and it is for this directory; needs no server. GsdError
   * `BAD_STATE` if the file exists but is not a state.
   */
  async load(): Promise<void> {
    if (this.#statePath === undefined) return;
    let text: string;
    try {
      text = await readFile(this.#statePath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    let state: State;
    try {
      const parsed = stateSchema.safeParse(JSON.parse(text));
      if (!parsed.success) throw new Error(describeIssue(parsed.error));
      state = parsed.data;
    } catch (cause) {
      throw new GsdError(
        'BAD_STATE',
        `${this.#statePath} is not a GSD client state: ${errorMessage(cause)}`,
        {
          cause,
        },
      );
    }
    // A state for another directory (the client joined another grid) is not ours to use.
    if (state.directory !== this.#introduction.readcap) return;
    this.#directorySeqnum = state.directorySeqnum;
    this.#membershipKey =
      state.membershipKey === undefined ? undefined : base32Decode(state.membershipKey);
    this.#seqnums = new Map(Object.entries(state.seqnums));
    this.#refreshedAt = state.refreshedAt;
    this.#servers = state.servers.map((s) => ({ ...s }));
  }

  /**
   * One poll: the directory, then every announcement it lists, then reachability; persists the
   * state (atomically) and emits `change` if the list changed. A poll already running is joined,
   * never overlapped.
   */
  refresh(): Promise<GridChange> {
    this.#running ??= this.#poll().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Polls now, then every `pollSeconds` after each poll ends. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const tick = async () => {
      this.#timer = undefined;
      try {
        await this.refresh();
      } catch (err) {
        this.emit('problem', { code: 'BAD_STATE', problem: `poll failed: ${errorMessage(err)}` });
      }
      if (this.#started) this.#timer = this.#timers.setTimeout(() => void tick(), this.#pollMs);
    };
    void tick();
  }

  /** Stops polling, waits for a poll in progress, closes connections. */
  async stop(): Promise<void> {
    this.#started = false;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      await this.#running;
    } catch {
      // Reported by whoever awaited it.
    }
    this.#pool.close();
  }

  #server(nurl: string): SlotServer | undefined {
    try {
      return this.#pool.server(nurl);
    } catch (err) {
      this.#problem({ nurl, code: 'UNREACHABLE', problem: errorMessage(err) });
      return undefined;
    }
  }

  #problem(problem: GsdProblem): void {
    this.emit('problem', problem);
  }

  #report(problems: readonly ServerProblem[], readcap: string): void {
    for (const p of problems) {
      this.#problem({ nurl: p.nurl, readcap, code: p.code, problem: p.problem });
    }
  }

  async #poll(): Promise<GridChange> {
    const directory = this.#introduction.readcap;
    // Every server known can serve the directory: the introduction's and every announced one.
    const view = await readGrid(
      this.#pool,
      directory,
      [...this.#introduction.nurls, ...this.#servers.flatMap((s) => s.announcement.nurls)],
      {
        directoryAtLeast: this.#directorySeqnum,
        announcementAtLeast: (readcap) => this.#seqnums.get(readcap) ?? 0,
        // Without a directory this poll (none reachable, or only rollbacks), the last good
        // list stands, and its announcements are still refreshed.
        fallback: this.#servers.map((s) => ({ readcap: s.readcap, petname: s.petname })),
      },
    );
    this.#report(view.problems, directory);
    if (view.directory === undefined) {
      if (view.answered.length > 0 && !view.problems.some((p) => p.code !== 'UNREACHABLE')) {
        this.#problem({
          readcap: directory,
          code: 'NOT_FOUND',
          problem: 'no server holds the directory',
        });
      }
    } else {
      this.#directorySeqnum = view.directory.seqnum;
      this.#membershipKey = view.directory.body.membershipKey;
    }
    const previous = new Map(this.#servers.map((s) => [s.readcap, s]));
    const next: GridServer[] = [];
    // Servers found down by the directory's read are reported once, there.
    const down = new Set(view.problems.filter((p) => p.code === 'UNREACHABLE').map((p) => p.nurl));
    for (const entry of view.entries) {
      this.#report(
        entry.problems.filter((p) => p.code !== 'UNREACHABLE' || !down.has(p.nurl)),
        entry.readcap,
      );
      const document = entry.announcement;
      if (document !== undefined) {
        this.#seqnums.set(entry.readcap, document.seqnum);
        next.push({
          petname: entry.petname,
          readcap: entry.readcap,
          seqnum: document.seqnum,
          announcement: document.body,
          reachable: false,
        });
        continue;
      }
      const kept = previous.get(entry.readcap);
      // With no server answering for this announcement, the one problem is reachability,
      // reported already (the servers that answered for the directory may not be those asked).
      if (entry.answered > 0)
        this.#problem({
          readcap: entry.readcap,
          code: 'NOT_FOUND',
          problem:
            kept === undefined
              ? `no valid announcement for "${entry.petname}"; not listed until one is found`
              : `no valid announcement for "${entry.petname}"; keeping seqnum ${kept.seqnum}`,
        });
      if (kept !== undefined) next.push({ ...kept, petname: entry.petname });
    }

    // Reachable: one of its servers answered the read, or (servers not asked: the read stopped
    // before reaching them) answers now.
    const asked = new Set(view.asked.map(serverKey));
    const answered = new Set(view.answered.map(serverKey));
    await Promise.all(
      next.map(async (server) => {
        if (server.announcement.nurls.some((n) => answered.has(serverKey(n)))) {
          server.reachable = true;
          return;
        }
        const unasked = server.announcement.nurls.filter((n) => !asked.has(serverKey(n)));
        const answers = await Promise.all(
          unasked.map((n) => this.#server(n)?.reachable() ?? Promise.resolve(false)),
        );
        server.reachable = answers.some(Boolean);
      }),
    );

    const change = diffServers(this.#servers, next);
    this.#servers = next;
    this.#refreshedAt = this.#now();
    await this.#save();
    if (!isEmptyChange(change)) this.emit('change', change);
    return change;
  }

  async #save(): Promise<void> {
    if (this.#statePath === undefined) return;
    const state: State = {
      version: STATE_VERSION,
      directory: this.#introduction.readcap,
      directorySeqnum: this.#directorySeqnum,
      seqnums: Object.fromEntries(this.#seqnums),
      refreshedAt: this.#refreshedAt,
      servers: this.#servers,
      ...(this.#membershipKey === undefined
        ? {}
        : { membershipKey: base32Encode(this.#membershipKey) }),
    };
    await writeFileAtomically(this.#statePath, `${JSON.stringify(state, null, 2)}\n`);
  }
}
