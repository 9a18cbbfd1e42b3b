import type { RawResponse, StorageClient } from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import { secretHeaders, secrets, startServer, storageIndex } from '../http-setup.js';
import {
  expectBounded,
  randomStorageIndex,
  startHostileNode,
  underAttack,
} from './hostile-node.js';

// Attack: CBOR bodies whose decoded value costs far more than their bytes. Shared values and
// references (tags 28/29) let 269 bytes stand for a tree of 2^29 values, which every later walk
// of the value visits in full (a body like it held the node for 13 s, every request waiting), or
// for an array that contains itself (a stack overflow: 500). Expected: 400 before anything is
// decoded, the node answering other clients meanwhile, nothing stored.

/** Well under the seconds a nested body held the node; generous for a loaded 2-core machine. */
const PROMPT_MS = 2000;

const SECRET = 'X-Tahoe-Authorization';

/** `[L0, L1, …, Ln]`: L0 a shared `[0, 0]`, each Li a shared pair of references to L(i−1). */
function nestedSharedReferences(levels: number): Uint8Array {
  const uint = (n: number) => (n < 24 ? [n] : [0x18, n]);
  const out = [0x98, levels + 1, 0xd8, 0x1c, 0x82, 0x00, 0x00];
  for (let i = 1; i <= levels; i++) {
    out.push(0xd8, 0x1c, 0x82, 0xd8, 0x1d, ...uint(i - 1), 0xd8, 0x1d, ...uint(i - 1));
  }
  return new Uint8Array(out);
}

const text = (s: string) => Buffer.from(s).toString('hex');

const BODIES = {
  nested: nestedSharedReferences(28),
  // A shared one-element array whose element is a reference to itself.
  selfReferencing: new Uint8Array([0xd8, 0x1c, 0x81, 0xd8, 0x1d, 0x00]),
  // {"share-numbers": 258([0]), "allocated-size": 1(0)}: a date where a size goes.
  otherTag: Buffer.from(
    `a26d${text('share-numbers')}d9010281006e${text('allocated-size')}c100`,
    'hex',
  ),
  // 7999 nested arrays (decodeCbor allows 16 levels), within the allocate cap of 8192 bytes.
  deep: new Uint8Array(8000).fill(0x81, 0, 7999),
};

async function timed(request: Promise<RawResponse>): Promise<RawResponse & { ms: number }> {
  const started = performance.now();
  const res = await request;
  return { ...res, ms: performance.now() - started };
}

function post(client: StorageClient, path: string, headers: Record<string, string[] | string>) {
  return (body: Uint8Array) =>
    timed(
      client.raw({
        method: 'POST',
        path,
        headers: { ...headers, 'Content-Type': 'application/cbor' },
        body,
      }),
    );
}

describe('hostile CBOR bodies', () => {
  it('shared references, other tags and deep nesting: 400 at once, /version answering meanwhile', async () => {
    const t = await startServer();
    const attacker = t.client();
    const other = t.client();
    await other.getVersion();
    const si = storageIndex('cbor-bodies');
    const s = secrets('cbor-bodies');
    const routes = {
      allocate: post(attacker, `/storage/v1/immutable/${si}`, {
        [SECRET]: secretHeaders(s, 'upload-secret'),
      }),
      readTestWrite: post(attacker, `/storage/v1/mutable/${si}/read-test-write`, {
        [SECRET]: secretHeaders(s, 'write-enabler'),
      }),
    };

    const sent = Object.entries(routes).flatMap(([route, send]) =>
      Object.entries(BODIES).map(async ([attack, bytes]) => {
        const { status, ms } = await send(bytes);
        return { route, attack, status, ms };
      }),
    );
    let attacking = true;
    const answered = Promise.all(sent).finally(() => {
      attacking = false;
    });
    const polls: number[] = [];
    do {
      const started = performance.now();
      await other.getVersion();
      polls.push(performance.now() - started);
    } while (attacking);

    for (const { route, attack, status, ms } of await answered) {
      expect({ route, attack, status }).toEqual({ route, attack, status: 400 });
      expect(ms, `${route} ${attack}`).toBeLessThan(PROMPT_MS);
    }
    expect(Math.max(...polls)).toBeLessThan(PROMPT_MS);
    expect(t.logged.filter((entry) => entry.level === 'error')).toEqual([]);
    expect(await t.backend.listShares(si)).toEqual([]);
    expect(await t.db.listShares(si)).toEqual([]);
  });

  it('measured on a node of its own: 20 rounds of every body, each 400, within the suite bounds', async () => {
    const node = await startHostileNode();
    const attacker = node.client();
    const si = randomStorageIndex();
    const s = secrets('cbor-bodies-measured');
    const sends = [
      post(attacker, `/storage/v1/immutable/${si}`, {
        [SECRET]: secretHeaders(s, 'upload-secret'),
      }),
      post(attacker, `/storage/v1/mutable/${si}/read-test-write`, {
        [SECRET]: secretHeaders(s, 'write-enabler'),
      }),
    ];
    const { result, figures } = await underAttack(node, async () => {
      const statuses: number[] = [];
      for (let round = 0; round < 20; round++) {
        const answers = await Promise.all(
          sends.flatMap((send) => Object.values(BODIES).map((bytes) => send(bytes))),
        );
        statuses.push(...answers.map((answer) => answer.status));
      }
      return statuses;
    });
    expectBounded(figures);
    expect(new Set(result)).toEqual(new Set([400]));
    expect(result).toHaveLength(20 * 2 * Object.keys(BODIES).length);
    expect(node.logged().filter((entry) => entry.level >= 50)).toEqual([]);
  }, 60_000);
});
