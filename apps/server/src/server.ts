import { mkdir, rm } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Accountant, DependencyHealth, describeHealthChange } from '@ostrom/accountant';
import type { ShareBackend } from '@ostrom/backend';
import { createDiskBackend } from '@ostrom/backend-disk';
import { createS3Backend } from '@ostrom/backend-s3';
import {
  BackupError,
  createNodeCrawler,
  listBackups,
  type NodeCrawler,
  type PacingClock,
  prepareSqliteDatabase,
  readCrawlerStatus,
  type StartupRecovery,
  syncAccountRecords,
} from '@ostrom/crawler';
import { parseIntroduction, parseReadCap, serversYaml } from '@ostrom/gsd-client';
import {
  type BodyLimits,
  createStorageHandler,
  createStorageMetrics,
  createStorageServer,
  createUploadForwarder,
  type UploadForwarder,
} from '@ostrom/http';
import { type LeaseDb, openLeaseDb } from '@ostrom/leasedb';
import { formatFurl, formatNurl } from '@ostrom/protocol';
import pino, { type Logger } from 'pino';
import { createAdminApi } from './admin/api.js';
import { ADMIN_LISTEN } from './config.js';
import { NodeError } from './errors.js';
import { nodeCrawlerSettings } from './node-crawler.js';
import {
  ensureAdminToken,
  type LoadedNode,
  loadNode,
  nodePath,
  readS3Credentials,
} from './node-dir.js';
import {
  createNodeGsd,
  type NodeDirectorySlots,
  type NodeGsd,
  nodeDirectorySlots,
} from './node-gsd.js';
import { removePidFile, writePidFile } from './pid-file.js';
import { APPLICATION_VERSION, VERSION } from './version.js';

/** Options of {@link startNode}. */
export interface StartOptions {
  /** Where logs go (default: none). */
  readonly logger?: Logger;
  /** Overrides `[storage] port`; 0 picks a free port (tests). */
  readonly port?: number;
  /**
   * Overrides `[admin] port`; 0 picks a free port. When only `port` is overridden the admin API
   * takes a free port too, so that tests starting many nodes never collide on port + 1.
   */
  readonly adminPort?: number;
  /** How long `close()` waits for requests in flight before cutting them off (default 10 s). */
  readonly drainTimeoutMs?: number;
  /** Background sweep interval of the accountant, seconds (default 60; 0 for none). */
  readonly sweepIntervalSeconds?: number;
  /** For S3 credentials (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
  /** Unix seconds for the database, the accountant, the crawler and backups (tests). */
  readonly now?: () => number;
  /** Pacing of the background crawl (tests: no real sleeps). */
  readonly crawlerClock?: PacingClock;
  /** Runs the periodic backup every `ms` until the returned function is called (tests). */
  readonly every?: (fn: () => Promise<void>, ms: number) => () => void;
}

