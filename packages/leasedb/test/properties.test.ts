import fc from 'fast-check';
import { expect, it } from 'vitest';
import { type LeaseDb, SHARE_STATES, type ShareState } from '../src/index.js';
import { outcome } from './errors.js';
import { describeEachDialect, manualClock, publicKey, storageIndex } from './setup.js';

// Model-based test: random sequences of operations from several accounts run against the real
// database and against a small in-memory model of the rules in docs/ARCHITECTURE.md ("Data model").
// Each operation must succeed or fail exactly as the model says; at the end the rows, the leases
// and every usage total must equal the model's, and the maintained totals must equal a recount.

const DAY = 86_400;
const SIS = [storageIndex(1), storageIndex(2), storageIndex(3)];
const QUOTA_ACCOUNT = 4;
const QUOTA = 5000;

interface ModelShare {
  state: ShareState;
  size: number;
  leases: Map<number, number>; // account → expiresAt
}

type Op =
  | { op: 'alloc'; account: number; si: number; shnums: number[]; size: number }
  | { op: 'stable'; si: number; shnum: number; size: number }
  | { op: 'abort'; si: number; shnum: number }
  | { op: 'resize'; si: number; shnum: number; size: number; enforce: number | undefined }
  | { op: 'adopt'; si: number; shnum: number; size: number; accounts: number[] }
  | { op: 'adoptMany'; shares: { si: number; shnum: number; size: number; accounts: number[] }[] }
  | { op: 'going'; si: number; shnum: number; drop: boolean }
  | { op: 'back'; si: number; shnum: number }
  | { op: 'remove'; si: number; shnum: number }
  | { op: 'vanish'; si: number; shnum: number }
  | { op: 'renew'; account: number; si: number; shnum: number | undefined; days: number }
  | { op: 'expire' }
  | { op: 'tick'; seconds: number };

const account = fc.constantFrom(0, 2, 3, QUOTA_ACCOUNT);
const si = fc.integer({ min: 0, max: SIS.length - 1 });
const shnum = fc.integer({ min: 0, max: 3 });
const size = fc.integer({ min: 0, max: 2000 });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('alloc' as const),
    account,
    si,
    shnums: fc.uniqueArray(shnum, { minLength: 1, maxLength: 3 }),
    size,
  }),
  fc.record({ op: fc.constant('stable' as const), si, shnum, size }),
  fc.record({ op: fc.constant('abort' as const), si, shnum }),
  fc.record({
    op: fc.constant('resize' as const),
    si,
    shnum,
    size,
    enforce: fc.option(account, { nil: undefined }),
  }),
  fc.record({
    op: fc.constant('adopt' as const),
    si,
    shnum,
    size,
    accounts: fc.uniqueArray(fc.constantFrom(0, 1, 2, 3), { maxLength: 2 }),
  }),
  fc.record({
    op: fc.constant('adoptMany' as const),
    shares: fc.uniqueArray(
      fc.record({
        si,
        shnum,
        size,
        accounts: fc.uniqueArray(fc.constantFrom(0, 1, 2, 3), { maxLength: 2 }),
      }),
      { minLength: 1, maxLength: 5, selector: (share) => `${share.si}/${share.shnum}` },
    ),
  }),
  fc.record({ op: fc.constant('going' as const), si, shnum, drop: fc.boolean() }),
  fc.record({ op: fc.constant('back' as const), si, shnum }),
  fc.record({ op: fc.constant('remove' as const), si, shnum }),
  fc.record({ op: fc.constant('vanish' as const), si, shnum }),
  fc.record({
    op: fc.constant('renew' as const),
    account,
    si,
    shnum: fc.option(shnum, { nil: undefined }),
    days: fc.integer({ min: 1, max: 40 }),
  }),
  fc.record({ op: fc.constant('expire' as const) }),
  fc.record({ op: fc.constant('tick' as const), seconds: fc.integer({ min: 0, max: 20 * DAY }) }),
);

class Model {
  readonly shares = new Map<string, ModelShare>();
  readonly quota = new Map<number, number>([[QUOTA_ACCOUNT, QUOTA]]);

  usage(accountId: number): { shares: number; bytes: number } {
    let shares = 0;
    let bytes = 0;
    for (const share of this.shares.values()) {
      if (share.leases.has(accountId)) {
        shares += 1;
        bytes += share.size;
      }
    }
    return { shares, bytes };
  }

