import { base32Encode, parseNurl } from '@ostrom/protocol';
import { announcementChange, spaceChanged } from './announcement.js';
import type { AnnouncementBody } from './bodies.js';
import { parseWriteCap } from './caps.js';
import type { GsdDocument } from './document.js';
import { errorMessage } from './errors.js';
import { announcedNurls, type GridView, readGrid } from './grid-reader.js';
import { parseIntroduction } from './introduction.js';
import { type PublishResult, publishDocument, renewDocumentLeases } from './publish.js';
import {
  copyNewestVersion,
  lackingCopies,
  type ServerCopy,
  type ServerFailure,
  surveyCopies,
} from './server-copies.js';
import type { SlotServer } from './slot-server.js';
import { SlotServerPool } from './slot-server-pool.js';

// A storage node's part in a grid service directory. Given an introduction, the node publishes
// its own announcement to itself, the introduction's servers and every server the directory
// lists, and keeps it up to date; holding the directory's writecap, it renews the directory's
// leases and gives a copy to a listed server that lacks it. One check at start, then one every
// `checkIntervalSeconds`; every failure is logged, shown in the status, and retried at the next
// check.

/** The subset of a logger (pino's, for one) that a grid member writes to. */
export interface GsdLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What a grid member tells `onDirectory` of the directory a check read. */
export interface GridDirectoryRead {
  readonly readcap: string;
  readonly seqnum: number;
  /** The readcaps of the announcements it lists, in its order. */
  readonly announcements: readonly string[];
  /** The grid's membership key it publishes (32 bytes), if any: what grid invitations are signed with. */
  readonly membershipKey: Uint8Array | undefined;
}

/** Options of {@link createGridMember}. */
export interface GridMemberOptions {
  /** The directory's introduction text (`<readcap>,<nurl>[,<nurl>...]`); without one the node announces nothing. */
  readonly introduction?: string | undefined;
  /** Whether the node publishes its announcement when it has an introduction (default true). */
  readonly announce?: boolean;
  /** The node's own storage NURL: the first server asked and written. */
  readonly nurl: string;
  /**
   * The announcement as the node would publish it now (its NURLs, identity and free space). The
   * published space figure only follows it by {@link SPACE_CHANGE_RATIO} or more.
   */
  announcement(): Promise<AnnouncementBody>;
  /** The writecap of the node's announcement: it names the node's slot, so it never changes. */
  announcementWritecap(): Promise<string>;
  /** The directory's writecap when this node keeps the directory, else undefined; asked at each check. */
  directoryWritecap?(): Promise<string | undefined>;
  /**
   * Told what the directory lists each time a check read it (not when no server gave one: what
   * it was told last stands). A node whose servers admit only the grid's own anonymous writes
   * (accounting mode `required`) admits the announcements listed here. Called before the node
   * publishes anything in that check; what it throws is logged and changes nothing else.
   */
  onDirectory?(directory: GridDirectoryRead): void;
  /** Seconds between checks. */
  readonly checkIntervalSeconds: number;
  /** Seconds after which an unchanged announcement is published again and the directory's leases renewed. */
  readonly republishIntervalSeconds: number;
  /** The clock, Unix seconds (default: the system clock). */
  readonly now?: () => number;
  /** Runs `fn` every `ms` until the returned function is called (default: `setInterval`). */
  readonly every?: (fn: () => Promise<void>, ms: number) => () => void;
  /** How a NURL becomes a {@link SlotServer} (default: over HTTPS, `connectSlotServer`). */
  readonly connect?: (nurl: string) => SlotServer;
  readonly logger?: GsdLogger;
}

/** One server the directory lists, as the last check found it. */
export interface GridServerRow {
  readonly petname: string;
  readonly readcap: string;
  /** Its announcement, when a server held a valid copy; null otherwise (see `problem`). */
  readonly announcement: {
    readonly seqnum: number;
    readonly publishedAt: number;
    readonly body: AnnouncementBody;
  } | null;
  readonly problem: string | null;
  /**
   * Whether one of the servers it announces answered the last check; null when its
   * announcement was not found (so its NURLs are unknown).
   */
  readonly answering: boolean | null;
}

