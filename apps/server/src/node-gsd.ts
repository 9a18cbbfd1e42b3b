import {
  type AnnouncementBody,
  decodeSlotData,
  deriveSlotSecrets,
  type GsdDocument,
  type PublishResult,
  parseIntroduction,
  parseWriteCap,
  publishDocument,
  readDocument,
  renewDocumentLeases,
  type SlotServer,
  slotHeaderOf,
} from '@ostrom/gsd-client';
import {
  announcementBody,
  announcementChange,
  announcementWritecap,
  directoryWritecap,
  SlotServerPool,
  spaceChanged,
} from './gsd.js';
import { announcedNurls, type GridView, readGrid } from './gsd-grid.js';
import type { LoadedNode } from './node-dir.js';

// The grid service directory in a running node: with `[gsd] introduction`, the node publishes
// its own announcement to itself, the introduction's servers and every server the directory
// lists, and keeps it up to date; holding the directory's writecap (`ostrom gsd create` ran
// here), it renews the directory's leases and gives a copy to a listed server that lacks it.
// One check at start, then one every `check_interval` (the node's timer, injected in tests);
// every failure is logged, shown in `GET /admin/v1/gsd`, and retried at the next check.

/** The subset of a (pino) logger used here. */
export interface NodeGsdLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface NodeGsdOptions {
  readonly node: LoadedNode;
  /** The node's anonymous NURL as it serves (its port may differ from the config's in tests). */
  readonly nurl: string;
  readonly furl: string;
  /** The space the node can still take (the version's `available-space`). */
  availableSpace(): Promise<number>;
  readonly logger?: NodeGsdLogger;
  /** Unix seconds. */
  readonly now: () => number;
  /** Runs `fn` every `ms` until the returned function is called (the node's timer). */
  readonly every: (fn: () => Promise<void>, ms: number) => () => void;
  /** How servers are reached (default HTTPS, 10 s a request). */
  readonly connect?: (nurl: string) => SlotServer;
}

/** One server's copy of a document, as the last check saw it. */
export interface ServerCopy {
  readonly nurl: string;
  /** `current`: the newest; `stale`: an older one; `missing`: none; `refused`: failed verification. */
  readonly state: 'current' | 'stale' | 'missing' | 'refused' | 'unreachable';
  readonly seqnum: number | null;
  readonly problem: string | null;
}

/** One server the directory lists, as the last check found it (the panel's grid page). */
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
   * Whether the server answered the last check on any of the NURLs it announces; null when its
   * announcement was not found (so its NURLs are unknown).
   */
  readonly answering: boolean | null;
}

/** What `GET /admin/v1/gsd` shows. */
export interface NodeGsdStatus {
  /** Whether the node takes part: `[gsd] introduction` is set or it holds the directory's writecap. */
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
    readonly failed: readonly { nurl: string; reason: string }[];
    /** Each server's copy of the directory, after this check's repairs. */
    readonly servers: readonly ServerCopy[];
    /** The last time servers lacking the newest version were given a copy, and which. */
    readonly lastCopy: { readonly at: number; readonly to: readonly string[] } | null;
  } | null;
}

/** The grid service directory service of a running node. */
export interface NodeGsd {
  /**
   * The first check now (not awaited), then, if the node takes part (`[gsd] introduction` set, or
   * the directory's writecap held), one every `check_interval`.
   */
  start(): void;
  /** Stops the timer and waits for a check in progress. */
  stop(): Promise<void>;
  /** One check now, after any in progress; never rejects (failures are in the status). */
  check(): Promise<void>;
  status(): NodeGsdStatus;
}

/** The directory's entries, each with whether one of its NURLs answered during the read. */
function gridRows(view: GridView): GridServerRow[] {
  const unreachable = new Set(
    view.problems.filter((p) => p.code === 'UNREACHABLE').map((p) => p.nurl),
  );
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
    answering: entry.announcement
      ? entry.announcement.body.nurls.some((nurl) => !unreachable.has(nurl))
      : null,
  }));
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Each server's copy of a document, read one server at a time. */
async function copiesOf(
  servers: readonly SlotServer[],
  readcap: string,
  kind: 'directory' | 'announcement',
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
function lacking(copies: readonly ServerCopy[]): ServerCopy[] {
  return copies.filter(
    (c) => c.state === 'stale' || c.state === 'missing' || c.state === 'refused',
  );
}

type ServerFailure = { nurl: string; reason: string };

/**
 * Copies the newest copy of a document, byte for byte (the same seqnum), from a server holding
 * it to each server that answered without it. Each write is tested against the header that
 * server had just now, so a writer meanwhile wins (and the copy is tried at the next check).
 */
async function copyNewest(
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
  const targets = lacking(copies);
  if (!holder || !current) return { copied, failed };
  let data: Uint8Array | undefined;
  try {
    data = await holder.read(cap.storageIndex);
  } catch (error) {
    return { copied, failed: targets.map((t) => ({ nurl: t.nurl, reason: message(error) })) };
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
        failed.push({ nurl, reason: message(error) });
      }
    }),
  );
  return { copied, failed };
}