  /** Applies `op` and returns the outcome the database must give. */
  apply(op: Op, now: number): string {
    const key = (s: number, n: number) => `${SIS[s]}/${n}`;
    const expect = (s: number, n: number, state: ShareState) =>
      this.shares.get(key(s, n))?.state === state;
    switch (op.op) {
      case 'alloc': {
        if (op.shnums.some((n) => this.shares.has(key(op.si, n))))
          return 'INVALID_STATE_TRANSITION';
        const hard = this.quota.get(op.account);
        if (hard !== undefined && this.usage(op.account).bytes + op.size * op.shnums.length > hard)
          return 'QUOTA_EXCEEDED';
        for (const n of op.shnums) {
          this.shares.set(key(op.si, n), {
            state: 'coming',
            size: op.size,
            leases: new Map([[op.account, now + 31 * DAY]]),
          });
        }
        return 'resolved';
      }
      case 'stable': {
        if (!expect(op.si, op.shnum, 'coming')) return 'INVALID_STATE_TRANSITION';
        const share = this.shares.get(key(op.si, op.shnum))!;
        if (op.size > share.size) return 'RangeError'; // never larger than allocated
        share.state = 'stable';
        share.size = op.size;
        return 'resolved';
      }
      case 'abort':
        if (!expect(op.si, op.shnum, 'coming')) return 'INVALID_STATE_TRANSITION';
        this.shares.delete(key(op.si, op.shnum));
        return 'resolved';
      case 'resize': {
        if (!expect(op.si, op.shnum, 'stable')) return 'INVALID_STATE_TRANSITION';
        const share = this.shares.get(key(op.si, op.shnum))!;
        const delta = op.size - share.size;
        const hard = op.enforce === undefined ? undefined : this.quota.get(op.enforce);
        if (delta > 0 && hard !== undefined && this.usage(op.enforce!).bytes + delta > hard)
          return 'QUOTA_EXCEEDED';
        share.size = op.size;
        return 'resolved';
      }
      case 'adopt':
        if (this.shares.has(key(op.si, op.shnum))) return 'INVALID_STATE_TRANSITION';
        this.shares.set(key(op.si, op.shnum), {
          state: 'stable',
          size: op.size,
          leases: new Map(op.accounts.map((a) => [a, now + 10 * DAY])),
        });
        return 'resolved';
      case 'adoptMany':
        // All or none: one share the database knows refuses the whole batch.
        if (op.shares.some((share) => this.shares.has(key(share.si, share.shnum))))
          return 'INVALID_STATE_TRANSITION';
        for (const share of op.shares) {
          this.shares.set(key(share.si, share.shnum), {
            state: 'stable',
            size: share.size,
            leases: new Map(share.accounts.map((a) => [a, now + 10 * DAY])),
          });
        }
        return 'resolved';
      case 'going': {
        if (!expect(op.si, op.shnum, 'stable')) return 'INVALID_STATE_TRANSITION';
        const share = this.shares.get(key(op.si, op.shnum))!;
        if (!op.drop && share.leases.size > 0) return 'SHARE_LEASED';
        share.leases.clear();
        share.state = 'going';
        return 'resolved';
      }
      case 'back':
        if (!expect(op.si, op.shnum, 'going')) return 'INVALID_STATE_TRANSITION';
        this.shares.get(key(op.si, op.shnum))!.state = 'stable';
        return 'resolved';
      case 'remove':
        if (!expect(op.si, op.shnum, 'going')) return 'INVALID_STATE_TRANSITION';
        this.shares.delete(key(op.si, op.shnum));
        return 'resolved';
      case 'vanish':
        if (!expect(op.si, op.shnum, 'stable')) return 'INVALID_STATE_TRANSITION';
        this.shares.delete(key(op.si, op.shnum));
        return 'resolved';
      case 'renew': {
        const targets = [...this.shares.entries()].filter(
          ([k, share]) =>
            share.state !== 'going' &&
            k.startsWith(`${SIS[op.si]}/`) &&
            (op.shnum === undefined || k === key(op.si, op.shnum)),
        );
        if (targets.length === 0) return op.shnum === undefined ? 'resolved' : 'SHARE_NOT_FOUND';
        const until = now + op.days * DAY;
        for (const [, share] of targets)
          share.leases.set(op.account, Math.max(share.leases.get(op.account) ?? 0, until));
        return 'resolved';
      }
      case 'expire':
        for (const share of this.shares.values()) {
          for (const [a, expiresAt] of share.leases) if (expiresAt < now) share.leases.delete(a);
        }
        return 'resolved';
      case 'tick':
        return 'resolved';
    }
  }
}

