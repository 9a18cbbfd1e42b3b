import { randomBytes } from 'node:crypto';
import { readAccountRecord } from '@ostrom/backend';
import {
  generateAccountKey,
  newGridInvitationId,
  parseGridInvitationCode,
  parseMemberInvitationCode,
  publicKeyFromPrivate,
  signAccountRequest,
  signGridInvitation,
  signMemberInvitation,
} from '@ostrom/protocol';
import { expect, it } from 'vitest';
import {
  buildDigest,
  GUESS_WINDOW_SECONDS,
  INVITED_BY_ACCOUNT,
  INVITED_BY_GRID_INVITATION,
  INVITED_BY_INVITATION,
  MAX_FAILED_REDEMPTIONS,
  MAX_REFUSAL_EVENTS,
} from '../src/index.js';
import { describeMatrix, makeWorld, SERVER_ID, STATE_KEY, type WorldOptions } from './setup.js';

// Server invitations through the accountant: a code's secret makes an active account at once
// (manual approval or not), with the invitation's quota and nickname, spending one use in the
// creating transaction; every refusal says why; guessing is bounded and logged.

function request(now: number, key = generateAccountKey().privateKey, nickname = 'edgar') {
  return signAccountRequest(
    {
      serverId: SERVER_ID,
      publicKey: publicKeyFromPrivate(key),
      nickname,
      timestamp: now,
      nonce: new Uint8Array(randomBytes(16)),
    },
    key,
  );
}