/** What a grid member did at its last check. */
export interface GridMemberStatus {
  /** Whether the node takes part: it has an introduction or holds the directory's writecap. */
  readonly enabled: boolean;
  readonly introduction: string | null;
  readonly checkIntervalSeconds: number;
  readonly republishIntervalSeconds: number;
  /** Checks done since the start. */
  readonly checks: number;
  readonly lastCheckAt: number | null;
  /** What the last check failed on as a whole (each server's trouble is under its copy). */
  readonly lastError: string | null;
  readonly directory: {
    readonly readcap: string;
    readonly seqnum: number | null;
    readonly updatedAt: number | null;
    readonly from: string | null;
    /** Announcements it lists. */
    readonly listed: number;
    /** Whether it lists this node's announcement (null: this node announces nothing). */
    readonly listsThisNode: boolean | null;
    readonly problems: readonly string[];
    /** Every server it lists, with its announcement. */
    readonly servers: readonly GridServerRow[];
    /**
     * The grid's membership key it publishes, base32 (null: none, or no directory read); the
     * key grid invitations are signed with.
     */
    readonly membershipKey: string | null;
  } | null;
  readonly announcement: {
    readonly readcap: string;
    readonly seqnum: number | null;
    readonly publishedAt: number | null;
    readonly body: AnnouncementBody | null;
    /** Why it was last published (e.g. `NURLs changed`, `republish interval`). */
    readonly lastReason: string | null;
    readonly lastPublishedAt: number | null;
    readonly servers: readonly ServerCopy[];
  } | null;
  /** When this node holds the directory's writecap. */
  readonly directoryWriter: {
    readonly readcap: string;
    readonly leasesRenewedAt: number | null;
    readonly renewed: readonly string[];
    readonly failed: readonly ServerFailure[];
    /** Each server's copy of the directory, after this check's repairs. */
    readonly servers: readonly ServerCopy[];
    /** The last time servers lacking the newest version were given a copy, and which. */
    readonly lastCopy: { readonly at: number; readonly to: readonly string[] } | null;
  } | null;
}

/** A storage node's part in a grid service directory; see {@link createGridMember}. */
export interface GridMember {
  /**
   * The first check now (not awaited), then, if the node takes part (an introduction, or the
   * directory's writecap held), one every `checkIntervalSeconds`.
   */
  start(): void;
  /** Stops the timer, waits for a check in progress and closes the connections. */
  stop(): Promise<void>;
  /** One check now, after any in progress; never rejects (failures are in the status). */
  check(): Promise<void>;
  status(): GridMemberStatus;
}

const systemNow = () => Math.floor(Date.now() / 1000);

/** Runs `fn` every `ms`; the timer does not keep the process alive (`stop()` clears it). */
function systemEvery(fn: () => Promise<void>, ms: number): () => void {
  const timer = setInterval(() => void fn(), ms);
  timer.unref();
  return () => clearInterval(timer);
}

