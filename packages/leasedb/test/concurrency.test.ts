import { join } from 'node:path';
import { tempDir } from '@ostrom/test-fixtures';
import { expect, it } from 'vitest';
import { type LeaseDb, openLeaseDb } from '../src/index.js';
import { outcome } from './errors.js';
import { DIALECTS, manualClock, publicKey, storageIndex } from './setup.js';

// Several server processes sharing one PostgreSQL database: each LeaseDb below has its own pool,
// so its transactions really interleave with the others' on the server.

const postgres = DIALECTS.find((d) => d.name === 'postgres')!;
const pgIt = it.skipIf(!postgres.available);

/** A promise and the function that settles it, to hold a transaction open at a chosen point. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

async function pools(count: number, now?: () => number): Promise<LeaseDb[]> {
  const location = await postgres.location();
  const dbs: LeaseDb[] = [];
  for (let i = 0; i < count; i++) dbs.push(await location.open(now ? { now } : {}));
  return dbs;
}

pgIt(
  'two writers allocating the same share: exactly one wins, the other gets INVALID_STATE_TRANSITION',
  async () => {
    const [a, b] = await pools(2);
    const alice = await a!.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    const bob = await a!.createAccount({ publicKey: publicKey(2), nickname: 'bob' });
    for (let round = 0; round < 10; round++) {
      const si = storageIndex(round);
      const results = await Promise.all(
        [
          [a!, alice.id],
          [b!, bob.id],
        ].map(([db, accountId]) =>
          outcome(
            (db as LeaseDb).addComingShares({
              storageIndex: si,
              sharetype: 'immutable',
              accountId: accountId as number,
              shares: [{ shnum: 0, usedBytes: 100 }],
            }),
          ),
        ),
      );
      expect(results.sort()).toEqual(['INVALID_STATE_TRANSITION', 'resolved']);
      expect((await a!.listLeases(si)).length).toBe(1);
    }
    expect(await a!.checkUsage()).toEqual([]);
  },
);

pgIt(
  'a share being marked GOING and a lease renewal on it never leave a leased GOING share',
  async () => {
    const [a, b] = await pools(2);
    for (let round = 0; round < 10; round++) {
      const si = storageIndex(round);
      await a!.adoptShare({
        storageIndex: si,
        shnum: 0,
        sharetype: 'immutable',
        usedBytes: 10,
        leases: [],
      });
      const [going, renewal] = await Promise.all([
        outcome(a!.markGoing(si, 0)),
        outcome(b!.addOrRenewLeases({ storageIndex: si, shnum: 0, accountId: 0 })),
      ]);
      const share = await a!.getShare(si, 0);
      const leases = await a!.listLeases(si);
      // Either the renewal came first (the share stays STABLE, leased; markGoing refused) or the
      // deletion did (GOING, unleased; the renewal finds no share).
      if (going === 'resolved') {
        expect([share?.state, leases.length, renewal]).toEqual(['going', 0, 'SHARE_NOT_FOUND']);
      } else {
        expect([share?.state, leases.length, going, renewal]).toEqual([
          'stable',
          1,
          'SHARE_LEASED',
          'resolved',
        ]);
      }
    }
  },
);

pgIt(
  'expiries, rewrites and renewals racing from three processes keep every total exact',
  async () => {
    const clock = manualClock();
    const dbs = await pools(3, clock.now);
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(
        (
          await dbs[0]!.createAccount({
            publicKey: publicKey(i),
            nickname: `a${i}`,
            hardQuotaBytes: 100_000,
          })
        ).id,
      );
    }
    for (let s = 0; s < 6; s++) {
      for (const shnum of [0, 1]) {
        await dbs[0]!.adoptShare({
          storageIndex: storageIndex(s),
          shnum,
          sharetype: 'mutable',
          usedBytes: 100,
          leases: [{ accountId: ids[s % 3]!, expiresAt: clock.now() + 5 }],
        });
      }
    }
    const seen = new Set<string>();
    for (let round = 0; round < 25; round++) {
      clock.advance(3);
      const ops: Promise<string>[] = [];
      for (let k = 0; k < 12; k++) {
        const db = dbs[k % 3]!;
        const si = storageIndex((round + k) % 6);
        const account = ids[k % 3]!;
        if (k % 4 === 0) ops.push(outcome(db.expireLeases(clock.now())));
        if (k % 4 === 1)
          ops.push(outcome(db.setUsedSpace(si, k % 2, 100 + ((round * 37 + k) % 500))));
        if (k % 4 === 2)
          ops.push(
            outcome(
              db.addOrRenewLeases({ storageIndex: si, accountId: account, durationSeconds: 4 }),
            ),
          );
        if (k % 4 === 3)
          ops.push(outcome(db.setUsedSpace(si, (k + 1) % 2, 50 + k, { enforceQuotaFor: account })));
      }
      for (const result of await Promise.all(ops)) seen.add(result);
    }
    expect([...seen]).toEqual(['resolved']);
    expect(await dbs[0]!.checkUsage()).toEqual([]);
  },
);

pgIt(
  'transactions that deadlock on two storage indexes are retried until both commit',
  async () => {
    const [a, b] = await pools(2);
    const alice = await a!.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    // Alice already leases both shares, so the transactions only renew: they contend for the two
    // storage-index locks and nothing else (a fresh lease would also lock alice's usage row).
    for (const s of [1, 2]) {
      await a!.adoptShare({
        storageIndex: storageIndex(s),
        shnum: 0,
        sharetype: 'immutable',
        usedBytes: 10,
        leases: [{ accountId: alice.id, expiresAt: 2_000_000_000 }],
      });
    }

    // Both transactions take their first index, wait until the other has too, then ask for the
    // other's: PostgreSQL detects the deadlock and aborts one, which must be re-run, not failed.
    let arrived = 0;
    const bothHoldOne = gate();
    let attempts = 0;
    const crossing = (db: LeaseDb, first: number, second: number) =>
      db.transaction(async (tx) => {
        attempts += 1;
        await tx.addOrRenewLeases({ storageIndex: storageIndex(first), accountId: alice.id });
        arrived += 1;
        if (arrived === 2) bothHoldOne.open();
        await bothHoldOne.wait;
        await tx.addOrRenewLeases({ storageIndex: storageIndex(second), accountId: alice.id });
      });
    expect(await Promise.all([outcome(crossing(a!, 1, 2)), outcome(crossing(b!, 2, 1))])).toEqual([
      'resolved',
      'resolved',
    ]);
    expect(attempts).toBe(3);
    expect(await a!.getAccountUsage(alice.id)).toEqual({ shares: 2, bytes: 20 });
  },
);

pgIt(
  'a reader following the log by afterId never skips an event committed out of id order',
  async () => {
    const [a, b] = await pools(2);
    const hold = gate();
    const entered = gate();
    // A appends (taking the lower id) and stays open; B appends meanwhile and commits.
    const slow = a!.transaction(async (tx) => {
      await tx.appendEvent({ kind: 'notice', data: { n: 1 } });
      entered.open();
      await hold.wait;
    });
    await entered.wait;
    const fast = b!.appendEvent({ kind: 'notice', data: { n: 2 } });
    const firstPoll = await a!.listEvents({ afterId: 0 });
    hold.open();
    await Promise.all([slow, fast]);
    const cursor = firstPoll.at(-1)?.id ?? 0;
    const secondPoll = await a!.listEvents({ afterId: cursor });
    expect([...firstPoll, ...secondPoll].map((e) => e.data.n)).toEqual([1, 2]);
  },
);

it('SQLite: a second handle on the same file waits its turn, and fails with BUSY only past its timeout', async () => {
  const path = join(await tempDir(), 'leasedb.sqlite');
  const server = await openLeaseDb({ dialect: 'sqlite', path });
  const cli = await openLeaseDb({ dialect: 'sqlite', path, busyTimeoutMs: 50 });
  try {
    // Interleaved writes from the two handles (as `ostrom accounts ...` beside a running server).
    const alice = await server.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    await cli.setAccountStatus(alice.id, 'frozen', { actor: 'operator' });
    await server.adoptShare({
      storageIndex: storageIndex(1),
      shnum: 0,
      sharetype: 'immutable',
      usedBytes: 1,
    });
    expect((await server.getAccount(alice.id))?.status).toBe('frozen');
    // While the server holds a write transaction open, the other handle gets a clear BUSY.
    const hold = gate();
    const entered = gate();
    const open = server.transaction(async (tx) => {
      await tx.setAccountNickname(alice.id, 'Alice');
      entered.open();
      await hold.wait;
    });
    await entered.wait;
    expect(await outcome(cli.setAccountStatus(alice.id, 'normal'))).toBe('BUSY');
    hold.open();
    await open;
    await cli.setAccountStatus(alice.id, 'normal');
    expect(await server.getAccount(alice.id)).toMatchObject({
      nickname: 'Alice',
      status: 'normal',
    });
  } finally {
    await cli.close();
    await server.close();
  }
});

it('an injected clock that returns no Unix seconds is refused before any write', async () => {
  const path = join(await tempDir(), 'leasedb.sqlite');
  let at = 1_700_000_000.5;
  const db = await openLeaseDb({ dialect: 'sqlite', path, now: () => at });
  try {
    expect(await outcome(db.createAccount({ publicKey: publicKey(1), nickname: 'alice' }))).toBe(
      'RangeError',
    );
    at = 1_700_000_000;
    expect((await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' })).createdAt).toBe(
      at,
    );
  } finally {
    await db.close();
  }
});
