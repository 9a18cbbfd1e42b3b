import { randomBytes } from 'node:crypto';
import { encodeCbor } from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import { bytes, secrets, startServer, storageIndex } from '../http-setup.js';
import {
  expectBounded,
  randomStorageIndex,
  startHostileNode,
  underAttack,
} from './hostile-node.js';

// Attack: any reader fills the database with corruption advisories: 200 advisories with a
// 32 KB reason each grew it by 4.8 MB.
// Expected: every advisory is answered 200, as Tahoe answers (docs/TAHOE-COMPATIBILITY.md fact
// 37: the client must not see an error), but what is kept is bounded: reasons cut to 1,000
// characters, at most 3 reports of a share and 30 of an account an hour, and one notice that
// further ones were dropped; another account's reports are still kept.

const SHARES = 12;
const REASON_CHARS = 32_700; // the advisory body limit is 32 KiB

describe('hostile: corruption advisories are bounded', () => {
  it('200 advisories of 32 KB from one NURL are all 200; 30 are kept, cut to 1,000 characters, and one notice', async () => {
    const t = await startServer();
    const anonymous = t.client();
    const si = storageIndex('hostile-advisories');
    const s = secrets('hostile-advisories');
    const shareNumbers = Array.from({ length: SHARES }, (_, i) => i);
    await anonymous.immutable.allocate(si, { ...s, shareNumbers, allocatedSize: 10 });
    for (const shnum of shareNumbers) {
      await anonymous.immutable.write(si, shnum, {
        uploadSecret: s.uploadSecret,
        offset: 0,
        data: bytes(10, shnum),
      });
    }

    const body = encodeCbor({ reason: 'r'.repeat(REASON_CHARS) });
    for (let i = 0; i < 200; i++) {
      const res = await anonymous.raw({
        method: 'POST',
        path: `/storage/v1/immutable/${si}/${i % SHARES}/corrupt`,
        headers: { 'Content-Type': 'application/cbor' },
        body,
      });
      expect(res.status).toBe(200);
    }

    const events = await t.db.listEvents({ kinds: ['share-corrupt', 'notice'], limit: 1000 });
    const reports = events.filter((e) => e.kind === 'share-corrupt');
    expect(reports).toHaveLength(30);
    for (const report of reports) {
      expect(report.accountId).toBe(0);
      expect(report.data.reason).toBe(`${'r'.repeat(1000)}…`);
      expect(report.data.reasonChars).toBe(REASON_CHARS);
    }
    expect(events.filter((e) => e.kind === 'notice')).toHaveLength(1);
    const stored = events.reduce((sum, e) => sum + JSON.stringify(e.data).length, 0);
    expect(stored).toBeLessThan(40_000);

    // Another account's report is its own, and kept.
    const alice = await t.accountant.addAccount({ publicKey: randomBytes(32), nickname: 'alice' });
    await t.client(alice.id).immutable.adviseCorrupt(si, 0, 'bad block hash');
    const hers = await t.db.listEvents({ accountId: alice.id, kinds: ['share-corrupt'] });
    expect(hers.map((e) => e.data.reason)).toEqual(['bad block hash']);
  });

  it('measured on a node of its own: 200 advisories of 32 KB, four at a time, within the suite bounds; the log keeps 3 of the share', async () => {
    const node = await startHostileNode();
    const anonymous = node.client();
    const si = randomStorageIndex();
    const s = secrets('hostile-advisories-measured');
    await anonymous.immutable.allocate(si, { ...s, shareNumbers: [0], allocatedSize: 10 });
    await anonymous.immutable.write(si, 0, {
      uploadSecret: s.uploadSecret,
      offset: 0,
      data: bytes(10),
    });
    const body = encodeCbor({ reason: 'r'.repeat(REASON_CHARS) });
    const { result, figures } = await underAttack(node, async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 50; i++) {
        const answers = await Promise.all(
          [0, 1, 2, 3].map(() =>
            anonymous.raw({
              method: 'POST',
              path: `/storage/v1/immutable/${si}/0/corrupt`,
              headers: { 'Content-Type': 'application/cbor' },
              body,
            }),
          ),
        );
        statuses.push(...answers.map((answer) => answer.status));
      }
      return statuses;
    });
    expectBounded(figures);
    expect(result).toEqual(Array(200).fill(200));
    const logged = await node.admin<{ events: { kind: string }[] }>(
      'GET',
      '/admin/v1/events?kinds=share-corrupt&limit=1000',
    );
    // 3 of one share an hour, however many arrive at once (one process takes them in turn).
    expect(logged.events).toHaveLength(3);
  }, 60_000);
});
