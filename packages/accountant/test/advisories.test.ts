import type { ActivityEvent } from '@ostrom/leasedb';
import { expect, it } from 'vitest';
import { type Account, MAX_ADVISORY_REASON_CHARS } from '../src/account.js';
import { bytes, describeMatrix, makeWorld, randomKey, secrets, storageIndex } from './setup.js';

const SI = storageIndex('advised');
const HOUR = 3600;

describeMatrix('corruption advisories', (matrix) => {
  async function setup(shares = 1) {
    const world = await makeWorld(matrix);
    const alice = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'alice' });
    const bob = await world.accountant.addAccount({ publicKey: randomKey(), nickname: 'bob' });
    const owner = world.accountant.account(alice.id);
    const s = secrets('advised');
    const shareNumbers = Array.from({ length: shares }, (_, i) => i);
    await owner.allocate(SI, { ...s, shareNumbers, allocatedSize: 4 });
    for (const shnum of shareNumbers)
      await owner.writeUpload(SI, shnum, s.uploadSecret, 0, bytes(4));
    return {
      ...world,
      alice: owner,
      bob: world.accountant.account(bob.id),
      /** The events about advisories of an account, oldest first. */
      async logged(account: Account): Promise<ActivityEvent[]> {
        return await world.db.listEvents({
          accountId: account.id,
          kinds: ['share-corrupt', 'notice'],
          limit: 10_000,
        });
      },
    };
  }

  it('adviseCorrupt() keeps a reason of up to 1000 characters whole and cuts a longer one at a character, marking the cut', async () => {
    const { alice, logged } = await setup();
    expect(MAX_ADVISORY_REASON_CHARS).toBe(1000);
    const whole = 'x'.repeat(1000);
    // 999 + 10 characters of two UTF-16 units each: the cut falls after the first emoji.
    const astral = `${'y'.repeat(999)}${'😀'.repeat(10)}`;
    const huge = 'z'.repeat(32_000);
    for (const reason of [whole, astral, huge]) {
      await alice.adviseCorrupt('immutable', SI, 0, reason);
    }
    const data = (await logged(alice)).map((e) => e.data);
    expect(data).toEqual([
      { sharetype: 'immutable', reason: whole, reportedBy: 'client' },
      {
        sharetype: 'immutable',
        reason: `${'y'.repeat(999)}😀…`,
        reportedBy: 'client',
        reasonChars: 1009,
      },
      {
        sharetype: 'immutable',
        reason: `${'z'.repeat(1000)}…`,
        reportedBy: 'client',
        reasonChars: 32_000,
      },
    ]);
  });

  it('adviseCorrupt() keeps 3 reports of a share and 30 of an account an hour, then one notice; every report is answered alike', async () => {
    const { alice, bob, db, clock, logged } = await setup(12);
    // The crawler's reports name the owner's account; they are not alice's and do not count.
    for (let i = 0; i < 5; i++) {
      await db.appendEvent({
        kind: 'share-corrupt',
        actor: 'crawler',
        accountId: alice.id,
        storageIndex: SI,
        shnum: 11,
        data: { reason: 'bad container', known: true },
      });
    }
    const reported = async (account: Account, shnum: number, times: number) => {
      for (let i = 0; i < times; i++) {
        await expect(
          account.adviseCorrupt('immutable', SI, shnum, `report ${i}`),
        ).resolves.toBeUndefined();
      }
    };
    await reported(alice, 0, 5);
    let kept = (await logged(alice)).filter((e) => e.data.reportedBy === 'client');
    expect(kept.map((e) => [e.shnum, e.data.reason])).toEqual([
      [0, 'report 0'],
      [0, 'report 1'],
      [0, 'report 2'],
    ]);
    // 11 more shares, 3 reports each: 33 more, of which 27 fit under the account's 30.
    for (let shnum = 1; shnum <= 11; shnum++) await reported(alice, shnum, 3);
    clock.advance(HOUR - 1);
    await reported(alice, 11, 3);
    const events = await logged(alice);
    kept = events.filter((e) => e.data.reportedBy === 'client');
    expect(kept).toHaveLength(30);
    const notices = events.filter((e) => e.kind === 'notice');
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({
      accountId: alice.id,
      actor: 'server',
      storageIndex: SI,
      shnum: 10,
      data: { droppedAdvisories: 'share-corrupt', advisoriesPerAccount: 30, windowSeconds: HOUR },
    });
    // Another account's reports are its own.
    await reported(bob, 0, 1);
    expect((await logged(bob)).map((e) => e.shnum)).toEqual([0]);

    // Once the first reports are an hour old, alice's are kept again, with no second notice.
    clock.advance(1);
    await reported(alice, 11, 1);
    const later = await logged(alice);
    expect(later.filter((e) => e.data.reportedBy === 'client')).toHaveLength(31);
    expect(later.filter((e) => e.kind === 'notice')).toHaveLength(1);
  });
});
