import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Accountant, type AccountantOptions } from '@ostrom/accountant';
import { createMemoryBackend, type ShareBackend } from '@ostrom/backend';
import { createDiskBackend } from '@ostrom/backend-disk';
import { type LeaseDb, openLeaseDb } from '@ostrom/leasedb';
import {
  createSelfSignedCertificate,
  createStorageClient,
  formatNurl,
  formatSecretHeaders,
  type LeaseSecrets,
  type RawRequest,
  type RawResponse,
  type ReadTestWriteResponse,
  type ReadVector,
  type StorageClient,
  storageIndexFromBytes,
  type TestVector,
} from '@ostrom/protocol';
import {
  createScratchSchema,
  type ManualClock,
  manualClock,
  postgresUrl,
  tempDir,
} from '@ostrom/test-fixtures';
import { onTestFinished } from 'vitest';
import { createStorageHandler } from '../src/storage-handler.js';

export const SERVER_ID = 'v0-http-test-server';
export const SERVER_SECRET = new Uint8Array(32).fill(9);
/** One certificate for the whole run: generating a key per test would only cost time. */
export const CERTIFICATE = createSelfSignedCertificate();

export interface ServerOptions extends Partial<Omit<AccountantOptions, 'leaseDb' | 'backend'>> {
  readonly dialect?: 'sqlite' | 'postgres';
  readonly backend?: 'memory' | 'disk';
  /** What the backend reports as free space (a wrapped backend, as accountant/test/setup.ts). */
  readonly availableBytes?: number;
  /** Wraps the backend (failure injection, slow calls). */
  readonly wrapBackend?: (backend: ShareBackend) => ShareBackend;
  /** Wraps the storage handler (metrics), given the server's database and accountant. */
  readonly wrapHandler?: (
    handler: (req: IncomingMessage, res: ServerResponse) => void,
    server: { readonly db: LeaseDb; readonly accountant: Accountant },
  ) => (req: IncomingMessage, res: ServerResponse) => void;
}

export interface TestServer {
  readonly clock: ManualClock;
  readonly db: LeaseDb;
  readonly backend: ShareBackend;
  readonly accountant: Accountant;
  readonly port: number;
  /** The NURL of an account (default: the anonymous one). */
  nurl(accountId?: number): string;
  /** A pinned client for an account's NURL (default: anonymous), closed after the test. */
  client(accountId?: number): StorageClient;
  /** A client presenting an arbitrary swissnum. */
  clientWithSwissnum(swissnum: string): StorageClient;
  readonly logged: { level: string; obj: object; msg?: string }[];
  /** TLS connections accepted so far. */
  connections(): number;
}

export const PG_URL = postgresUrl('@ostrom/server HTTP API on PostgreSQL');

/** An HTTPS server running the storage API over a fresh database and backend, torn down after the test. */
export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const {
    dialect = 'sqlite',
    backend: kind = 'memory',
    availableBytes,
    wrapBackend,
    wrapHandler,
    ...rest
  } = options;
  const clock = manualClock();
  let db: LeaseDb;
  if (dialect === 'sqlite') {
    const path = join(await tempDir('http-db-'), 'leasedb.sqlite');
    db = await openLeaseDb({ dialect: 'sqlite', path, synchronous: 'normal', now: clock.now });
  } else {
    const scratch = await createScratchSchema(PG_URL!);
    onTestFinished(() => scratch.drop());
    db = await openLeaseDb({ dialect: 'postgres', connectionString: scratch.url, now: clock.now });
  }
  const inner =
    kind === 'memory'
      ? createMemoryBackend()
      : await createDiskBackend({ root: await tempDir('http-disk-'), fsync: false });
  const sized =
    availableBytes === undefined
      ? inner
      : (Object.assign(Object.create(inner) as ShareBackend, {
          availableSpace: async () => availableBytes,
        }) as ShareBackend);
  const backend = wrapBackend ? wrapBackend(sized) : sized;
  const accountant = new Accountant({
    serverSecret: SERVER_SECRET,
    serverId: SERVER_ID,
    now: clock.now,
    ...rest,
    leaseDb: db,
    backend,
  });
  await accountant.start({ intervalSeconds: 0 });

  const logged: TestServer['logged'] = [];
  const record =
    (level: string) =>
    (obj: object, msg?: string): void => {
      logged.push({ level, obj, msg });
    };
  let port = 0;
  const nurl = (accountId = 0) =>
    formatNurl({
      spkiHash: CERTIFICATE.spkiHash,
      host: '127.0.0.1',
      port,
      swissnum: accountant.swissnumFor(accountId),
    });
  const storageHandler = createStorageHandler({
    accountant,
    nurlFor: (id) => nurl(id),
    logger: { info: record('info'), warn: record('warn'), error: record('error') },
  });
  const handler = wrapHandler ? wrapHandler(storageHandler, { db, accountant }) : storageHandler;
  const server = https.createServer(
    { key: CERTIFICATE.keyPem, cert: CERTIFICATE.certPem },
    handler,
  );
  let connections = 0;
  server.on('secureConnection', () => {
    connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;

  const clients: StorageClient[] = [];
  const track = (client: StorageClient) => {
    clients.push(client);
    return client;
  };
  onTestFinished(async () => {
    for (const client of clients) client.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await accountant.stop();
    await db.close();
    await inner.close();
  });
  return {
    clock,
    db,
    backend,
    accountant,
    port,
    nurl,
    client: (accountId = 0) => track(createStorageClient({ nurl: nurl(accountId) })),
    clientWithSwissnum: (swissnum) =>
      track(
        createStorageClient({
          nurl: formatNurl({ spkiHash: CERTIFICATE.spkiHash, host: '127.0.0.1', port, swissnum }),
        }),
      ),
    logged,
    connections: () => connections,
  };
}

/** A valid storage index derived from a seed. */
export function storageIndex(seed: number | string): string {
  return storageIndexFromBytes(
    new Uint8Array(createHash('sha256').update(`si:${seed}`).digest().subarray(0, 16)),
  );
}

/** Lease, upload and write-enabler secrets as one client would send them. */
export function secrets(seed: number | string) {
  const hash = (tag: string) =>
    new Uint8Array(createHash('sha256').update(`${tag}:${seed}`).digest());
  return {
    renewSecret: hash('renew'),
    cancelSecret: hash('cancel'),
    uploadSecret: hash('upload').subarray(0, 20),
    writeEnabler: hash('we'),
  };
}

/** Deterministic bytes. */
export function bytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 17) & 0xff;
  return out;
}