/** A running node. */
export interface RunningNode {
  readonly node: LoadedNode;
  readonly accountant: Accountant;
  /** The anonymous account's NURL: what ordinary Tahoe clients are configured with. */
  readonly nurl: string;
  /** The `anonymous-storage-FURL` of the announcement (never dialled; only its tub id counts). */
  readonly furl: string;
  /** `https://host:port`, for logs and tools. */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:port` of the admin API and `/metrics`; undefined when `[admin] enabled = false`. */
  readonly adminUrl: string | undefined;
  /** The file holding the admin API's bearer token (`private/admin-token`). */
  readonly adminTokenPath: string;
  /** The background crawler and the database's backups. */
  readonly crawler: NodeCrawler;
  /** The grid service directory: this node's announcement, the directory's leases (`[gsd]`). */
  readonly gsd: NodeGsd;
  /** Set when the node recovered or reconciled its database before serving. */
  readonly recovery: StartupRecovery | undefined;
  /** The NURL of an account (its own swissnum). */
  nurlFor(accountId: number): string;
  /**
   * Stops accepting, drains requests in flight, stops the crawler, aborts unfinished uploads,
   * backs up the database (SQLite), closes the stores.
   */
  close(): Promise<void>;
}

/** A connection string without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

function reason(error: unknown): string {
  const seen = new Set<unknown>();
  let e: unknown = error;
  // Drivers wrap the interesting part (ECONNREFUSED, NoSuchBucket) a level or two down.
  while (e instanceof Error && !seen.has(e)) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    if (e.name && e.name !== 'Error' && !e.name.endsWith('Error') && e.name !== 'AggregateError')
      return e.name;
    if (e instanceof AggregateError && e.errors.length > 0) e = e.errors[0];
    else if (e.cause !== undefined) e = e.cause;
    else break;
  }
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}

/** Opens the lease database the config names; NodeError `DATABASE_UNREACHABLE` naming it. */
export async function openNodeDatabase(
  node: LoadedNode,
  options: { now?: () => number; onConnectionError?: (error: Error) => void } = {},
): Promise<LeaseDb> {
  const { database, leases } = node.config;
  const policy = {
    leaseDurationSeconds: leases.durationSeconds,
    maxLeaseDurationSeconds: leases.maxDurationSeconds,
  };
  const now = options.now ? { now: options.now } : {};
  if (database.kind === 'sqlite') {
    const path = nodePath(node.dir, database.path);
    try {
      return await openLeaseDb({ dialect: 'sqlite', path, policy, ...now });
    } catch (cause) {
      throw new NodeError(
        'DATABASE_UNREACHABLE',
        `cannot open the database ${path} ([database] path): ${reason(cause)}`,
        { cause },
      );
    }
  }
  try {
    return await openLeaseDb({
      dialect: 'postgres',
      connectionString: database.url,
      lockPoolSize: node.config.cluster.lockPoolSize,
      policy,
      ...now,
      ...(options.onConnectionError ? { onConnectionError: options.onConnectionError } : {}),
    });
  } catch (cause) {
    throw new NodeError(
      'DATABASE_UNREACHABLE',
      `cannot reach the database ${redactUrl(database.url)} ([database] url): ${reason(cause)}`,
      { cause },
    );
  }
}

/**
 * Opens the backend the config names. With `probe`, one cheap request checks an S3 bucket is
 * reachable, so a wrong endpoint or bucket stops start-up (NodeError `BACKEND_UNREACHABLE`)
 * instead of failing the first upload.
 */
export async function openNodeBackend(
  node: LoadedNode,
  options: { probe?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<ShareBackend> {
  const config = node.config.backend;
  if (config.kind === 'disk') {
    const root = nodePath(node.dir, config.path);
    try {
      return await createDiskBackend({ root });
    } catch (cause) {
      throw new NodeError(
        'BACKEND_UNREACHABLE',
        `cannot use the storage directory ${root} ([backend] path): ${reason(cause)}`,
        { cause },
      );
    }
  }
  const credentials = await readS3Credentials(node, options.env);
  const where = `bucket ${config.bucket} at ${config.endpoint ?? 'AWS'}`;
  const backend = createS3Backend({
    bucket: config.bucket,
    ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    region: config.region,
    credentials,
    forcePathStyle: config.forcePathStyle,
    prefix: config.prefix,
    requestTimeoutMs: config.requestTimeoutSeconds * 1000,
  });
  if (options.probe) {
    try {
      await backend.listBlobs('ostrom-probe');
    } catch (cause) {
      await backend.close().catch(() => undefined);
      throw new NodeError('BACKEND_UNREACHABLE', `cannot reach the ${where}: ${reason(cause)}`, {
        cause,
      });
    }
  }
  return backend;
}

/**
 * The Accountant of a node, built from its config and identity (not started). `process` is the
 * serving process's place among those sharing the database (see {@link processIdentity}).
 */
export function createNodeAccountant(
  node: LoadedNode,
  leaseDb: LeaseDb,
  backend: ShareBackend,
  process?: { readonly id: string; readonly url: string },
  now?: () => number,
  slots?: Pick<NodeDirectorySlots, 'admits' | 'membershipKey'>,
): Accountant {
  const { storage, accounting, cluster, gsd } = node.config;
  return new Accountant({
    ...(now ? { now } : {}),
    ...(process ? { processId: process.id, processUrl: process.url } : {}),
    crossProcessLocks: cluster.crossProcessLocks,
    leaseDb,
    backend,
    serverSecret: node.serverSecret,
    // Owner records beside each share, so a lost database can be rebuilt with its owners.
    stateKey: node.stateKey,
    // Signed account requests name the SPKI hash of our TLS key: the NURL's user part, which the
    // client already holds and pins, so it needs no other introduction, and a request signed for
    // us names a key no other server holds (packages/protocol README).
    serverId: node.tls.spkiHash,
    nodeId: node.tubIdBytes,
    mode: accounting.mode,
    ...(accounting.approval === undefined ? {} : { approval: accounting.approval }),
    reservedBytes: storage.reservedBytes,
    ...(storage.capacityBytes === undefined ? {} : { capacityBytes: storage.capacityBytes }),
    applicationVersion: APPLICATION_VERSION,
    defaultHardQuotaBytes: accounting.defaultHardQuotaBytes,
    defaultSoftQuotaBytes: accounting.defaultSoftQuotaBytes,
    maxUploads: storage.maxUploads,
    maxUploadsPerAccount: storage.maxUploadsPerAccount,
    maxUploadsPerConnection: storage.maxUploadsPerConnection,
    anonymousHardQuotaBytes: accounting.anonymousHardQuotaBytes,
    anonymousReservedBytesPerConnection: accounting.anonymousReservedBytesPerConnection,
    // A Tahoe client sends a whole mutable share in one read-test-write body, and the storage
    // API takes bodies up to `request_spool`: advertise no larger share than that.
    maxMutableShareBytes: storage.requestSpoolBytes,
    // In mode `required`, the grid's own anonymous writes (ignored in the other modes). Given
    // even without slots (operator commands, a node outside any grid: none admitted), so the
    // account they are made as exists and `gsd create` can write through it.
    directorySlots: {
      admits: slots ? (storageIndex) => slots.admits(storageIndex) : () => false,
      hardQuotaBytes: gsd.directoryQuotaBytes,
    },
    // Grid invitations of the grid of `[gsd] introduction`, checked with the membership key of
    // the directory the node read last (none before its first read: refused until then).
    ...(accounting.honourGridInvitations && gsd.introduction !== undefined
      ? {
          gridInvitations: {
            directory: parseReadCap(parseIntroduction(gsd.introduction).readcap).storageIndex,
            membershipKey: () => slots?.membershipKey(),
            hardQuotaBytes: accounting.gridInvitationQuotaBytes,
          },
        }
      : {}),
  });
}

/**
 * The storage API's bounds on bodies and reads from `[storage]`, with the spooled bodies in the
 * node directory's `spool/` (made here, and emptied of what a previous life left): not the
 * system's temporary directory, which may be memory, and beside the store the node was sized for.
 */
async function bodyLimits(node: LoadedNode): Promise<Partial<BodyLimits>> {
  const spoolDir = join(node.dir, 'spool');
  await rm(spoolDir, { recursive: true, force: true });
  await mkdir(spoolDir, { recursive: true, mode: 0o700 });
  const { storage } = node.config;
  return {
    spoolDir,
    memoryBytes: storage.requestMemoryBytes,
    spoolBytes: storage.requestSpoolBytes,
    readVectorBytes: storage.readVectorMaxBytes,
  };
}

/**
 * This process's id and the address its peers forward to, from `[cluster]` or by default the
 * host name and port (distinct for processes on one machine and across machines, and the same
 * after a restart) and the listen address (loopback when listening on every address).
 */
export function processIdentity(
  node: LoadedNode,
  port: number,
  hostName: string = hostname(),
): { id: string; url: string } {
  const { cluster, storage } = node.config;
  const host =
    storage.listen === '0.0.0.0' || storage.listen === '::' ? '127.0.0.1' : storage.listen;
  const safeHost = hostName.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 58) || 'host';
  return {
    id: cluster.processId ?? `${safeHost}-${port}`,
    url: cluster.peerUrl ?? `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
  };
}