function run(db: LeaseDb, op: Op, now: number): Promise<unknown> {
  switch (op.op) {
    case 'alloc':
      return db.addComingShares({
        storageIndex: SIS[op.si]!,
        sharetype: 'immutable',
        accountId: op.account,
        shares: op.shnums.map((n) => ({ shnum: n, usedBytes: op.size })),
      });
    case 'stable':
      return db.markStable(SIS[op.si]!, op.shnum, op.size);
    case 'abort':
      return db.abortComing(SIS[op.si]!, op.shnum);
    case 'resize':
      return db.setUsedSpace(
        SIS[op.si]!,
        op.shnum,
        op.size,
        op.enforce === undefined ? {} : { enforceQuotaFor: op.enforce },
      );
    case 'adopt':
      return db.adoptShare({
        storageIndex: SIS[op.si]!,
        shnum: op.shnum,
        sharetype: 'mutable',
        usedBytes: op.size,
        leases: op.accounts.map((a) => ({ accountId: a, expiresAt: now + 10 * DAY })),
      });
    case 'adoptMany':
      return db.adoptShares(
        op.shares.map((share) => ({
          storageIndex: SIS[share.si]!,
          shnum: share.shnum,
          sharetype: 'mutable',
          usedBytes: share.size,
          leases: share.accounts.map((a) => ({ accountId: a, expiresAt: now + 10 * DAY })),
        })),
      );
    case 'going':
      return db.markGoing(SIS[op.si]!, op.shnum, { dropLeases: op.drop });
    case 'back':
      return db.returnToStable(SIS[op.si]!, op.shnum);
    case 'remove':
      return db.removeGoing(SIS[op.si]!, op.shnum);
    case 'vanish':
      return db.removeVanished(SIS[op.si]!, op.shnum);
    case 'renew':
      return db.addOrRenewLeases({
        storageIndex: SIS[op.si]!,
        accountId: op.account,
        durationSeconds: op.days * DAY,
        ...(op.shnum === undefined ? {} : { shnum: op.shnum }),
      });
    case 'expire':
      return db.expireLeases(now);
    case 'tick':
      return Promise.resolve();
  }
}

describeEachDialect('random operation sequences', (dialect) => {
  it('follow the model step by step and leave usage totals equal to a recount', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), async (ops) => {
        const clock = manualClock();
        const db = await (await dialect.location()).open({ now: clock.now });
        for (let i = 2; i <= QUOTA_ACCOUNT; i++) {
          await db.createAccount({
            publicKey: publicKey(i),
            nickname: `account-${i}`,
            hardQuotaBytes: i === QUOTA_ACCOUNT ? QUOTA : null,
          });
        }
        const model = new Model();
        for (const op of ops) {
          if (op.op === 'tick') clock.advance(op.seconds);
          const expected = model.apply(op, clock.now());
          expect({ op, result: await outcome(run(db, op, clock.now())) }).toEqual({
            op,
            result: expected,
          });
        }

        const rows = (await Promise.all(SIS.map((s) => db.listShares(s)))).flat();
        expect(rows.every((row) => SHARE_STATES.includes(row.state))).toBe(true);
        expect(
          Object.fromEntries(
            rows.map((r) => [`${r.storageIndex}/${r.shnum}`, [r.state, r.usedBytes]]),
          ),
        ).toEqual(Object.fromEntries([...model.shares].map(([k, s]) => [k, [s.state, s.size]])));
        const leases = (await Promise.all(SIS.map((s) => db.listLeases(s)))).flat();
        expect(
          Object.fromEntries(
            leases.map((l) => [`${l.storageIndex}/${l.shnum}@${l.accountId}`, l.expiresAt]),
          ),
        ).toEqual(
          Object.fromEntries(
            [...model.shares].flatMap(([k, s]) =>
              [...s.leases].map(([a, expiresAt]) => [`${k}@${a}`, expiresAt]),
            ),
          ),
        );
        for (const id of [0, 1, 2, 3, QUOTA_ACCOUNT])
          expect(await db.getAccountUsage(id)).toEqual(model.usage(id));
        const sizes = [...model.shares.values()].map((s) => s.size);
        expect(await db.getServerUsage()).toEqual({
          shares: sizes.length,
          bytes: sizes.reduce((a, b) => a + b, 0),
        });
        expect(await db.checkUsage()).toEqual([]);
        await db.close();
      }),
      { numRuns: dialect.name === 'postgres' ? 15 : 60 },
    );
  });
});
