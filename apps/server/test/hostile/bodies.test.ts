import { readdir } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  decodeReadTestWriteResponse,
  encodeReadTestWriteRequest,
  formatAuthorization,
  formatSecretHeaders,
  parseNurl,
} from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import { bytes, secrets } from '../http-setup.js';
import {
  expectBounded,
  type HostileNode,
  randomStorageIndex,
  startHostileNode,
  underAttack,
} from './hostile-node.js';

// Attack: request bodies sent in the hope that the node holds them. Bodies it will refuse, sent
// whole: a 300 MB read-test-write from the anonymous NURL of a node in mode `required` (which
// stores only for accounts), a large read-test-write with a wrong write enabler, 16 MiB PATCHes
// for uploads that do not exist or that another account holds. Bodies it will take, sent all but
// their last byte and held open: 40 MB read-test-writes (a Tahoe client sends a whole mutable
// share in one: fact 11), 16 MiB PATCH chunks. Expected: a refusal (403, 401, 404) answers the
// headers while the client has sent a small part of the body; bodies it takes are spooled to
// disk (read-test-write) or written a piece at a time (PATCH), so held bodies cost the node a
// piece each; a chunk cut short leaves its upload consistent and the client's retry completes it;
// large legitimate read-test-writes sent at once are all stored. Throughout, the node's memory
// does not grow with the bodies.

const MB = 1_000_000;
const MIB = 1024 * 1024;

/** What the client had sent of the body when the answer came. */
interface Answer {
  readonly status: number;
  readonly sentBytes: number;
}

const ZEROS = Buffer.alloc(64 * 1024);

/**
 * Sends a request whose body of `size` zero bytes is produced as the socket takes it (never
 * built in memory) and resolves with the status as soon as the answer's head arrives, then stops
 * sending.
 */
function sendStreamed(
  node: HostileNode,
  request: {
    readonly method: string;
    readonly path: string;
    readonly nurl: string;
    readonly headers: Record<string, string | string[]>;
    readonly size: number;
  },
): Promise<Answer> {
  const { swissnum } = parseNurl(request.nurl);
  let sent = 0;
  const body = new Readable({
    read() {
      if (sent >= request.size) {
        this.push(null);
        return;
      }
      const chunk = ZEROS.subarray(0, Math.min(ZEROS.length, request.size - sent));
      sent += chunk.length;
      this.push(chunk);
    },
  });
  // A keep-alive connection, as Tahoe's client pools them (fact 16): the node then answers and
  // drops a bounded part of the body before it closes, rather than resetting the connection
  // under the answer. The node's certificate is self-signed; these tests send nothing secret.
  const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
  return new Promise<Answer>((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: node.port,
        method: request.method,
        path: request.path,
        agent,
        headers: {
          authorization: formatAuthorization(swissnum),
          'content-length': String(request.size),
          ...request.headers,
        },
      },
      (res) => {
        resolve({ status: res.statusCode ?? 0, sentBytes: sent });
        res.resume();
        body.unpipe(req);
        body.destroy();
        req.destroy();
        agent.destroy();
      },
    );
    req.on('error', reject);
    body.pipe(req);
  });
}

/** A request whose body was sent but for its last byte, held open until aborted. */
interface HeldRequest {
  /** Resets the connection: the body never completes. */
  abort(): void;
}

/**
 * Sends `size − 1` bytes of a `size`-byte body of zeros (as the socket takes them) and resolves
 * once they all went out: the node has then read all of them but what the sockets' buffers hold.
 */
function holdOpen(
  node: HostileNode,
  request: {
    readonly method: string;
    readonly path: string;
    readonly nurl: string;
    readonly headers: Record<string, string | string[]>;
    readonly size: number;
  },
): Promise<HeldRequest> {
  const { swissnum } = parseNurl(request.nurl);
  const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
  const req = https.request({
    host: '127.0.0.1',
    port: node.port,
    method: request.method,
    path: request.path,
    agent,
    headers: {
      authorization: formatAuthorization(swissnum),
      'content-length': String(request.size),
      ...request.headers,
    },
  });
  const abort = () => {
    req.destroy();
    agent.destroy();
  };
  return new Promise<HeldRequest>((resolve, reject) => {
    let failed: Error | undefined;
    req.on('error', (error) => {
      failed = error;
      reject(error);
    });
    req.on('response', (res) => reject(new Error(`answered ${res.statusCode} before the end`)));
    (async () => {
      let sent = 0;
      while (sent < request.size - 1 && failed === undefined) {
        const chunk = ZEROS.subarray(0, Math.min(ZEROS.length, request.size - 1 - sent));
        sent += chunk.length;
        if (!req.write(chunk)) await new Promise((done) => req.once('drain', done));
      }
      await new Promise((done) => req.write(new Uint8Array(0), done));
      resolve({ abort });
    })().catch(reject);
  });
}