describeMatrix('invitations', (matrix) => {
  async function setup(options: WorldOptions = {}) {
    return await makeWorld(matrix, { approval: 'manual', mode: 'required', ...options });
  }

  it('an invitation makes an active account with its quota and nickname, once; the record says so', async () => {
    const { accountant, clock, db, backend } = await setup();
    const { invitation, secret } = await accountant.createInvitation({
      nickname: 'edgar (invited)',
      hardQuotaBytes: 5_000_000,
      softQuotaBytes: 4_000_000,
      expiresInSeconds: 7 * 86_400,
      actor: 'dave',
    });
    expect(invitation).toMatchObject({ uses: 0, maxUses: 1, createdBy: 'dave' });
    const first = await accountant.requestAccount(request(clock.now()), { invitation: secret });
    expect(first.status).toBe('active');
    if (first.status !== 'active') return;
    expect(first.account).toMatchObject({
      nickname: 'edgar (invited)',
      status: 'normal',
      hardQuotaBytes: 5_000_000,
      softQuotaBytes: 4_000_000,
    });
    expect(await db.getAccountAttributes(first.account.id)).toMatchObject({
      [INVITED_BY_INVITATION]: String(invitation.id),
    });
    // What a rebuild gives back: the account as the invitation made it.
    expect(await readAccountRecord(backend, STATE_KEY, first.account.id)).toMatchObject({
      nickname: 'edgar (invited)',
      status: 'normal',
      hardQuotaBytes: 5_000_000,
    });
    expect((await accountant.listInvitations())[0]).toMatchObject({ id: invitation.id, uses: 1 });
    // Spent: another key is refused, and without the code it would be pending.
    const second = await accountant.requestAccount(request(clock.now()), { invitation: secret });
    expect(second).toEqual({ status: 'refused', reason: 'this invitation has been used' });
    expect((await accountant.requestAccount(request(clock.now()))).status).toBe('pending');
  });

  it('the same key asking again keeps its account and spends nothing; a pending one is activated', async () => {
    const { accountant, clock } = await setup();
    const key = generateAccountKey().privateKey;
    const pending = await accountant.requestAccount(request(clock.now(), key));
    expect(pending.status).toBe('pending');
    const { invitation, secret } = await accountant.createInvitation({
      hardQuotaBytes: 1000,
      expiresInSeconds: 60,
      maxUses: 2,
      actor: 'cli',
    });
    const activated = await accountant.requestAccount(request(clock.now(), key), {
      invitation: secret,
    });
    expect(activated).toMatchObject({ status: 'active', account: { hardQuotaBytes: 1000 } });
    const again = await accountant.requestAccount(request(clock.now(), key), {
      invitation: secret,
    });
    expect(again.status).toBe('active');
    expect((await accountant.listInvitations())[0]).toMatchObject({ id: invitation.id, uses: 1 });
    // Its second use is another person's; a third is over its uses.
    const other = await accountant.requestAccount(request(clock.now()), { invitation: secret });
    expect(other).toMatchObject({ status: 'active', account: { hardQuotaBytes: 1000 } });
    expect(await accountant.requestAccount(request(clock.now()), { invitation: secret })).toEqual({
      status: 'refused',
      reason: 'this invitation has been used',
    });
  });

  it('refuses unknown, expired and revoked codes with the reason, spending nothing and making no account', async () => {
    const { accountant, clock, db } = await setup();
    const expiring = await accountant.createInvitation({ expiresInSeconds: 60, actor: 'cli' });
    const revoked = await accountant.createInvitation({ expiresInSeconds: 60, actor: 'cli' });
    await accountant.revokeInvitation(revoked.invitation.id, { actor: 'cli' });
    const accountsBefore = (await db.listAccounts()).total;
    const ask = (secret: Uint8Array) =>
      accountant.requestAccount(request(clock.now()), { invitation: secret });
    expect(await ask(new Uint8Array(randomBytes(16)))).toEqual({
      status: 'refused',
      reason: 'this invitation code is not one of this server’s',
    });
    expect(await ask(revoked.secret)).toEqual({
      status: 'refused',
      reason: 'this invitation was revoked',
    });
    clock.advance(60);
    expect(await ask(expiring.secret)).toEqual({
      status: 'refused',
      reason: 'this invitation has expired',
    });
    expect((await db.listAccounts()).total).toBe(accountsBefore);
    const refusals = await db.listEvents({ kinds: ['invitation-refused'] });
    expect(refusals.map((e) => e.data.reason).sort()).toEqual(['expired', 'revoked', 'unknown']);
    await expect(accountant.revokeInvitation(999)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it(`after ${MAX_FAILED_REDEMPTIONS} refused codes from one source, its codes are refused unread (429) until the window passes; other sources are not`, async () => {
    const { accountant, clock, db } = await setup();
    const good = await accountant.createInvitation({ expiresInSeconds: 86_400, actor: 'cli' });
    const other = await accountant.createInvitation({ expiresInSeconds: 86_400, actor: 'cli' });
    for (let i = 0; i < MAX_FAILED_REDEMPTIONS; i++) {
      const answer = await accountant.requestAccount(request(clock.now()), {
        invitation: new Uint8Array(randomBytes(16)),
        source: '203.0.113.7',
      });
      expect(answer.status).toBe('refused');
    }
    // Even a good code is not read from that source now: guessing costs nothing more there.
    await expect(
      accountant.requestAccount(request(clock.now()), {
        invitation: good.secret,
        source: '203.0.113.7',
      }),
    ).rejects.toMatchObject({
      code: 'TOO_MANY_ATTEMPTS',
      details: { retryAfterSeconds: GUESS_WINDOW_SECONDS },
    });
    const events = await db.listEvents({ kinds: ['invitation-refused'] });
    expect(events).toHaveLength(MAX_FAILED_REDEMPTIONS);
    expect(events.every((e) => e.data.source === '203.0.113.7')).toBe(true);
    // Another client's code is read as ever; a request without a code is not affected.
    expect(
      (
        await accountant.requestAccount(request(clock.now()), {
          invitation: other.secret,
          source: '198.51.100.2',
        })
      ).status,
    ).toBe('active');
    expect((await accountant.requestAccount(request(clock.now()))).status).toBe('pending');
    clock.advance(GUESS_WINDOW_SECONDS);
    expect(
      (
        await accountant.requestAccount(request(clock.now()), {
          invitation: good.secret,
          source: '203.0.113.7',
        })
      ).status,
    ).toBe('active');
  });

  it(`logs at most ${MAX_REFUSAL_EVENTS} refusals a window, whatever the sources`, async () => {
    const { accountant, clock, db } = await setup();
    for (let i = 0; i < MAX_REFUSAL_EVENTS + 10; i++) {
      await accountant.requestAccount(request(clock.now()), {
        invitation: new Uint8Array(randomBytes(16)),
        source: `192.0.2.${i}`,
      });
    }
    const events = await db.listEvents({ kinds: ['invitation-refused'], limit: 1000 });
    expect(events).toHaveLength(MAX_REFUSAL_EVENTS);
  });

  it('checks what it is given', async () => {
    const { accountant } = await setup();
    for (const input of [
      { expiresInSeconds: 0, actor: 'cli' },
      { expiresInSeconds: 400 * 86_400, actor: 'cli' },
      { expiresInSeconds: 60, maxUses: 0, actor: 'cli' },
      { expiresInSeconds: 60, hardQuotaBytes: 10, softQuotaBytes: 20, actor: 'cli' },
    ]) {
      await expect(accountant.createInvitation(input)).rejects.toThrow(RangeError);
    }
  });

  it('the digest says who invited whom, who joined with an invitation from whom, and what was refused', async () => {
    const { accountant, clock, db } = await setup();
    const since = clock.now();
    const edgar = await accountant.createInvitation({
      nickname: 'edgar',
      expiresInSeconds: 60,
      actor: 'dave',
    });
    const open = await accountant.createInvitation({ expiresInSeconds: 30, actor: 'carol' });
    // A pending request let in later by carol's invitation.
    const key = generateAccountKey().privateKey;
    await accountant.requestAccount(request(clock.now(), key, 'frank'));
    await accountant.requestAccount(request(clock.now()), { invitation: edgar.secret });
    await accountant.requestAccount(request(clock.now(), key, 'frank'), {
      invitation: open.secret,
    });
    await accountant.requestAccount(request(clock.now()), { invitation: edgar.secret });
    await accountant.requestAccount(request(clock.now()), {
      invitation: new Uint8Array(randomBytes(16)),
    });
    const { lines } = await buildDigest(db, { since, until: clock.now() + 1 });
    expect(lines).toEqual(
      expect.arrayContaining([
        'dave invited edgar',
        'carol issued an invitation',
        'edgar joined with an invitation from dave',
        'frank joined with an invitation from carol',
        'an invitation from dave was refused: spent',
        'an invitation code that is not one of this server’s was refused',
      ]),
    );
    // Not an operator's approval: the invitation let frank in.
    expect(lines.some((l) => /approved/.test(l))).toBe(false);
  });
});

describeMatrix('grid invitations', (matrix) => {
  const DIRECTORY = 'aaaaaaaaaaaaaaaaaaaaaaaaaa';
  const membership = generateAccountKey();

  async function setup(known: { key?: Uint8Array } = { key: membership.publicKey }, honour = true) {
    return await makeWorld(matrix, {
      approval: 'manual',
      mode: 'required',
      ...(honour
        ? {
            gridInvitations: {
              directory: DIRECTORY,
              membershipKey: () => known.key,
              hardQuotaBytes: 7000,
            },
          }
        : {}),
    });
  }
  const code = (
    over: Partial<{ directory: string; expires: number; nickname: string | null }> = {},
    seed = membership.privateKey,
  ) =>
    parseGridInvitationCode(
      signGridInvitation(
        {
          directory: DIRECTORY,
          id: newGridInvitationId(),
          nickname: 'edgar',
          expires: 1_900_000_000,
          ...over,
        },
        seed,
      ),
    ).bytes;

  it('a grid invitation makes an active account with the quota of the server, bound to the first key', async () => {
    const { accountant, clock, db } = await setup();
    const invitation = code();
    const key = generateAccountKey().privateKey;
    const first = await accountant.requestAccount(request(clock.now(), key), {
      gridInvitation: invitation,
    });
    expect(first).toMatchObject({
      status: 'active',
      account: { nickname: 'edgar', status: 'normal', hardQuotaBytes: 7000 },
    });
    if (first.status !== 'active') return;
    expect(await db.getAccountAttributes(first.account.id)).toHaveProperty(
      INVITED_BY_GRID_INVITATION,
    );
    // The same key again: its account. Another key: refused, whatever it asks.
    const again = await accountant.requestAccount(request(clock.now(), key), {
      gridInvitation: invitation,
    });
    expect(again).toMatchObject({ status: 'active', account: { id: first.account.id } });
    expect(
      await accountant.requestAccount(request(clock.now()), { gridInvitation: invitation }),
    ).toEqual({ status: 'refused', reason: 'this grid invitation was used here with another key' });
    const { lines } = await buildDigest(db, { since: 0, until: clock.now() + 1 });
    expect(lines).toContain('edgar joined with an invitation from the grid');
    expect(lines).toContain('a grid invitation was refused: other-key');
  });

  it('refuses another grid, another signer, an expired one, and when not honoured or no key is known', async () => {
    const { accountant, clock } = await setup();
    const ask = (bytes: Uint8Array) =>
      accountant.requestAccount(request(clock.now()), { gridInvitation: bytes });
    expect(await ask(code({ directory: 'bbbbbbbbbbbbbbbbbbbbbbbbbb' }))).toEqual({
      status: 'refused',
      reason: 'this grid invitation is for another grid',
    });
    expect(await ask(code({}, generateAccountKey().privateKey))).toEqual({
      status: 'refused',
      reason: 'this grid invitation is not signed by the grid’s membership key',
    });
    expect(await ask(code({ expires: clock.now() }))).toEqual({
      status: 'refused',
      reason: 'this invitation has expired',
    });
    const unknown = await setup({});
    expect(
      await unknown.accountant.requestAccount(request(unknown.clock.now()), {
        gridInvitation: code(),
      }),
    ).toMatchObject({ status: 'refused', reason: expect.stringMatching(/membership key yet/) });
    const off = await setup(undefined, false);
    expect(
      await off.accountant.requestAccount(request(off.clock.now()), { gridInvitation: code() }),
    ).toEqual({ status: 'refused', reason: 'this server does not honour grid invitations' });
  });
});

describeMatrix("members' invitations", (matrix) => {
  it('a member with a budget invites that many; unknown, inactive, unbudgeted and expired are refused; freezing follows the chain', async () => {
    const { accountant, clock, db } = await makeWorld(matrix, { approval: 'manual' });
    const edgarKey = generateAccountKey();
    const edgar = await accountant.addAccount({ publicKey: edgarKey.publicKey, nickname: 'edgar' });
    const invite = (seed = edgarKey.privateKey, over: { expires?: number } = {}) =>
      parseMemberInvitationCode(
        signMemberInvitation(
          { id: newGridInvitationId(), nickname: null, expires: 1_900_000_000, ...over },
          seed,
        ),
      ).bytes;
    const ask = (bytes: Uint8Array, key = generateAccountKey().privateKey) =>
      accountant.requestAccount(request(clock.now(), key, 'carol'), { memberInvitation: bytes });
    // No budget yet; a stranger's key; an expired one.
    expect(await ask(invite())).toMatchObject({
      status: 'refused',
      reason: expect.stringMatching(/may not invite/),
    });
    expect(await ask(invite(generateAccountKey().privateKey))).toMatchObject({
      reason: expect.stringMatching(/no account here/),
    });
    await accountant.setInvitationBudget(edgar.id, 1, { actor: 'operator' });
    expect(await ask(invite(edgarKey.privateKey, { expires: clock.now() }))).toMatchObject({
      reason: 'this invitation has expired',
    });
    const frankKey = generateAccountKey().privateKey;
    const frank = await ask(invite(), frankKey);
    expect(frank).toMatchObject({ status: 'active', account: { status: 'normal' } });
    if (frank.status !== 'active') return;
    expect(await db.getAccountAttributes(frank.account.id)).toMatchObject({
      [INVITED_BY_ACCOUNT]: String(edgar.id),
    });
    // Over budget now.
    expect(await ask(invite())).toMatchObject({
      reason: expect.stringMatching(/used every invitation/),
    });
    // Frank, with a budget of his own, invites george: the chain is two long.
    await accountant.setInvitationBudget(frank.account.id, 1);
    const george = await ask(invite(frankKey));
    expect(george.status).toBe('active');
    const { lines } = await buildDigest(db, { since: 0, until: clock.now() + 1 });
    expect(lines).toContain('carol joined with an invitation from edgar');
    expect(lines).toContain('an invitation from edgar was refused: over-budget');
    expect(lines).toContain('an invitation from someone unknown here was refused: unknown-inviter');
    // Freezing edgar with his invitees freezes frank and george, each with the reason.
    const frozen = await accountant.freezeWithInvitees(edgar.id, {
      actor: 'operator',
      reason: 'spam',
    });
    expect(frozen.map((a) => a.id)).toEqual([
      edgar.id,
      frank.account.id,
      george.status === 'active' ? george.account.id : -1,
    ]);
    // A frozen inviter invites no one.
    await accountant.setInvitationBudget(edgar.id, 5);
    expect(await ask(invite())).toMatchObject({ reason: expect.stringMatching(/not active/) });
  });
});
