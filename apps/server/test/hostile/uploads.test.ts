import { randomBytes } from 'node:crypto';
import { StorageClientError } from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import {
  expectBounded,
  randomStorageIndex,
  startHostileNode,
  underAttack,
} from './hostile-node.js';

// Attack: uploads in progress without bound. An account with a 1 MB quota allocates 256 shares
// of 1 byte per request, 75 times: 19,994 open files, then every other client got 503 EMFILE
// until the uploads timed out 30 minutes later, and shutdown took over 3 minutes. And the
// anonymous NURL (mode enabled) allocates gigabyte shares: seven allocations reserved 84 GB of
// sparse files and the node reported no available space until they timed out.
// Expected, on a node with the default configuration: the account gets its bound of uploads in
// progress (1,024: four allocations) and 503 for the rest, nothing allocated; uploads waiting
// for their chunks hold at most 32 descriptors in all; another account still uploads; a second
// attacker fills the node's bound (2,048), past which everyone gets 503; the node stops within
// seconds. The anonymous account reserves at most its default quota (10 GB), then 403; the
// node's available space stays what it was, less that. Throughout, the suite's bounds hold.

const SECRETS = {
  renewSecret: randomBytes(32),
  cancelSecret: randomBytes(32),
  uploadSecret: randomBytes(32),
};
const EVERY_SHARE = Array.from({ length: 256 }, (_, shnum) => shnum);
const GB = 1_000_000_000;

/** The shares allocated, or the HTTP status the node refused with. */
async function allocated(request: Promise<{ allocated: number[] }>): Promise<number | number[]> {
  try {
    return (await request).allocated;
  } catch (error) {
    if (error instanceof StorageClientError && error.status !== undefined) return error.status;
    throw error;
  }
}

describe('hostile: uploads in progress are bounded', () => {
  it('256 one-byte shares a request, 75 times: 512 uploads a connection, 1,024 an account, then 503; no descriptor each; the node holds 2,048 and stops in seconds', async () => {
    const node = await startHostileNode();
    const mallory = await node.addAccount('mallory', { hardBytes: 1_000_000 });
    const allocateAll = (client: ReturnType<typeof node.client>) =>
      allocated(
        client.immutable.allocate(randomStorageIndex(), {
          ...SECRETS,
          shareNumbers: EVERY_SHARE,
          allocatedSize: 1,
        }),
      );
    const { result, figures } = await underAttack(node, async () => {
      const outcomes: (number | number[])[] = [];
      // Three rounds on one connection: its bound (512) stops the third.
      const one = node.client(mallory.nurl);
      for (let round = 0; round < 3; round++) outcomes.push(await allocateAll(one));
      one.close();
      // The rest on a new connection each (closed after it): the account's bound (1,024).
      for (let round = 3; round < 75; round++) {
        const fresh = node.client(mallory.nurl);
        outcomes.push(await allocateAll(fresh));
        fresh.close();
      }
      return outcomes;
    });
    expect(result.slice(0, 3)).toEqual([EVERY_SHARE, EVERY_SHARE, 503]);
    expect(result.slice(3, 5)).toEqual([EVERY_SHARE, EVERY_SHARE]);
    expect(result.slice(5)).toEqual(Array.from({ length: 70 }, () => 503));
    expectBounded(figures);
    const usage = await node.admin<{ shares: number; bytes: number }>(
      'GET',
      `/admin/v1/usage?account=${mallory.id}`,
    );
    expect(usage).toMatchObject({ shares: 1024, bytes: 1024 });

    // Another client uploads as usual beside them.
    const alice = await node.addAccount('alice');
    const hers = node.client(alice.nurl);
    const si = randomStorageIndex();
    expect(
      await allocated(
        hers.immutable.allocate(si, { ...SECRETS, shareNumbers: [0], allocatedSize: 4 }),
      ),
    ).toEqual([0]);
    const done = await hers.immutable.write(si, 0, {
      uploadSecret: SECRETS.uploadSecret,
      offset: 0,
      data: new Uint8Array([1, 2, 3, 4]),
    });
    expect(done.complete).toBe(true);

    // A second attacker, a connection per round, fills what the node holds (2,048); then the
    // node refuses everyone.
    const mallet = (await node.addAccount('mallet')).nurl;
    const fill: (number | number[])[] = [];
    for (let round = 0; round < 5; round++) {
      const fresh = node.client(mallet);
      fill.push(await allocateAll(fresh));
      fresh.close();
    }
    expect(fill).toEqual([EVERY_SHARE, EVERY_SHARE, EVERY_SHARE, EVERY_SHARE, 503]);

    // Stopping aborts every upload in progress (2,048): seconds, not minutes.
    const stopping = performance.now();
    await node.stop();
    expect(performance.now() - stopping).toBeLessThan(15_000);
  }, 120_000);

  it('the anonymous NURL allocating 1 GB shares, a connection each: 10 GB reserved, then 403', async () => {
    const node = await startHostileNode({ mode: 'enabled' });
    const bystander = node.client();
    const before = (await bystander.getVersion()).availableSpace;
    const { result, figures } = await underAttack(node, async () => {
      const outcomes: (number | number[])[] = [];
      for (let round = 0; round < 14; round++) {
        // A client of its own each time: a new connection, so only the quota stops them.
        outcomes.push(
          await allocated(
            node.client().immutable.allocate(randomStorageIndex(), {
              ...SECRETS,
              shareNumbers: [0],
              allocatedSize: GB,
            }),
          ),
        );
      }
      return outcomes;
    });
    expect(result).toEqual([
      ...Array.from({ length: 10 }, () => [0]),
      ...Array.from({ length: 4 }, () => 403),
    ]);
    expectBounded(figures);
    const usage = await node.admin<{ shares: number; bytes: number }>(
      'GET',
      '/admin/v1/usage?account=0',
    );
    expect(usage).toMatchObject({ shares: 10, bytes: 10 * GB });
    // The node says so once its measure is refreshed (every 5 s): the space the uploads in
    // progress reserve is gone from what it offers, and no more (other writers of this disk
    // may move it a little).
    const reserved = async () => before - (await bystander.getVersion()).availableSpace;
    await expect.poll(reserved, { timeout: 30_000, interval: 500 }).toBeGreaterThan(9 * GB);
    expect(await reserved()).toBeLessThan(11 * GB);
  }, 120_000);
});
