import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import {
  type CreateInvitationInput,
  type InvitationRedemption,
  type LeaseDb,
  MAX_INVITATION_USES,
} from '../src/index.js';
import { outcome } from './errors.js';
import { DIALECTS, describeEachDialect, manualClock, publicKey } from './setup.js';

const DAY = 86_400;

/** The SHA-256 (hex) of a distinct code secret per seed, as a caller hashes a code's secret. */
function secretHash(seed: number): string {
  return createHash('sha256').update(`invitation secret ${seed}`).digest('hex');
}

function invitation(
  seed: number,
  now: number,
  overrides: Partial<CreateInvitationInput> = {},
): CreateInvitationInput {
  return {
    secretHash: secretHash(seed),
    maxUses: 1,
    expiresAt: now + 7 * DAY,
    actor: 'op',
    ...overrides,
  };
}

describeEachDialect('invitations', (dialect) => {
  it('createInvitation(input) stores the row and logs invitation-created without the hash', async () => {
    const clock = manualClock(1_000);
    const db = await dialect.open({ now: clock.now });
    const created = await db.createInvitation({
      secretHash: secretHash(1),
      nickname: 'dave',
      hardQuotaBytes: 5_000_000_000,
      softQuotaBytes: 4_000_000_000,
      maxUses: 3,
      expiresAt: 1_000 + 7 * DAY,
      actor: 'alice-operator',
    });
    expect(created).toEqual({
      id: expect.any(Number),
      secretHash: secretHash(1),
      nickname: 'dave',
      hardQuotaBytes: 5_000_000_000,
      softQuotaBytes: 4_000_000_000,
      maxUses: 3,
      uses: 0,
      createdAt: 1_000,
      expiresAt: 1_000 + 7 * DAY,
      revokedAt: null,
      createdBy: 'alice-operator',
      lastUsedAt: null,
    });
    expect(await db.getInvitation(created.id)).toEqual(created);
    const events = await db.listEvents({ kinds: ['invitation-created'] });
    expect(events).toEqual([
      {
        id: expect.any(Number),
        at: 1_000,
        kind: 'invitation-created',
        accountId: null,
        actor: 'alice-operator',
        storageIndex: null,
        shnum: null,
        data: {
          invitationId: created.id,
          nickname: 'dave',
          maxUses: 3,
          expiresAt: 1_000 + 7 * DAY,
        },
      },
    ]);
    expect(JSON.stringify(await db.listEvents())).not.toContain(secretHash(1));

    // The optional fields default to none.
    expect(await db.createInvitation(invitation(2, 1_000))).toMatchObject({
      nickname: null,
      hardQuotaBytes: null,
      softQuotaBytes: null,
      maxUses: 1,
    });
  });

  it('createInvitation(input) refuses a hash that has an invitation with INVITATION_EXISTS', async () => {
    const db = await dialect.open({ now: manualClock(1_000).now });
    const first = await db.createInvitation(invitation(1, 1_000));
    const refused = await db.createInvitation(invitation(1, 1_000, { maxUses: 5 })).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({
      code: 'INVITATION_EXISTS',
      details: { invitationId: first.id },
    });
    expect(await db.listInvitations()).toEqual([first]);
    expect(await db.listEvents({ kinds: ['invitation-created'] })).toHaveLength(1);
  });

  it('createInvitation(input) refuses malformed input before any statement', async () => {
    const now = 1_000;
    const db = await dialect.open({ now: manualClock(now).now });
    const good = invitation(1, now);
    const typeErrors: unknown[] = [
      null,
      { ...good, secretHash: secretHash(1).toUpperCase() },
      { ...good, secretHash: secretHash(1).slice(1) },
      { ...good, secretHash: `${secretHash(1).slice(1)}g` },
      { ...good, secretHash: undefined },
      { ...good, nickname: '' },
      { ...good, nickname: 'x'.repeat(65) },
      { ...good, nickname: 'a\nb' },
      { ...good, nickname: 7 },
      { ...good, hardQuotaBytes: 1.5 },
      { ...good, softQuotaBytes: '10' },
      { ...good, maxUses: 1.5 },
      { ...good, maxUses: undefined },
      { ...good, expiresAt: Number.NaN },
      { ...good, actor: '' },
      { ...good, actor: 'x'.repeat(65) },
      { ...good, actor: 'a\tb' },
      { ...good, actor: undefined },
    ];
    for (const input of typeErrors) {
      expect({ input, outcome: await outcome(db.createInvitation(input as never)) }).toEqual({
        input,
        outcome: 'TypeError',
      });
    }
    const rangeErrors: unknown[] = [
      { ...good, hardQuotaBytes: -1 },
      { ...good, hardQuotaBytes: 10, softQuotaBytes: 11 },
      { ...good, maxUses: 0 },
      { ...good, maxUses: -1 },
      { ...good, maxUses: MAX_INVITATION_USES + 1 },
      { ...good, expiresAt: now },
      { ...good, expiresAt: now - 1 },
      { ...good, expiresAt: -5 },
    ];
    for (const input of rangeErrors) {
      expect({ input, outcome: await outcome(db.createInvitation(input as never)) }).toEqual({
        input,
        outcome: 'RangeError',
      });
    }
    expect(await db.listInvitations()).toEqual([]);
    expect(await db.listEvents({ kinds: ['invitation-created'] })).toEqual([]);
    // The limits themselves are allowed.
    await db.createInvitation({
      ...good,
      maxUses: MAX_INVITATION_USES,
      expiresAt: now + 1,
      nickname: 'x'.repeat(64),
      actor: 'y'.repeat(64),
      hardQuotaBytes: 10,
      softQuotaBytes: 10,
    });
  });

  it('listInvitations() gives every invitation newest first; getInvitation(id) one or undefined', async () => {
    const db = await dialect.open({ now: manualClock(1_000).now });
    expect(await db.listInvitations()).toEqual([]);
    const made = [];
    for (let seed = 1; seed <= 4; seed++)
      made.push(await db.createInvitation(invitation(seed, 1_000)));
    expect((await db.listInvitations()).map((i) => i.id)).toEqual(made.map((i) => i.id).reverse());
    expect(await db.listInvitations()).toEqual([...made].reverse());
    expect(await db.getInvitation(made[2]!.id)).toEqual(made[2]);
    expect(await db.getInvitation(made[3]!.id + 100)).toBeUndefined();
    for (const id of [-1, 1.5, '1', null]) {
      await expect(db.getInvitation(id as number)).rejects.toBeInstanceOf(
        id === -1 ? RangeError : TypeError,
      );
    }
  });

  it('revokeInvitation(id, actor) sets revokedAt once and logs it once; unknown ids give undefined', async () => {
    const clock = manualClock(1_000);
    const db = await dialect.open({ now: clock.now });
    const made = await db.createInvitation(invitation(1, 1_000));
    clock.advance(10);
    const revoked = await db.revokeInvitation(made.id, 'bob-operator');
    expect(revoked).toEqual({ ...made, revokedAt: 1_010 });
    clock.advance(10);
    // A second revocation keeps the first time and logs nothing.
    expect(await db.revokeInvitation(made.id, 'carol-operator')).toEqual(revoked);
    expect(await db.getInvitation(made.id)).toEqual(revoked);
    expect(await db.listEvents({ kinds: ['invitation-revoked'] })).toMatchObject([
      { at: 1_010, actor: 'bob-operator', accountId: null, data: { invitationId: made.id } },
    ]);
    expect(await db.revokeInvitation(made.id + 1, 'bob-operator')).toBeUndefined();
    expect(await db.listEvents({ kinds: ['invitation-revoked'] })).toHaveLength(1);
    await expect(db.revokeInvitation(made.id, '')).rejects.toBeInstanceOf(TypeError);
    await expect(db.revokeInvitation(-1, 'op')).rejects.toBeInstanceOf(RangeError);
  });

  it('redeemInvitation(hash) counts each use until the invitation is spent', async () => {
    const clock = manualClock(1_000);
    const db = await dialect.open({ now: clock.now });
    const made = await db.createInvitation(invitation(1, 1_000, { maxUses: 2 }));
    clock.advance(5);
    expect(await db.redeemInvitation(secretHash(1))).toEqual({
      status: 'redeemed',
      invitation: { ...made, uses: 1, lastUsedAt: 1_005 },
    });
    clock.advance(5);
    expect(await db.redeemInvitation(secretHash(1))).toEqual({
      status: 'redeemed',
      invitation: { ...made, uses: 2, lastUsedAt: 1_010 },
    });
    clock.advance(5);
    const spent = { ...made, uses: 2, lastUsedAt: 1_010 };
    expect(await db.redeemInvitation(secretHash(1))).toEqual({
      status: 'spent',
      invitation: spent,
    });
    expect(await db.getInvitation(made.id)).toEqual(spent);
    // Redemptions log nothing: the account created with one does.
    expect((await db.listEvents()).map((e) => e.kind)).toEqual(['invitation-created']);
  });

  it('redeemInvitation(hash) answers unknown for a hash without invitation and refuses a malformed one', async () => {
    const db = await dialect.open({ now: manualClock(1_000).now });
    await db.createInvitation(invitation(1, 1_000));
    expect(await db.redeemInvitation(secretHash(2))).toEqual({ status: 'unknown' });
    for (const hash of [secretHash(1).toUpperCase(), '', 'ab', 7, null]) {
      await expect(db.redeemInvitation(hash as string)).rejects.toBeInstanceOf(TypeError);
    }
    expect((await db.listInvitations())[0]?.uses).toBe(0);
  });

  it('redeemInvitation(hash) refuses an expired invitation from its expiresAt on', async () => {
    const clock = manualClock(1_000);
    const db = await dialect.open({ now: clock.now });
    const made = await db.createInvitation(invitation(1, 1_000, { maxUses: 5, expiresAt: 1_100 }));
    clock.advance(99);
    expect((await db.redeemInvitation(secretHash(1))).status).toBe('redeemed');
    clock.advance(1); // now = expiresAt
    expect(await db.redeemInvitation(secretHash(1))).toEqual({
      status: 'expired',
      invitation: { ...made, uses: 1, lastUsedAt: 1_099 },
    });
  });

  it('redeemInvitation(hash) answers revoked before expired before spent', async () => {
    const clock = manualClock(1_000);
    const db = await dialect.open({ now: clock.now });
    // 1: spent, then expired, then revoked: each later reason takes precedence as it appears.
    await db.createInvitation(invitation(1, 1_000, { expiresAt: 1_100 }));
    expect((await db.redeemInvitation(secretHash(1))).status).toBe('redeemed');
    expect((await db.redeemInvitation(secretHash(1))).status).toBe('spent');
    clock.advance(100);
    expect((await db.redeemInvitation(secretHash(1))).status).toBe('expired');
    const first = (await db.listInvitations())[0]!;
    await db.revokeInvitation(first.id, 'op');
    expect(await db.redeemInvitation(secretHash(1))).toMatchObject({
      status: 'revoked',
      invitation: { id: first.id, uses: 1, revokedAt: 1_100 },
    });
    // 2: revoked while usable: revoked, never redeemed.
    const second = await db.createInvitation(invitation(2, 1_100, { maxUses: 3 }));
    await db.revokeInvitation(second.id, 'op');
    expect(await db.redeemInvitation(secretHash(2))).toMatchObject({
      status: 'revoked',
      invitation: { uses: 0, lastUsedAt: null },
    });
    // 3: expired with uses left, then spent is never its answer.
    await db.createInvitation(invitation(3, 1_100, { maxUses: 1, expiresAt: 1_200 }));
    clock.advance(100);
    expect((await db.redeemInvitation(secretHash(3))).status).toBe('expired');
  });

  it('a redemption inside a transaction that then throws is rolled back with it', async () => {
    const clock = manualClock(1_000);
    const db = await dialect.open({ now: clock.now });
    const made = await db.createInvitation(invitation(1, 1_000));
    clock.advance(5);
    await expect(
      db.transaction(async (tx) => {
        expect((await tx.redeemInvitation(secretHash(1))).status).toBe('redeemed');
        // The caller's account creation, here failing on a key taken already.
        await tx.createAccount({ publicKey: publicKey(1), nickname: 'dave' });
        await tx.createAccount({ publicKey: publicKey(1), nickname: 'dave' });
      }),
    ).rejects.toMatchObject({ code: 'ACCOUNT_EXISTS' });
    expect(await db.getInvitation(made.id)).toEqual(made);
    expect(await db.getAccountByPublicKey(publicKey(1))).toBeUndefined();
    // And one that commits keeps both the use and the account.
    const account = await db.transaction(async (tx) => {
      const redemption = await tx.redeemInvitation(secretHash(1));
      if (redemption.status !== 'redeemed') throw new Error(redemption.status);
      return await tx.createAccount({
        publicKey: publicKey(1),
        nickname: redemption.invitation.nickname ?? 'dave',
      });
    });
    expect(await db.getAccount(account.id)).toEqual(account);
    expect(await db.getInvitation(made.id)).toMatchObject({ uses: 1, lastUsedAt: 1_005 });
  });

  it('an invitation created and revoked in a transaction that throws leaves neither row nor event', async () => {
    const db = await dialect.open({ now: manualClock(1_000).now });
    await expect(
      db.transaction(async (tx) => {
        const made = await tx.createInvitation(invitation(1, 1_000));
        await tx.revokeInvitation(made.id, 'op');
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await db.listInvitations()).toEqual([]);
    expect(await db.listEvents()).toEqual([]);
  });

  it('of many redemptions of a one-use invitation at once, exactly one is redeemed', async () => {
    const clock = manualClock(1_000);
    const location = await dialect.location();
    // PostgreSQL: three pools, as three processes. SQLite: one connection (writes of one process
    // share it; other processes would wait at BEGIN IMMEDIATE).
    const dbs = [await location.open({ now: clock.now })];
    if (dialect.name === 'postgres') {
      dbs.push(await location.open({ now: clock.now }), await location.open({ now: clock.now }));
    }
    for (let round = 0; round < 5; round++) {
      const maxUses = round === 4 ? 3 : 1;
      const made = await dbs[0]!.createInvitation(invitation(round, 1_000, { maxUses }));
      const results = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          dbs[i % dbs.length]!.redeemInvitation(secretHash(round)),
        ),
      );
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 'redeemed')).toHaveLength(maxUses);
      expect(statuses.filter((s) => s === 'spent')).toHaveLength(24 - maxUses);
      expect((await dbs[0]!.getInvitation(made.id))?.uses).toBe(maxUses);
      // Each winner saw a different count.
      const counts = results.flatMap((r) => (r.status === 'redeemed' ? [r.invitation.uses] : []));
      expect(counts.sort((x, y) => x - y)).toEqual(
        Array.from({ length: maxUses }, (_, i) => i + 1),
      );
    }
  });
});