/** Standard base64 of bytes, for hand-written X-Tahoe-Authorization headers. */
export function b64(value: Uint8Array): string {
  return Buffer.from(value).toString('base64');
}

/**
 * X-Tahoe-Authorization values as a client sends them: both lease secrets, and with `extra` the
 * upload secret (an allocation) or the write enabler (a read-test-write).
 */
export function secretHeaders(
  s: LeaseSecrets & { readonly uploadSecret?: Uint8Array; readonly writeEnabler?: Uint8Array },
  extra?: 'upload-secret' | 'write-enabler',
): string[] {
  const value = extra === 'upload-secret' ? s.uploadSecret : s.writeEnabler;
  if (extra !== undefined && value === undefined) throw new TypeError(`no ${extra} given`);
  return formatSecretHeaders({
    'lease-renew-secret': s.renewSecret,
    'lease-cancel-secret': s.cancelSecret,
    ...(extra === undefined ? {} : { [extra]: value }),
  });
}

/** What {@link leaseRequest} changes in the request it would send, for malformed variants. */
export interface LeaseRequestOverrides {
  /** The X-Tahoe-Authorization value(s) instead of the two lease secrets; null sends none. */
  readonly secretHeaders?: string | string[] | null;
  /** Further headers, or replacements (`authorization: null` sends no Authorization). */
  readonly headers?: RawRequest['headers'];
}

/**
 * `PUT /storage/v1/lease/:si` by hand, as a Tahoe client sends it: the renew and cancel secrets
 * (as {@link secrets} or `deriveLeaseSecrets` give them) in X-Tahoe-Authorization headers, no
 * body. Answers the raw response.
 */
export function leaseRequest(
  client: StorageClient,
  si: string,
  lease: LeaseSecrets,
  overrides: LeaseRequestOverrides = {},
): Promise<RawResponse> {
  const values =
    overrides.secretHeaders === undefined ? secretHeaders(lease) : overrides.secretHeaders;
  return client.raw({
    method: 'PUT',
    path: `/storage/v1/lease/${si}`,
    headers: {
      ...(values === null ? {} : { 'X-Tahoe-Authorization': values }),
      ...overrides.headers,
    },
  });
}

/** The test vector that passes only while the share does not exist yet (creates it). */
export const NO_SHARE_YET: TestVector = { offset: 0, size: 1, specimen: new Uint8Array(0) };

/**
 * One read-test-write through the client: writes `data` at offset 0 of one share (default 0)
 * if every `test` vector matches (default none), and reads `read` (default nothing) from every
 * share of the index.
 */
export async function writeMutable(
  client: StorageClient,
  si: string,
  s: LeaseSecrets & { writeEnabler: Uint8Array },
  data: Uint8Array,
  options: { shnum?: number; test?: TestVector[]; read?: ReadVector[] } = {},
): Promise<ReadTestWriteResponse> {
  return await client.mutable.readTestWrite(si, {
    renewSecret: s.renewSecret,
    cancelSecret: s.cancelSecret,
    writeEnabler: s.writeEnabler,
    testWriteVectors: new Map([
      [
        options.shnum ?? 0,
        { test: options.test ?? [], write: [{ offset: 0, data }], newLength: null },
      ],
    ]),
    readVector: options.read ?? [],
  });
}

/** Uploads one complete immutable share through the client. */
export async function uploadShare(
  client: StorageClient,
  si: string,
  data: Uint8Array,
  shnum = 0,
  seed: number | string = si,
): Promise<void> {
  const s = secrets(seed);
  await client.immutable.allocate(si, { ...s, shareNumbers: [shnum], allocatedSize: data.length });
  await client.immutable.write(si, shnum, { uploadSecret: s.uploadSecret, offset: 0, data });
}
