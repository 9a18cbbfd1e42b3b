import { request } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createSelfSignedCertificate } from '@ostrom/protocol';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createStorageServer, type StorageServer } from '../src/index.js';

// createStorageServer(): the HTTPS server around a storage handler, over real TLS sockets on
// loopback. The handler here is a stand-in that the test controls; the storage handler itself is
// tested in the other files.

const CERTIFICATE = createSelfSignedCertificate();

async function serve(
  handler: Parameters<typeof createStorageServer>[0]['handler'],
  extra: Partial<Parameters<typeof createStorageServer>[0]> = {},
): Promise<{ storage: StorageServer; port: number }> {
  const storage = createStorageServer({ tls: CERTIFICATE, handler, ...extra });
  const port = await storage.listen(0, '127.0.0.1');
  onTestFinished(() => storage.close({ drainTimeoutMs: 0 }));
  return { storage, port };
}

/** One request; resolves to its status and body, or rejects when the connection is cut. */
function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, rejectUnauthorized: false, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The raw answer to `text` sent on a TLS connection, up to the server closing it. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () =>
      socket.write(text),
    );
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('createStorageServer()', () => {
  it('serves the handler over HTTPS with the given certificate', async () => {
    const { port } = await serve((_req, res) => res.end('hello'));
    expect(await get(port)).toEqual({ status: 200, body: 'hello' });
  });

  it('answers CONNECT with 405 instead of dropping the connection', async () => {
    const { port } = await serve((_req, res) => res.end('never'));
    const answer = await raw(port, 'CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 405 /);
  });

  it('close() waits for a request in flight to be answered, then stops', async () => {
    let answer: (() => void) | undefined;
    const { storage, port } = await serve((_req, res) => {
      answer = () => res.end('late');
    });
    const pending = get(port);
    await expect.poll(() => storage.inFlight).toBe(1);
    let closed = false;
    const closing = storage.close({ drainTimeoutMs: 60_000 }).then(() => {
      closed = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    answer?.();
    expect(await pending).toEqual({ status: 200, body: 'late' });
    await closing;
    expect(storage.inFlight).toBe(0);
  });

  it('close() called twice: both calls wait for the same drain', async () => {
    let answer: (() => void) | undefined;
    const { storage, port } = await serve((_req, res) => {
      answer = () => res.end('late');
    });
    const pending = get(port);
    await expect.poll(() => storage.inFlight).toBe(1);
    const first = storage.close({ drainTimeoutMs: 60_000 });
    const second = storage.close({ drainTimeoutMs: 60_000 });
    expect(second).toBe(first);
    answer?.();
    await pending;
    await second;
  });

  it('close() cuts a request still in flight after drainTimeoutMs', async () => {
    const { storage, port } = await serve(() => undefined); // never answers
    const pending = get(port).then(
      () => 'answered',
      () => 'cut',
    );
    await expect.poll(() => storage.inFlight).toBe(1);
    await storage.close({ drainTimeoutMs: 0 });
    expect(await pending).toBe('cut');
  });

  it('close() does not wait for a connection that never finished its TLS handshake', async () => {
    const { storage, port } = await serve((_req, res) => res.end('never'));
    const socket = netConnect({ host: '127.0.0.1', port }); // TCP only: no TLS hello is sent
    const cut = new Promise((resolve) => socket.once('close', resolve));
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    const started = performance.now();
    await storage.close({ drainTimeoutMs: 0 });
    await cut;
    // Without destroying it, close() waits for the handshake timeout (over a minute).
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('reports refused connections at most once per window, with how many were refused', async () => {
    let clock = 1_000_000;
    const reports: number[] = [];
    const { storage, port } = await serve(() => undefined, {
      connections: { maxConnections: 1, maxConnectionsPerAddress: 1 },
      onConnectionsRefused: (_refusal, refused) => reports.push(refused),
      refusalReportMs: 60_000,
      nowMs: () => clock,
    });
    void get(port).catch(() => undefined); // holds the one connection allowed, never answered
    await expect.poll(() => storage.connections.open()).toBe(1);
    const refused = () =>
      raw(port, '').then(
        () => 'closed',
        () => 'closed',
      );
    expect(await refused()).toBe('closed');
    expect(reports).toEqual([1]);
    // Within the window: counted, not reported.
    await refused();
    await refused();
    expect(reports).toEqual([1]);
    // After it: one report with the two held back and this one.
    clock += 60_000;
    await refused();
    expect(reports).toEqual([1, 3]);
    expect(storage.connections.refused).toBe(4);
  });
});