const postgres = DIALECTS.find((d) => d.name === 'postgres')!;

it.skipIf(!postgres.available)(
  'PostgreSQL: a redemption waiting on another transaction that rolls back then takes the use',
  async () => {
    const location = await postgres.location();
    const [a, b] = [await location.open(), await location.open()];
    const made = await a.createInvitation({
      secretHash: secretHash(1),
      maxUses: 1,
      expiresAt: Math.floor(Date.now() / 1000) + DAY,
      actor: 'op',
    });
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let redeemedInA!: () => void;
    const aRedeemed = new Promise<void>((resolve) => {
      redeemedInA = resolve;
    });
    const first = a.transaction(async (tx) => {
      expect((await tx.redeemInvitation(secretHash(1))).status).toBe('redeemed');
      redeemedInA();
      await held;
      throw new Error('account creation failed');
    });
    await Promise.race([aRedeemed, first]);
    // b's UPDATE waits on a's row lock; whichever way the race goes, a's use is given back.
    const second = b.redeemInvitation(secretHash(1));
    release();
    await expect(first).rejects.toThrow('account creation failed');
    expect(await second).toMatchObject({ status: 'redeemed', invitation: { uses: 1 } });
    expect((await a.getInvitation(made.id))?.uses).toBe(1);
  },
);