/** Spooled bodies the node has on disk now (in `spool/` of its node directory). */
async function spooledBodies(node: HostileNode): Promise<string[]> {
  return (await readdir(join(node.dir, 'spool'))).filter((name) => name.startsWith('ostrom-body-'));
}

/** The secrets of a read-test-write, with another write enabler when given. */
function secretHeader(s: ReturnType<typeof secrets>, writeEnabler: Uint8Array = s.writeEnabler) {
  return {
    'x-tahoe-authorization': formatSecretHeaders({
      'lease-renew-secret': s.renewSecret,
      'lease-cancel-secret': s.cancelSecret,
      'write-enabler': writeEnabler,
    }),
  };
}

function rtwHeaders(seed: string, writeEnabler?: Uint8Array): Record<string, string | string[]> {
  const s = secrets(seed);
  return { 'content-type': 'application/cbor', ...secretHeader(s, writeEnabler) };
}

describe('hostile: request bodies are judged on their headers and never held whole', () => {
  it('a 300 MB read-test-write from the anonymous NURL in mode required is 403 before its body is read', async () => {
    const node = await startHostileNode({ mode: 'required' });
    const { result, figures } = await underAttack(node, () =>
      sendStreamed(node, {
        method: 'POST',
        path: `/storage/v1/mutable/${randomStorageIndex()}/read-test-write`,
        nurl: node.nurl,
        headers: rtwHeaders('anonymous'),
        size: 300 * MB,
      }),
    );
    expect(result.status).toBe(403);
    // What the sockets' buffers took before the answer, not the body.
    expect(result.sentBytes).toBeLessThan(32 * MB);
    expectBounded(figures);
  }, 60_000);

  it('a large read-test-write with a wrong write enabler is 401 before its body is read', async () => {
    const node = await startHostileNode();
    const alice = await node.addAccount('alice');
    const si = randomStorageIndex();
    const s = secrets('alice');
    await node.client(alice.nurl).mutable.readTestWrite(si, {
      ...s,
      testWriteVectors: new Map([
        [0, { test: [], write: [{ offset: 0, data: bytes(100) }], newLength: null }],
      ]),
      readVector: [],
    });
    const { result, figures } = await underAttack(node, () =>
      sendStreamed(node, {
        method: 'POST',
        path: `/storage/v1/mutable/${si}/read-test-write`,
        nurl: alice.nurl,
        headers: rtwHeaders('alice', secrets('mallory').writeEnabler),
        size: 200 * MB,
      }),
    );
    expect(result.status).toBe(401);
    expect(result.sentBytes).toBeLessThan(32 * MB);
    expectBounded(figures);
    expect(await node.client(alice.nurl).mutable.read(si, 0)).toEqual(bytes(100));
  }, 60_000);

  it('[storage] request_spool bounds the largest read-test-write (413 on its headers); bodies spool in the node directory', async () => {
    const node = await startHostileNode({}, { request_spool: '"1MiB"' });
    // A client is told the largest mutable share the node takes in one body.
    expect((await node.client().getVersion()).maximumMutableShareSize).toBe(1024 * 1024);
    const alice = await node.addAccount('alice');
    const si = randomStorageIndex();
    const { result, figures } = await underAttack(node, () =>
      sendStreamed(node, {
        method: 'POST',
        path: `/storage/v1/mutable/${si}/read-test-write`,
        nurl: alice.nurl,
        headers: rtwHeaders('alice', secrets('alice').writeEnabler),
        size: 100 * MB,
      }),
    );
    expect(result.status).toBe(413);
    expect(result.sentBytes).toBeLessThan(32 * MB);
    expectBounded(figures);
    // The node's own spool directory, made at start, empty between requests.
    expect(await readdir(join(node.dir, 'spool'))).toEqual([]);
  }, 60_000);

  it('16 MiB PATCHes for an upload that does not exist or that another account holds are 404 before their bodies are read', async () => {
    const node = await startHostileNode();
    const alice = await node.addAccount('alice');
    const bob = await node.addAccount('bob');
    const si = randomStorageIndex();
    const s = secrets('alice');
    await node.client(alice.nurl).immutable.allocate(si, {
      ...s,
      shareNumbers: [0],
      allocatedSize: 16 * MIB,
    });
    const patch = (nurl: string, target: string) =>
      sendStreamed(node, {
        method: 'PATCH',
        path: `/storage/v1/immutable/${target}/0`,
        nurl,
        headers: {
          'content-range': `bytes 0-${16 * MIB - 1}/*`,
          'x-tahoe-authorization': formatSecretHeaders({ 'upload-secret': s.uploadSecret }),
        },
        size: 16 * MIB,
      });
    const { result, figures } = await underAttack(node, () =>
      Promise.all([
        ...Array.from({ length: 4 }, () => patch(bob.nurl, si)),
        ...Array.from({ length: 4 }, () => patch(alice.nurl, randomStorageIndex())),
      ]),
    );
    for (const answer of result) {
      expect(answer.status).toBe(404);
      expect(answer.sentBytes).toBeLessThan(12 * MIB);
    }
    expectBounded(figures);
    // Alice's upload is as it was: her whole chunk still completes it.
    const done = await node.client(alice.nurl).immutable.write(si, 0, {
      uploadSecret: s.uploadSecret,
      offset: 0,
      data: new Uint8Array(16 * MIB),
    });
    expect(done.complete).toBe(true);
  }, 60_000);

  it('eight 40 MB read-test-writes held open one byte short are spooled, not held; abandoned, they leave nothing', async () => {
    const node = await startHostileNode();
    const alice = await node.addAccount('alice');
    const s = secrets('alice');
    const sis = Array.from({ length: 8 }, () => randomStorageIndex());
    const { result: held, figures } = await underAttack(node, async () => {
      const held = await Promise.all(
        sis.map((si) =>
          holdOpen(node, {
            method: 'POST',
            path: `/storage/v1/mutable/${si}/read-test-write`,
            nurl: alice.nurl,
            headers: { 'content-type': 'application/cbor', ...secretHeader(s) },
            size: 40 * MB,
          }),
        ),
      );
      // The node has the bodies but for what the sockets buffer: its files say so.
      await expect.poll(async () => (await spooledBodies(node)).length).toBe(sis.length);
      return held;
    });
    expectBounded(figures);
    for (const request of held) request.abort();
    await expect.poll(async () => (await spooledBodies(node)).length).toBe(0);
    for (const si of sis) expect(await node.client(alice.nurl).mutable.listShares(si)).toEqual([]);
  }, 90_000);

  it('eight 16 MiB chunks held open one byte short are written a piece at a time; the retry of each completes its share', async () => {
    const node = await startHostileNode();
    const alice = await node.addAccount('alice');
    const client = node.client(alice.nurl);
    const s = secrets('alice');
    const si = randomStorageIndex();
    const shnums = [0, 1, 2, 3, 4, 5, 6, 7];
    await client.immutable.allocate(si, { ...s, shareNumbers: shnums, allocatedSize: 16 * MIB });
    const chunk = (shnum: number) => ({
      method: 'PATCH',
      path: `/storage/v1/immutable/${si}/${shnum}`,
      nurl: alice.nurl,
      headers: {
        'content-range': `bytes 0-${16 * MIB - 1}/*`,
        'x-tahoe-authorization': formatSecretHeaders({ 'upload-secret': s.uploadSecret }),
      },
      size: 16 * MIB,
    });
    const { result: held, figures } = await underAttack(node, async () => {
      const held = await Promise.all(shnums.map((shnum) => holdOpen(node, chunk(shnum))));
      // Answers to other requests come after the node read what it was sent.
      for (let i = 0; i < 5; i++) await client.getVersion();
      return held;
    });
    expectBounded(figures);
    for (const request of held) request.abort();
    // Cut short, each upload keeps what was written; sending the chunk again, with the same
    // bytes over those written, completes it.
    for (const shnum of shnums) {
      const done = await client.immutable.write(si, shnum, {
        uploadSecret: s.uploadSecret,
        offset: 0,
        data: new Uint8Array(16 * MIB),
      });
      expect(done).toEqual({ complete: true, required: [] });
    }
    expect(await client.immutable.listShares(si)).toEqual(shnums);
  }, 90_000);

  it('six 6 MB mutable shares, each in one read-test-write sent at once, are all stored', async () => {
    const node = await startHostileNode();
    const alice = await node.addAccount('alice');
    const client = node.client(alice.nurl);
    const s = secrets('alice');
    const size = 6 * MB;
    // Encoded before the attack: the bystander shares this process, whose work would show as
    // the node's latency.
    const shares = Array.from({ length: 6 }, (_, seed) => {
      const data = bytes(size, seed);
      const body = encodeReadTestWriteRequest({
        testWriteVectors: new Map([
          [
            0,
            {
              test: [{ offset: 0, size: 1, specimen: new Uint8Array(0) }],
              write: [{ offset: 0, data }],
              newLength: null,
            },
          ],
        ]),
        readVector: [{ offset: 0, size: 57 }],
      });
      return { si: randomStorageIndex(), data, body };
    });
    const { result, figures } = await underAttack(node, () =>
      Promise.all(
        shares.map(({ si, body }) =>
          client.raw({
            method: 'POST',
            path: `/storage/v1/mutable/${si}/read-test-write`,
            headers: { 'content-type': 'application/cbor', ...secretHeader(s) },
            body,
          }),
        ),
      ),
    );
    for (const answer of result) {
      expect(answer.status).toBe(200);
      expect(decodeReadTestWriteResponse(answer.body).success).toBe(true);
    }
    expectBounded(figures);
    for (const { si, data } of shares) {
      expect(await client.mutable.listShares(si)).toEqual([0]);
      const tail = await client.mutable.read(si, 0, { offset: size - 1000, length: 2000 });
      expect(tail).toEqual(data.subarray(size - 1000));
    }
  }, 90_000);
});