function positiveSeconds(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${name} must be a number of seconds > 0`);
  }
  return value;
}

/** The directory's entries as the status shows them. */
function gridRows(view: GridView): GridServerRow[] {
  return view.entries.map((entry) => ({
    petname: entry.petname,
    readcap: entry.readcap,
    announcement: entry.announcement
      ? {
          seqnum: entry.announcement.seqnum,
          publishedAt: entry.announcement.timestamp,
          body: entry.announcement.body,
        }
      : null,
    problem: entry.problem ?? null,
    answering: entry.answering ?? null,
  }));
}

function membershipKeyText(view: GridView): string | null {
  const key = view.directory?.body.membershipKey;
  return key === undefined ? null : base32Encode(key);
}

/**
 * A storage node's part in a grid service directory: with an introduction, it publishes the
 * node's announcement when it changed (not for a small change of free space), when
 * `republishIntervalSeconds` passed (which renews its leases), and copies the same version to
 * servers that lack it; holding the directory's writecap, it renews the directory's leases every
 * `republishIntervalSeconds` and copies the newest version to listed servers that lack it.
 * Options are checked at once (TypeError, RangeError; GsdError `BAD_INTRODUCTION`).
 */
export function createGridMember(options: GridMemberOptions): GridMember {
  const introduction =
    options.introduction === undefined ? undefined : parseIntroduction(options.introduction);
  parseNurl(options.nurl);
  for (const name of ['announcement', 'announcementWritecap'] as const) {
    if (typeof options[name] !== 'function') throw new TypeError(`${name} must be a function`);
  }
  const checkIntervalSeconds = positiveSeconds(
    'checkIntervalSeconds',
    options.checkIntervalSeconds,
  );
  const republishIntervalSeconds = positiveSeconds(
    'republishIntervalSeconds',
    options.republishIntervalSeconds,
  );
  const announce = options.announce ?? true;
  const { logger } = options;
  const now = options.now ?? systemNow;
  const every = options.every ?? systemEvery;
  const pool = new SlotServerPool(options.connect);
  let cancel: (() => void) | undefined;
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  let stopped = false;
  let started = false;
  let leasesRenewedAt: number | undefined;
  let warnedOtherDirectory = false;
  let lastPublication: { reason: string; at: number } | undefined;
  let status: GridMemberStatus = {
    enabled: introduction !== undefined,
    introduction: options.introduction ?? null,
    checkIntervalSeconds,
    republishIntervalSeconds,
    checks: 0,
    lastCheckAt: null,
    lastError: null,
    directory: null,
    announcement: null,
    directoryWriter: null,
  };

  /** This node's announcement: published when it changed, is due, or a server lacks it. */
  async function publishOwn(view: GridView | undefined): Promise<GridMemberStatus['announcement']> {
    if (!introduction || !announce) return null;
    const writecap = await options.announcementWritecap();
    const { readcap } = parseWriteCap(writecap);
    // Announced NURLs before the introduction's: a server that moved is reached where it
    // says it is now, not where the introduction text once said.
    const servers = pool.servers([
      options.nurl,
      ...(view ? announcedNurls(view) : []),
      ...introduction.nurls,
      ...(view?.nurls ?? []),
    ]);
    let body = await options.announcement();
    const before = await surveyCopies(servers, readcap, 'announcement');
    const previous = before.newest as GsdDocument<AnnouncementBody> | undefined;
    // The figure announced moves only by SPACE_CHANGE_RATIO or more: a publication for another
    // reason keeps the previous one, so clients see only changes that matter.
    if (previous && !spaceChanged(previous.body.availableSpace, body.availableSpace)) {
      body = { ...body, availableSpace: previous.body.availableSpace };
    }
    const reason =
      announcementChange(previous?.body, body) ??
      (previous && now() - previous.timestamp >= republishIntervalSeconds
        ? 'republish interval'
        : undefined);
    let copies = before.copies;
    let published: GsdDocument<AnnouncementBody> | undefined = previous;
    if (reason !== undefined) {
      const result = await publishDocument(servers, writecap, 'announcement', body, { now });
      lastPublication = { reason, at: now() };
      logWrite('published this node’s announcement', reason, result);
      if (result.written.length > 0) {
        published = { kind: 'announcement', seqnum: result.seqnum, timestamp: now(), body };
      }
      copies = copies.map((c) =>
        result.written.includes(c.nurl)
          ? { nurl: c.nurl, state: 'current', seqnum: result.seqnum, problem: null }
          : c,
      );
    } else if (lackingCopies(copies).length > 0) {
      // The same version, byte for byte: a server that missed it (new in the directory, down
      // at the last publication, or wiped) gets it, and clients see no change.
      const copied = await copyNewestVersion(servers, copies, writecap);
      logCopy('copied this node’s announcement to servers that lacked it', copied);
      copies = copies.map((c) =>
        copied.copied.includes(c.nurl)
          ? { nurl: c.nurl, state: 'current', seqnum: previous?.seqnum ?? null, problem: null }
          : c,
      );
    }
    return {
      readcap,
      seqnum: published?.seqnum ?? null,
      publishedAt: published?.timestamp ?? null,
      body: published?.body ?? null,
      lastReason: lastPublication?.reason ?? null,
      lastPublishedAt: lastPublication?.at ?? null,
      servers: copies,
    };
  }

  /** The directory's leases on every server it lists and this node; a copy where one lacks it. */
  async function keepDirectory(
    writecap: string,
    view: GridView,
    viewReadcap: string,
  ): Promise<GridMemberStatus['directoryWriter']> {
    const { readcap } = parseWriteCap(writecap);
    const own = viewReadcap === readcap ? view : await readGrid(pool, readcap, [options.nurl]);
    const servers = pool.servers([options.nurl, ...announcedNurls(own)]);
    const previous = status.directoryWriter;
    let renewed = previous?.renewed ?? [];
    let failed = previous?.failed ?? [];
    let lastCopy = previous?.lastCopy ?? null;
    const survey = await surveyCopies(servers, readcap, 'directory');
    const newest = survey.newest;
    let copies = survey.copies;
    if (newest && lackingCopies(copies).length > 0) {
      const copied = await copyNewestVersion(servers, copies, writecap);
      if (copied.copied.length > 0) lastCopy = { at: now(), to: copied.copied };
      logCopy('copied the directory to servers that lacked it', copied);
      copies = copies.map((c) =>
        copied.copied.includes(c.nurl)
          ? { nurl: c.nurl, state: 'current', seqnum: newest.seqnum, problem: null }
          : c,
      );
    }
    if (leasesRenewedAt === undefined || now() - leasesRenewedAt >= republishIntervalSeconds) {
      const result = await renewDocumentLeases(servers, writecap);
      renewed = result.renewed;
      failed = result.failed;
      if (result.renewed.length > 0) leasesRenewedAt = now();
      logger?.[result.failed.length > 0 ? 'warn' : 'info'](
        { renewed: result.renewed.length, failed: result.failed },
        'renewed the leases of the grid service directory',
      );
    }
    return {
      readcap,
      leasesRenewedAt: leasesRenewedAt ?? null,
      renewed,
      failed,
      servers: copies,
      lastCopy,
    };
  }

  function logCopy(what: string, result: { copied: string[]; failed: ServerFailure[] }): void {
    logger?.[result.failed.length > 0 ? 'warn' : 'info'](
      { copied: result.copied, failed: result.failed },
      what,
    );
  }

  function logWrite(what: string, reason: string, result: PublishResult): void {
    const level = result.failed.length + result.conflicts.length > 0 ? 'warn' : 'info';
    logger?.[level](
      {
        reason,
        seqnum: result.seqnum,
        written: result.written.length,
        conflicts: result.conflicts,
        failed: result.failed,
      },
      what,
    );
  }

  async function run(): Promise<void> {
    let lastError: string | null = null;
    let { directory, announcement, directoryWriter } = status;
    let enabled = introduction !== undefined;
    try {
      const writecap = await options.directoryWritecap?.();
      if (writecap !== undefined) parseWriteCap(writecap);
      enabled ||= writecap !== undefined;
      if (!enabled) return;
      const held = writecap === undefined ? undefined : parseWriteCap(writecap).readcap;
      const readcap = introduction?.readcap ?? held!;
      if (held !== undefined && held !== readcap && !warnedOtherDirectory) {
        warnedOtherDirectory = true;
        logger?.warn(
          { introduction: readcap, held },
          'this node holds the writecap of another directory than the one of its introduction',
        );
      }
      const view = await readGrid(pool, readcap, [options.nurl, ...(introduction?.nurls ?? [])]);
      if (!view.directory) {
        lastError = `no server reached holds the directory (${view.nurls.length} asked)`;
        logger?.warn({ problems: view.problems }, `grid service directory: ${lastError}`);
      } else if (options.onDirectory) {
        try {
          options.onDirectory({
            readcap,
            seqnum: view.directory.seqnum,
            announcements: view.entries.map((e) => e.readcap),
            membershipKey: view.directory.body.membershipKey,
          });
        } catch (error) {
          logger?.error({ err: error }, 'grid service directory: onDirectory failed');
        }
      }
      try {
        announcement = await publishOwn(view.directory ? view : undefined);
      } catch (error) {
        lastError = `announcement: ${errorMessage(error)}`;
        logger?.error({ err: error }, 'could not publish this node’s announcement');
      }
      const ownReadcap = announcement?.readcap;
      directory = {
        readcap,
        seqnum: view.directory?.seqnum ?? null,
        updatedAt: view.directory?.timestamp ?? null,
        from: view.from ?? null,
        listed: view.entries.length,
        listsThisNode:
          ownReadcap === undefined ? null : view.entries.some((e) => e.readcap === ownReadcap),
        problems: view.problems.map((p) => `${p.nurl}: ${p.problem}`),
        servers: gridRows(view),
        membershipKey: membershipKeyText(view),
      };
      if (writecap) {
        try {
          directoryWriter = await keepDirectory(writecap, view, readcap);
        } catch (error) {
          lastError = `directory: ${errorMessage(error)}`;
          logger?.error({ err: error }, 'could not keep the grid service directory');
        }
      } else directoryWriter = null;
    } catch (error) {
      lastError = errorMessage(error);
      logger?.error({ err: error }, 'grid service directory: the check failed');
    } finally {
      status = {
        ...status,
        enabled,
        checks: status.checks + 1,
        lastCheckAt: now(),
        lastError,
        directory,
        announcement,
        directoryWriter,
      };
    }
  }

  function check(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (queued) return queued;
    if (!running) {
      running = run().finally(() => {
        running = undefined;
      });
      return running;
    }
    queued = running.then(() => {
      queued = undefined;
      return check();
    });
    return queued;
  }

  return {
    start() {
      if (started || stopped) return;
      started = true;
      // A node that takes no part (no introduction, no directory held: read at the first check)
      // sets no timer; one that starts taking part needs a restart, as a change of options does.
      void check().then(() => {
        if (stopped || cancel || !status.enabled) return;
        cancel = every(() => check(), checkIntervalSeconds * 1000);
      });
    },
    async stop() {
      stopped = true;
      cancel?.();
      cancel = undefined;
      await queued;
      await running;
      pool.close();
    },
    check,
    status: () => status,
  };
}
