import { createHash } from 'node:crypto';
import https from 'node:https';
import {
  decodeReadTestWriteResponse,
  encodeReadTestWriteRequest,
  formatAuthorization,
  formatSecretHeaders,
  parseNurl,
  type StorageClient,
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

// Attack: reads that would make the node hold a large share, many times over: eight clients
// reading one 64 MiB share at once (each read once filled a buffer of the whole share), and a
// read-test-write whose 30 read vectors of 8 MiB would be answered in one 240 MiB buffer.
// Expected: the reads are answered in full, the node sending the share a piece at a time as each
// client takes it, so its memory does not grow with the share or the readers; the read vectors
// are refused (416) before any share is read.

const MIB = 1024 * 1024;
const SHARE_BYTES = 64 * MIB;

/** Uploads an immutable share of `data` in 1 MiB chunks, as a Tahoe client sends them. */
async function uploadShare(client: StorageClient, si: string, data: Uint8Array): Promise<void> {
  const s = secrets('uploader');
  await client.immutable.allocate(si, { ...s, shareNumbers: [0], allocatedSize: data.length });
  for (let offset = 0; offset < data.length; offset += MIB) {
    await client.immutable.write(si, 0, {
      uploadSecret: s.uploadSecret,
      offset,
      data: data.subarray(offset, offset + MIB),
    });
  }
}

/**
 * Reads a whole share over its own connection, counting its bytes and keeping only a running
 * hash (the test process must not hold eight copies either).
 */
function readWhole(
  node: HostileNode,
  nurl: string,
  si: string,
): Promise<{ status: number; length: number; sha256: string }> {
  const { swissnum } = parseNurl(nurl);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: node.port,
        path: `/storage/v1/immutable/${si}/0`,
        // The node's certificate is self-signed; these tests send nothing secret.
        rejectUnauthorized: false,
        agent: false,
        headers: { authorization: formatAuthorization(swissnum) },
      },
      (res) => {
        let length = 0;
        const hash = createHash('sha256');
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          length += chunk.length;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, length, sha256: hash.digest('hex') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('hostile: reads are sent in pieces and bounded', () => {
  it('eight concurrent reads of one 64 MiB share are answered in full while the node holds a piece of each', async () => {
    const node = await startHostileNode();
    const alice = await node.addAccount('alice');
    const si = randomStorageIndex();
    const data = bytes(SHARE_BYTES, 5);
    await uploadShare(node.client(alice.nurl), si, data);
    const { result, figures } = await underAttack(node, () =>
      Promise.all(Array.from({ length: 8 }, () => readWhole(node, node.nurl, si))),
    );
    const sha256 = createHash('sha256').update(data).digest('hex');
    for (const read of result) expect(read).toEqual({ status: 200, length: SHARE_BYTES, sha256 });
    expectBounded(figures);
  }, 90_000);

  it('a read-test-write whose 30 read vectors of 8 MiB would return 240 MiB is 416 before any share is read', async () => {
    const node = await startHostileNode();
    const alice = await node.addAccount('alice');
    const client = node.client(alice.nurl);
    const si = randomStorageIndex();
    const s = secrets('alice');
    const share = bytes(8 * MIB, 3);
    await client.mutable.readTestWrite(si, {
      ...s,
      testWriteVectors: new Map([
        [0, { test: [], write: [{ offset: 0, data: share }], newLength: null }],
      ]),
      readVector: [],
    });
    const headers = {
      'content-type': 'application/cbor',
      'x-tahoe-authorization': formatSecretHeaders({
        'lease-renew-secret': s.renewSecret,
        'lease-cancel-secret': s.cancelSecret,
        'write-enabler': s.writeEnabler,
      }),
    };
    const ask = (readVector: { offset: number; size: number }[]) =>
      client.raw({
        method: 'POST',
        path: `/storage/v1/mutable/${si}/read-test-write`,
        headers,
        body: encodeReadTestWriteRequest({ testWriteVectors: new Map(), readVector }),
      });
    const { result, figures } = await underAttack(node, () =>
      Promise.all(
        Array.from({ length: 4 }, () =>
          ask(Array.from({ length: 30 }, () => ({ offset: 0, size: 8 * MIB }))),
        ),
      ),
    );
    for (const answer of result) expect(answer.status).toBe(416);
    expectBounded(figures);
    // What Tahoe's clients read of every share (a header, a checkstring) is still answered.
    const small = await ask([
      { offset: 0, size: 57 },
      { offset: 8 * MIB - 10, size: 4000 },
    ]);
    expect(small.status).toBe(200);
    expect(decodeReadTestWriteResponse(small.body).data.get(0)).toEqual([
      share.subarray(0, 57),
      share.subarray(8 * MIB - 10),
    ]);
  }, 90_000);
});