// Model-based: random redemptions, revocations and the passing of time against a few
// invitations, each answer as a small model of the rules says, the rows equal at the end.

const SEEDS = [1, 2, 3];
const START = 10_000;

type Op =
  | { op: 'redeem'; invitation: number }
  | { op: 'redeemUnknown' }
  | { op: 'revoke'; invitation: number }
  | { op: 'tick'; seconds: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('redeem' as const),
      invitation: fc.constantFrom(0, 1, 2),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('redeemUnknown' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('revoke' as const),
      invitation: fc.constantFrom(0, 1, 2),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('tick' as const),
      seconds: fc.integer({ min: 1, max: 60 }),
    }),
  },
);

const setupArb = fc.tuple(
  ...SEEDS.map(() =>
    fc.record({
      maxUses: fc.integer({ min: 1, max: 4 }),
      lifetime: fc.integer({ min: 1, max: 200 }),
    }),
  ),
);

interface ModelInvitation {
  maxUses: number;
  uses: number;
  expiresAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

function modelRedeem(model: ModelInvitation, now: number): InvitationRedemption['status'] {
  if (model.revokedAt !== null) return 'revoked';
  if (now >= model.expiresAt) return 'expired';
  if (model.uses >= model.maxUses) return 'spent';
  model.uses += 1;
  model.lastUsedAt = now;
  return 'redeemed';
}

describeEachDialect('random invitation operations', (dialect) => {
  it('answer as the model says and leave the rows equal to it', async () => {
    await fc.assert(
      fc.asyncProperty(
        setupArb,
        fc.array(opArb, { minLength: 1, maxLength: 30 }),
        async (setup, ops) => {
          const clock = manualClock(START);
          const db: LeaseDb = await (await dialect.location()).open({ now: clock.now });
          const ids: number[] = [];
          const model: ModelInvitation[] = [];
          for (const [i, { maxUses, lifetime }] of setup.entries()) {
            const made = await db.createInvitation({
              secretHash: secretHash(SEEDS[i]!),
              maxUses,
              expiresAt: START + lifetime,
              actor: 'op',
            });
            ids.push(made.id);
            model.push({
              maxUses,
              uses: 0,
              expiresAt: START + lifetime,
              revokedAt: null,
              lastUsedAt: null,
            });
          }
          let revocations = 0;
          for (const op of ops) {
            const now = clock.now();
            switch (op.op) {
              case 'tick':
                clock.advance(op.seconds);
                break;
              case 'redeemUnknown':
                expect(await db.redeemInvitation(secretHash(99))).toEqual({ status: 'unknown' });
                break;
              case 'redeem': {
                const expected = modelRedeem(model[op.invitation]!, now);
                const result = await db.redeemInvitation(secretHash(SEEDS[op.invitation]!));
                expect({ op, status: result.status }).toEqual({ op, status: expected });
                break;
              }
              case 'revoke': {
                const target = model[op.invitation]!;
                if (target.revokedAt === null) {
                  target.revokedAt = now;
                  revocations += 1;
                }
                expect((await db.revokeInvitation(ids[op.invitation]!, 'op'))?.revokedAt).toBe(
                  target.revokedAt,
                );
                break;
              }
            }
          }
          for (const [i, id] of ids.entries()) {
            expect(await db.getInvitation(id)).toMatchObject(model[i]!);
          }
          expect(await db.listEvents({ kinds: ['invitation-revoked'] })).toHaveLength(revocations);
          await db.close();
        },
      ),
      { numRuns: dialect.name === 'postgres' ? 15 : 60 },
    );
  });

  it("a grid invitation is bound to the first key that uses it here, in the caller's transaction", async () => {
    const clock = manualClock(1_000);
    const db = await dialect.open({ now: clock.now });
    const id = 'ab'.repeat(16);
    const hex = (seed: number) => Buffer.from(publicKey(seed)).toString('hex');
    const [first, second] = [hex(1), hex(2)];
    // A failed creation leaves it unbound.
    await expect(
      db.transaction(async (tx) => {
        expect(await tx.bindGridInvitation(id, first)).toBe(true);
        throw new Error('creation failed');
      }),
    ).rejects.toThrow('creation failed');
    expect(await db.bindGridInvitation(id, second)).toBe(true);
    expect(await db.bindGridInvitation(id, second)).toBe(true);
    expect(await db.bindGridInvitation(id, first)).toBe(false);
    expect(await db.bindGridInvitation('cd'.repeat(16), first)).toBe(true);
    await expect(db.bindGridInvitation('not hex', first)).rejects.toThrow(TypeError);
    await expect(db.bindGridInvitation(id, 'AB'.repeat(32))).rejects.toThrow(TypeError);
  });

  it('accountsWithAttribute lists the accounts an attribute names, in id order', async () => {
    const clock = manualClock(1_000);
    const db = await dialect.open({ now: clock.now });
    const ids: number[] = [];
    for (const seed of [11, 12, 13]) {
      ids.push((await db.createAccount({ publicKey: publicKey(seed), nickname: `n${seed}` })).id);
    }
    await db.setAccountAttribute(ids[2]!, 'invited-by-account', '7');
    await db.setAccountAttribute(ids[0]!, 'invited-by-account', '7');
    await db.setAccountAttribute(ids[1]!, 'invited-by-account', '8');
    expect(await db.accountsWithAttribute('invited-by-account', '7')).toEqual([ids[0], ids[2]]);
    expect(await db.accountsWithAttribute('invited-by-account', '7', 1)).toEqual([ids[0]]);
    expect(await db.accountsWithAttribute('invited-by-account', '9')).toEqual([]);
    await expect(db.accountsWithAttribute('', '7')).rejects.toThrow(TypeError);
  });
});