export function createNodeGsd(options: NodeGsdOptions): NodeGsd {
  const { node, logger, now } = options;
  const config = node.config.gsd;
  const introduction =
    config.introduction === undefined ? undefined : parseIntroduction(config.introduction);
  const pool = new SlotServerPool(options.connect);
  let cancel: (() => void) | undefined;
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  let stopped = false;
  let started = false;
  let leasesRenewedAt: number | undefined;
  let warnedOtherDirectory = false;
  let status: NodeGsdStatus = {
    enabled: introduction !== undefined,
    introduction: config.introduction ?? null,
    checkIntervalSeconds: config.checkIntervalSeconds,
    republishIntervalSeconds: config.republishIntervalSeconds,
    checks: 0,
    lastCheckAt: null,
    lastError: null,
    directory: null,
    announcement: null,
    directoryWriter: null,
  };
  let lastPublication: { reason: string; at: number } | undefined;

  /** This node's announcement: published when it changed, is due, or a server lacks it. */
  async function announce(view: GridView | undefined): Promise<NodeGsdStatus['announcement']> {
    if (!introduction || !config.announce) return null;
    const { writecap, readcap, created } = await announcementWritecap(node);
    if (created) logger?.info({ readcap }, 'made the slot of this node’s announcement');
    // Announced NURLs before the introduction's: a server that moved is reached where it
    // says it is now, not where the introduction text once said.
    const servers = pool.servers([
      options.nurl,
      ...(view ? announcedNurls(view) : []),
      ...introduction.nurls,
      ...(view?.nurls ?? []),
    ]);
    let body = announcementBody(node, {
      nurls: [options.nurl],
      furl: options.furl,
      availableSpace: await options.availableSpace(),
    });
    const before = await copiesOf(servers, readcap, 'announcement');
    const previous = before.newest as GsdDocument<AnnouncementBody> | undefined;
    // The figure announced moves only by SPACE_CHANGE_RATIO or more: a publication for another
    // reason keeps the previous one, so clients see only changes that matter.
    if (previous && !spaceChanged(previous.body.availableSpace, body.availableSpace)) {
      body = { ...body, availableSpace: previous.body.availableSpace };
    }
    const reason =
      announcementChange(previous?.body, body) ??
      (previous && now() - previous.timestamp >= config.republishIntervalSeconds
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
    } else if (lacking(copies).length > 0) {
      // The same version, byte for byte: a server that missed it (new in the directory, down
      // at the last publication, or wiped) gets it, and clients see no change.
      const copied = await copyNewest(servers, copies, writecap);
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
  ): Promise<NodeGsdStatus['directoryWriter']> {
    const { readcap } = parseWriteCap(writecap);
    const own = viewReadcap === readcap ? view : await readGrid(pool, readcap, [options.nurl]);
    const servers = pool.servers([options.nurl, ...announcedNurls(own)]);
    const previous = status.directoryWriter;
    let renewed = previous?.renewed ?? [];
    let failed = previous?.failed ?? [];
    let lastCopy = previous?.lastCopy ?? null;
    let { newest, copies } = await copiesOf(servers, readcap, 'directory');
    if (newest && lacking(copies).length > 0) {
      const copied = await copyNewest(servers, copies, writecap);
      if (copied.copied.length > 0) lastCopy = { at: now(), to: copied.copied };
      logCopy('copied the directory to servers that lacked it', copied);
      copies = copies.map((c) =>
        copied.copied.includes(c.nurl)
          ? { nurl: c.nurl, state: 'current', seqnum: newest!.seqnum, problem: null }
          : c,
      );
    }
    if (
      leasesRenewedAt === undefined ||
      now() - leasesRenewedAt >= config.republishIntervalSeconds
    ) {
      const result = await renewDocumentLeases(servers, writecap);
      renewed = result.renewed;
      failed = result.failed;
      if (result.renewed.length > 0) leasesRenewedAt = now();
      (result.failed.length > 0 ? logger?.warn : logger?.info)?.call(
        logger,
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
    let directory = status.directory;
    let announcement = status.announcement;
    let directoryWriter = status.directoryWriter;
    let enabled = introduction !== undefined;
    try {
      const writecap = await directoryWritecap(node);
      enabled ||= writecap !== undefined;
      if (!enabled) return;
      const readcap = introduction?.readcap ?? parseWriteCap(writecap!).readcap;
      if (
        writecap &&
        introduction &&
        parseWriteCap(writecap).readcap !== readcap &&
        !warnedOtherDirectory
      ) {
        warnedOtherDirectory = true;
        logger?.warn(
          { introduction: readcap, held: parseWriteCap(writecap).readcap },
          'this node holds the writecap of another directory than the one of [gsd] introduction',
        );
      }
      const view = await readGrid(pool, readcap, [options.nurl, ...(introduction?.nurls ?? [])]);
      if (!view.directory) {
        lastError = `no server reached holds the directory (${view.nurls.length} asked)`;
        logger?.warn({ problems: view.problems }, `grid service directory: ${lastError}`);
      }
      try {
        announcement = await announce(view.directory ? view : undefined);
      } catch (error) {
        lastError = `announcement: ${message(error)}`;
        logger?.error({ err: error }, 'could not publish this node’s announcement');
      }
      directory = {
        readcap,
        seqnum: view.directory?.seqnum ?? null,
        updatedAt: view.directory?.timestamp ?? null,
        from: view.from ?? null,
        listed: view.entries.length,
        listsThisNode: announcement
          ? view.entries.some((e) => e.readcap === announcement!.readcap)
          : null,
        problems: view.problems.map((p) => `${p.nurl}: ${p.problem}`),
        servers: gridRows(view),
      };
      if (writecap) {
        try {
          directoryWriter = await keepDirectory(writecap, view, readcap);
        } catch (error) {
          lastError = `directory: ${message(error)}`;
          logger?.error({ err: error }, 'could not keep the grid service directory');
        }
      } else directoryWriter = null;
    } catch (error) {
      lastError = message(error);
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
      // sets no timer; one that starts taking part needs a restart, as a config change does.
      void check().then(() => {
        if (stopped || cancel || !status.enabled) return;
        cancel = options.every(() => check(), config.checkIntervalSeconds * 1000);
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