/** The NURL of an account on this node: at `[storage] public_port`, else `port` (the configured one by default). */
export function nodeNurl(
  node: LoadedNode,
  accountant: Pick<Accountant, 'swissnumFor'>,
  accountId: number,
  port: number = node.config.storage.port,
): string {
  return formatNurl({
    spkiHash: node.tls.spkiHash,
    host: node.config.storage.publicHostname,
    port: node.config.storage.publicPort ?? port,
    swissnum: accountant.swissnumFor(accountId),
  });
}

/**
 * The `anonymous-storage-FURL`: a fixed, never-dialled fURL carrying the tub id
 * (docs/TAHOE-COMPATIBILITY.md fact 13).
 */
export function nodeFurl(node: LoadedNode, accountant: Pick<Accountant, 'swissnumFor'>): string {
  return formatFurl({
    tubId: node.tubId,
    hints: ['tcp:127.0.0.1:1'],
    swissnum: accountant.swissnumFor(0),
  });
}

/** The block a Tahoe client puts in its `private/servers.yaml` to use this node. */
export function nodeServersYaml(node: LoadedNode, nurl: string, furl: string): string {
  const { serverId, permutationSeed } = node;
  const nickname = node.config.node.nickname;
  return serversYaml([
    {
      announcement: {
        serverId,
        nickname,
        anonymousStorageFurl: furl,
        nurls: [nurl],
        permutationSeed,
      },
    },
  ]);
}

