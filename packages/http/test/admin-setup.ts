import { randomBytes } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Accountant, type AccountantOptions } from '@ostrom/accountant';
import { createMemoryBackend } from '@ostrom/backend';
import { type LeaseDb, openLeaseDb } from '@ostrom/leasedb';
import { formatNurl, generateAccountKey, signAccountRequest } from '@ostrom/protocol';
import { type ManualClock, manualClock, tempDir } from '@ostrom/test-fixtures';
import { onTestFinished } from 'vitest';
import { bearerChecker } from '../src/admin/auth.js';
import { type AdminHandlerOptions, createAdminHandler } from '../src/admin/handler.js';
import { CERTIFICATE, SERVER_ID, SERVER_SECRET } from './http-setup.js';

export const ADMIN_TOKEN = 'a'.repeat(64);

export interface AdminAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The body as JSON when it is JSON, else as text. */
  // biome-ignore lint/suspicious/noExplicitAny: answers are read loosely; each test checks its fields
  readonly json: any;
}

export interface CallInit {
  /** Sent as JSON; a write without `raw` is `Content-Type: application/json` unless `headers` say otherwise. */
  readonly body?: unknown;
  /** Sent as it is. */
  readonly raw?: string;
  readonly headers?: Record<string, string>;
  /** The bearer token (default {@link ADMIN_TOKEN}); null sends none. */
  readonly token?: string | null;
}

export interface AdminServer {
  readonly clock: ManualClock;
  readonly db: LeaseDb;
  readonly accountant: Accountant;
  nurl(accountId: number): string;
  call(method: string, path: string, init?: CallInit): Promise<AdminAnswer>;
}

export interface AdminServerOptions
  extends Partial<Omit<AccountantOptions, 'leaseDb' | 'backend'>>,
    Partial<Omit<AdminHandlerOptions, 'accountant' | 'leaseDb' | 'nurlFor' | 'now'>> {}

/** A public key as the API takes it (hex). */
export function newKey(): string {
  return Buffer.from(generateAccountKey().publicKey).toString('hex');
}

/** A pending account (with manual approval), as a client's signed request makes it. */
export async function requestAccount(t: AdminServer, nickname: string): Promise<number> {
  const key = generateAccountKey();
  const request = signAccountRequest(
    {
      serverId: SERVER_ID,
      publicKey: key.publicKey,
      nickname,
      timestamp: t.clock.now(),
      nonce: new Uint8Array(randomBytes(16)),
    },
    key.privateKey,
  );
  const outcome = await t.accountant.requestAccount(request);
  if (outcome.status !== 'pending')
    throw new Error(`expected a pending account, got ${outcome.status}`);
  return outcome.account.id;
}

/**
 * An HTTPS server (a real socket, as an embedder would serve it) running the admin handler over a
 * fresh SQLite database and memory store, torn down after the test.
 */
export async function startAdminServer(options: AdminServerOptions = {}): Promise<AdminServer> {
  const clock = manualClock();
  const db = await openLeaseDb({
    dialect: 'sqlite',
    path: join(await tempDir('http-admin-'), 'leasedb.sqlite'),
    synchronous: 'normal',
    now: clock.now,
  });
  const backend = createMemoryBackend();
  const {
    authorize,
    fallback,
    serverId,
    furl,
    version,
    health,
    crawlerStatus,
    gsdStatus,
    metrics,
    logger,
    ...accountantOptions
  } = options;
  const accountant = new Accountant({
    serverSecret: SERVER_SECRET,
    serverId: SERVER_ID,
    now: clock.now,
    ...accountantOptions,
    leaseDb: db,
    backend,
  });
  await accountant.start({ intervalSeconds: 0 });
  const nurl = (accountId: number) =>
    formatNurl({
      spkiHash: CERTIFICATE.spkiHash,
      host: '127.0.0.1',
      port: 1,
      swissnum: accountant.swissnumFor(accountId),
    });
  const handler = createAdminHandler({
    accountant,
    leaseDb: db,
    nurlFor: nurl,
    serverId: serverId ?? SERVER_ID,
    authorize: authorize ?? bearerChecker(ADMIN_TOKEN),
    now: clock.now,
    fallback,
    furl,
    version,
    health,
    crawlerStatus,
    gsdStatus,
    metrics,
    logger,
  });
  const server = https.createServer(
    { key: CERTIFICATE.keyPem, cert: CERTIFICATE.certPem },
    handler,
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  onTestFinished(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await accountant.stop();
    await db.close();
    await backend.close();
  });
  return {
    clock,
    db,
    accountant,
    nurl,
    call: (method, path, init = {}) => call(port, method, path, init),
  };
}

async function call(
  port: number,
  method: string,
  path: string,
  init: CallInit,
): Promise<AdminAnswer> {
  const headers: Record<string, string> = { ...init.headers };
  const token = init.token === undefined ? ADMIN_TOKEN : init.token;
  if (token !== null) headers.Authorization ??= `Bearer ${token}`;
  let body = init.raw;
  if (init.body !== undefined) body = JSON.stringify(init.body);
  // Writes are JSON, with or without a body (an action's reason is optional).
  if (method !== 'GET' && init.raw === undefined) headers['Content-Type'] ??= 'application/json';
  return await new Promise<AdminAnswer>((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers,
        // The test certificate names no host; the socket is the one this test opened.
        ca: CERTIFICATE.certPem,
        checkServerIdentity: () => undefined,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const isJson = res.headers['content-type']?.startsWith('application/json') === true;
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            json: isJson ? JSON.parse(text) : text,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