async function listen(server: HttpServer, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/**
 * The node's database before it serves. SQLite: @ostrom/crawler's `prepareSqliteDatabase`
 * (recovering a lost or damaged file, reconciling with the store); a file that cannot be read at
 * all is NodeError `DATABASE_UNREACHABLE`, as any database unreachable at start-up. PostgreSQL:
 * nothing (`ostrom db rebuild`).
 */
async function prepareDatabase(
  node: LoadedNode,
  backend: ShareBackend,
  logger: Logger,
  injectedNow: (() => number) | undefined,
  processId: string,
  onConnectionError: (error: Error) => void,
): Promise<{ leaseDb: LeaseDb; recovery: StartupRecovery | undefined }> {
  const { database, leases, crawler } = node.config;
  const open = () =>
    openNodeDatabase(node, { onConnectionError, ...(injectedNow ? { now: injectedNow } : {}) });
  if (database.kind !== 'sqlite') return { leaseDb: await open(), recovery: undefined };
  try {
    return await prepareSqliteDatabase({
      path: nodePath(node.dir, database.path),
      open,
      backend,
      stateKey: node.stateKey,
      leaseDurationSeconds: leases.durationSeconds,
      deletionGraceSeconds: crawler.deletionGraceSeconds,
      processId,
      ...(injectedNow ? { now: injectedNow } : {}),
      logger,
    });
  } catch (error) {
    if (error instanceof BackupError && error.code === 'UNREADABLE') {
      throw new NodeError('DATABASE_UNREACHABLE', error.message, { cause: error.cause });
    }
    throw error;
  }
}

/**
 * Before serving, on every start: @ostrom/crawler's `syncAccountRecords` (every account's record in
 * the store, so that a database lost later keeps every NURL; accounts the database lacks made
 * again from theirs). At start rather than in the crawler: the crawler may be disabled, and a
 * database lost meanwhile would lose the NURLs. A store that fails stops the start.
 */
async function syncAccounts(
  node: LoadedNode,
  leaseDb: LeaseDb,
  backend: ShareBackend,
  logger: Logger,
): Promise<void> {
  try {
    await syncAccountRecords({ leaseDb, backend, stateKey: node.stateKey, actor: 'node', logger });
  } catch (cause) {
    throw new NodeError(
      'BACKEND_UNREACHABLE',
      `cannot write the account records into the store: ${reason(cause)}`,
      { cause },
    );
  }
}

/**
 * Starts the node in `dir`: opens its backend and database (each failing with one clear
 * NodeError naming the database or endpoint), recovers a lost SQLite database (see
 * `prepareDatabase`), builds the Accountant, serves the storage API over HTTPS (HTTP/1.1, no
 * ALPN: docs/TAHOE-COMPATIBILITY.md fact 1), starts the accountant, then the crawler and the
 * backups.
 */
export async function startNode(dir: string, options: StartOptions = {}): Promise<RunningNode> {
  const logger = options.logger ?? pino({ enabled: false });
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const startedAt = now();
  const node = await loadNode(dir);
  let leaseDb: LeaseDb | undefined;
  let backend: ShareBackend | undefined;
  let accountant: Accountant | undefined;
  let nodeCrawler: NodeCrawler | undefined;
  let nodeGsd: NodeGsd | undefined;
  let server: Server | undefined;
  let adminServer: HttpServer | undefined;
  let forwarder: UploadForwarder | undefined;
  let ready: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  // Whether the database and the store answer: probed for /admin/v1/health and /metrics,
  // marked down by the operations that find them away, and every change logged once.
  const health = new DependencyHealth({
    probes: {
      database: async () => leaseDb?.getServerUsage(),
      store: async () =>
        backend &&
        (await Promise.all([backend.listBlobs('ostrom-probe'), backend.availableSpace()])),
    },
    onChange: (change) => {
      const { level, message } = describeHealthChange(change);
      logger[level]({ ...change }, message);
    },
  });
  try {
    // Created on the first start of a node made before the admin API existed.
    const adminToken = await ensureAdminToken(node.dir);
    backend = await openNodeBackend(node, {
      probe: true,
      ...(options.env ? { env: options.env } : {}),
    });
    // Before the port is opened: clients of a node that is still reconciling find it closed
    // (and go to other servers) rather than open and silent.
    // Reconciling before serving, this process claims the crawler as it will once it listens;
    // its id is that of the configured port (the port chosen at listen may differ).
    const startupId = processIdentity(node, options.port ?? node.config.storage.port).id;
    const prepared = await prepareDatabase(
      node,
      backend,
      logger,
      options.now,
      startupId,
      (error) => {
        logger.debug({ err: error }, 'a database connection failed; another is opened when needed');
        health.observe('database', false, error);
      },
    );
    const db = prepared.leaseDb;
    const shareStore = backend;
    leaseDb = db;
    await syncAccounts(node, db, backend, logger);
    let port = options.port ?? node.config.storage.port;
    const metrics = createStorageMetrics({
      leaseDb: db,
      health,
      refusals: () => accountant?.refusalCounts(),
      // The saved state, not the running crawler's: another process may hold the crawl.
      crawlerStatus: () => readCrawlerStatus(db),
    });
    // Requests that arrive between listening and the accountant's start wait for it: the port
    // (0 picks one) must be known to build the accountant, which registers where peers reach it.
    let serve: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
    const started = new Promise<void>((resolve, reject) => {
      ready = { resolve, reject };
    });
    started.catch(() => undefined);

    const storage = createStorageServer({
      tls: node.tls,
      connections: node.config.storage,
      onConnectionsRefused: (refusal, refused) =>
        logger.warn(
          { ...refusal, refused },
          'connections refused as they were accepted: a bound on connections was reached',
        ),
      handler: (req, res) => {
        if (serve) serve(req, res);
        else
          started.then(
            () => serve?.(req, res),
            () => res.destroy(),
          );
      },
    });
    server = storage.server;
    try {
      port = await storage.listen(port, node.config.storage.listen);
    } catch (cause) {
      throw new NodeError(
        'LISTEN_FAILED',
        `cannot listen on ${node.config.storage.listen}:${port} ([storage] listen, port): ${reason(cause)}`,
        { cause },
      );
    }
    const identity = processIdentity(node, port);
    const slots = await nodeDirectorySlots(node, logger);
    accountant = createNodeAccountant(node, db, backend, identity, options.now, slots);
    const acct = accountant;
    const nurlFor = (accountId: number) => nodeNurl(node, acct, accountId, port);
    forwarder = createUploadForwarder({ spkiHash: node.tls.spkiHash, processId: identity.id });
    const handler = metrics.instrument(
      createStorageHandler({
        accountant: acct,
        nurlFor,
        logger,
        forwarder,
        health,
        limits: await bodyLimits(node),
        ...(node.config.accounting.feed ? { feed: { leaseDb: db, now } } : {}),
      }),
    );
    // Uploads a previous life left are discarded by start() before any request is served.
    await acct.start({ intervalSeconds: options.sweepIntervalSeconds ?? 60 });
    nodeCrawler = createNodeCrawler({
      ...nodeCrawlerSettings(node),
      leaseDb: db,
      backend,
      exclusive: (storageIndex, fn) => acct.exclusive(storageIndex, fn),
      processId: identity.id,
      logger,
      ...(options.now ? { now: options.now } : {}),
      ...(options.crawlerClock ? { clock: options.crawlerClock } : {}),
      ...(options.every ? { every: options.every } : {}),
    });
    const crawler = nodeCrawler;
    crawler.start();
    serve = handler;
    ready?.resolve();
    const nurl = nurlFor(0);
    const furl = nodeFurl(node, acct);
    const host = node.config.storage.publicHostname;
    const url = `https://${host.includes(':') ? `[${host}]` : host}:${node.config.storage.publicPort ?? port}`;
    const gsd = createNodeGsd({
      node,
      nurl,
      furl,
      availableSpace: async () => (await acct.refreshVersion()).availableSpace,
      logger,
      now,
      every: options.every,
      slots,
    });
    nodeGsd = gsd;

    let adminUrl: string | undefined;
    if (node.config.admin.enabled) {
      const adminHandler = createAdminApi({
        accountant: acct,
        leaseDb: db,
        token: adminToken.token,
        nurlFor,
        serverId: node.serverId,
        furl,
        metrics,
        health,
        identity: {
          nickname: node.config.node.nickname,
          version: VERSION,
          startedAt,
          nurl,
          serversYaml: nodeServersYaml(node, nurl, furl),
        },
        defaultQuotas: {
          hardQuotaBytes: node.config.accounting.defaultHardQuotaBytes,
          softQuotaBytes: node.config.accounting.defaultSoftQuotaBytes,
        },
        listBackups: () => listBackups(shareStore),
        crawlerSchedule: {
          minCycleSeconds: node.config.crawler.minCycleSeconds,
          allowedFraction: node.config.crawler.allowedFraction,
          deleteUnleased: node.config.crawler.deleteUnleased,
          deletionGraceSeconds: node.config.crawler.deletionGraceSeconds,
        },
        logger,
        crawler,
        gsd,
        ...(options.now ? { now: options.now } : {}),
      });
      // Idle connections are kept longer than clients keep theirs (undici 4 s, browsers minutes):
      // Node's 5 s default races a client reusing one, and a form POST sent as it closes is reset.
      adminServer = createHttpServer(
        { keepAliveTimeout: 65_000, headersTimeout: 66_000 },
        adminHandler,
      );
      const wanted = options.adminPort ?? (options.port === undefined ? node.config.admin.port : 0);
      let adminPort: number;
      try {
        adminPort = await listen(adminServer, wanted, ADMIN_LISTEN);
      } catch (cause) {
        throw new NodeError(
          'LISTEN_FAILED',
          `cannot listen on ${ADMIN_LISTEN}:${wanted} ([admin] port): ${reason(cause)}`,
          { cause },
        );
      }
      adminUrl = `http://${ADMIN_LISTEN}:${adminPort}`;
    }
    await writePidFile(node.dir);
    // Once the node serves: the first check publishes to this node itself, over HTTPS.
    gsd.start();
    logger.info(
      {
        url,
        adminUrl,
        nurl,
        serverId: node.serverId,
        backend: node.config.backend.kind,
        database: node.config.database.kind,
        crawler: node.config.crawler.enabled,
        backups: crawler.backupsEnabled,
        feed: node.config.accounting.feed,
      },
      'listening',
    );

    const admin = adminServer;
    const be = backend;
    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        logger.info('stopping');
        // First: a check in progress may be writing to this node's own storage API.
        await gsd.stop();
        // Admin requests are short: those in flight finish while the storage API drains, and
        // whatever is left is cut off with it, before the database closes under them.
        const adminStopped = new Promise<void>((resolve) =>
          admin ? admin.close(() => resolve()) : resolve(),
        );
        admin?.closeIdleConnections();
        await storage.close(
          options.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: options.drainTimeoutMs },
        );
        admin?.closeAllConnections();
        await adminStopped;
        await crawler.stop();
        await acct.stop();
        // After the accountant: the last backup holds no upload in progress.
        if (crawler.backupsEnabled) {
          await crawler
            .backup('shutdown')
            .catch((error: unknown) =>
              logger.error({ err: error }, 'the backup at shutdown failed'),
            );
        }
        forwarder?.close();
        health.close();
        await be.close();
        await db.close();
        await removePidFile(node.dir).catch(() => undefined);
        logger.info('stopped');
      })();
      return closing;
    };
    return {
      node,
      accountant: acct,
      nurl,
      furl,
      url,
      port,
      adminUrl,
      adminTokenPath: adminToken.path,
      crawler,
      gsd,
      recovery: prepared.recovery,
      nurlFor,
      close,
    };
  } catch (error) {
    ready?.reject(error);
    forwarder?.close();
    health.close();
    server?.close();
    adminServer?.close();
    await nodeGsd?.stop().catch(() => undefined);
    await nodeCrawler?.stop().catch(() => undefined);
    await accountant?.stop().catch(() => undefined);
    await backend?.close().catch(() => undefined);
    await leaseDb?.close().catch(() => undefined);
    throw error;
  }
}
