import { randomBytes } from 'node:crypto';
import { MAX_INVITATION_SECONDS } from '@ostrom/accountant';
import { MAX_INVITATION_USES } from '@ostrom/leasedb';
import {
  generateAccountKey,
  invitationSecretHash,
  parseInvitation,
  signAccountRequest,
} from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import { ADMIN_ACTOR } from '../src/admin/handler.js';
import { type AdminServer, startAdminServer } from './admin-setup.js';
import { SERVER_ID } from './http-setup.js';

// The operator's invitations through the admin API over HTTPS: issued with a code (shown in that
// answer only), listed with their state, revoked; bad bodies and ids refused with a reason; and
// the secret's hash in no answer at all.

/** Redeems `code` for a new key, as a client's account request with `--invite` does. */
async function redeem(t: AdminServer, code: string) {
  const key = generateAccountKey();
  const request = signAccountRequest(
    {
      serverId: SERVER_ID,
      publicKey: key.publicKey,
      nickname: 'guest',
      timestamp: t.clock.now(),
      nonce: new Uint8Array(randomBytes(16)),
    },
    key.privateKey,
  );
  return await t.accountant.requestAccount(request, { invitation: parseInvitation(code).secret });
}

/** Every answer's text must hold neither the field nor any stored hash. */
async function expectNoHash(t: AdminServer, answers: readonly unknown[]) {
  const hashes = (await t.db.listInvitations()).map((row) => row.secretHash);
  expect(hashes.length).toBeGreaterThan(0);
  for (const answer of answers) {
    const text = JSON.stringify(answer);
    expect(text).not.toContain('secretHash');
    for (const hash of hashes) expect(text).not.toContain(hash);
  }
}

describe('admin API: invitations', () => {
  it('POST /admin/v1/invitations issues one (201) with its code, bound to the anonymous NURL, its actor recorded', async () => {
    const t = await startAdminServer({ approval: 'manual' });
    const res = await t.call('POST', '/admin/v1/invitations', {
      body: {
        nickname: 'edgar',
        hardQuotaBytes: '10MB',
        softQuotaBytes: 8_000_000,
        expiresInSeconds: 3600,
        maxUses: 2,
      },
      headers: { 'X-Ostrom-Actor': 'carol' },
    });
    expect(res.status).toBe(201);
    const now = t.clock.now();
    expect(res.json).toMatchObject({
      id: 1,
      nickname: 'edgar',
      hardQuotaBytes: 10_000_000,
      softQuotaBytes: 8_000_000,
      maxUses: 2,
      uses: 0,
      createdAt: now,
      expiresAt: now + 3600,
      revokedAt: null,
      createdBy: 'carol',
      state: 'open',
    });
    const parsed = parseInvitation(res.json.code);
    expect(parsed.nurl).toBe(t.nurl(0));
    // The code's secret is the one whose hash the database keeps.
    const [stored] = await t.db.listInvitations();
    expect(stored!.secretHash).toBe(invitationSecretHash(parsed.secret));
    const events = (await t.call('GET', '/admin/v1/events?kinds=invitation-created')).json.events;
    expect(events.map((e: { actor: string }) => e.actor)).toEqual(['carol']);

    // The code works: an active account at once, with the invitation's quota and nickname.
    const outcome = await redeem(t, res.json.code);
    expect(outcome).toMatchObject({
      status: 'active',
      account: { nickname: 'edgar', hardQuotaBytes: 10_000_000 },
    });
    await expectNoHash(t, [res.json]);
    // The account says where it came from.
    if (outcome.status !== 'active') return;
    const shown = await t.call('GET', `/admin/v1/accounts/${outcome.account.id}`);
    expect(shown.json).toMatchObject({
      invitedBy: { kind: 'operator', invitationId: res.json.id, issuedBy: 'carol' },
      invited: [],
      invitationBudget: null,
    });
  });

  it('an empty body takes the defaults: one use, a week, no quota, no nickname, ADMIN_ACTOR', async () => {
    const t = await startAdminServer();
    for (const init of [{}, { body: {} }]) {
      const res = await t.call('POST', '/admin/v1/invitations', init);
      expect(res.status).toBe(201);
      expect(res.json).toMatchObject({
        nickname: null,
        hardQuotaBytes: null,
        softQuotaBytes: null,
        maxUses: 1,
        expiresAt: t.clock.now() + 7 * 86_400,
        createdBy: ADMIN_ACTOR,
        state: 'open',
      });
    }
  });

  it('GET /admin/v1/invitations lists them newest first with their state: open, spent, expired, revoked', async () => {
    const t = await startAdminServer();
    const issue = async (body: object) => {
      const res = await t.call('POST', '/admin/v1/invitations', { body });
      expect(res.status).toBe(201);
      return res.json as { id: number; code: string };
    };
    const spent = await issue({ nickname: 'spent' });
    const expiring = await issue({ nickname: 'expiring', expiresInSeconds: 60 });
    const revoked = await issue({ nickname: 'revoked' });
    const open = await issue({ nickname: 'open', maxUses: 3 });
    expect((await redeem(t, spent.code)).status).toBe('active');
    expect((await redeem(t, open.code)).status).toBe('active');
    const revoking = await t.call('POST', `/admin/v1/invitations/${revoked.id}/revoke`);
    expect(revoking.status).toBe(200);
    expect(revoking.json).toMatchObject({ id: revoked.id, state: 'revoked' });
    expect(revoking.json.revokedAt).toBe(t.clock.now());
    t.clock.advance(60);

    const list = await t.call('GET', '/admin/v1/invitations');
    expect(list.status).toBe(200);
    expect(
      list.json.invitations.map((i: { id: number; state: string; uses: number }) => [
        i.id,
        i.state,
        i.uses,
      ]),
    ).toEqual([
      [open.id, 'open', 1],
      [revoked.id, 'revoked', 0],
      [expiring.id, 'expired', 0],
      [spent.id, 'spent', 1],
    ]);
    // No answer carries a code but the one that issued it.
    expect(JSON.stringify(list.json)).not.toContain(open.code.slice(4, 30));
    expect((await t.call('GET', '/admin/v1/invitations?state=open')).status).toBe(400);
    await expectNoHash(t, [list.json, revoking.json]);
  });

  it('revoking: the code makes no more accounts, a second revoke answers the row again, an unknown id is 404, a malformed one 400', async () => {
    const t = await startAdminServer();
    const made = (await t.call('POST', '/admin/v1/invitations', { body: { maxUses: 5 } })).json;
    const first = await t.call('POST', `/admin/v1/invitations/${made.id}/revoke`, {
      headers: { 'X-Ostrom-Actor': 'carol' },
    });
    expect([first.status, first.json.state]).toEqual([200, 'revoked']);
    const events = (await t.call('GET', '/admin/v1/events?kinds=invitation-revoked')).json.events;
    expect(events.map((e: { actor: string }) => e.actor)).toEqual(['carol']);
    expect((await redeem(t, made.code)).status).toBe('refused');
    const again = await t.call('POST', `/admin/v1/invitations/${made.id}/revoke`, { body: {} });
    expect([again.status, again.json.revokedAt]).toEqual([200, first.json.revokedAt]);

    const unknown = await t.call('POST', '/admin/v1/invitations/999/revoke');
    expect(unknown.status).toBe(404);
    for (const id of ['x', '-1', '1.5', '%31', '9'.repeat(16)]) {
      const res = await t.call('POST', `/admin/v1/invitations/${id}/revoke`);
      expect([res.status, res.json.error], id).toEqual([
        400,
        'the invitation id must be a non-negative integer',
      ]);
    }
    const withBody = await t.call('POST', `/admin/v1/invitations/${made.id}/revoke`, {
      body: { reason: 'leaked' },
    });
    expect([withBody.status, withBody.json.error]).toEqual([400, 'unknown field "reason"']);
    const wrongMethod = await t.call('DELETE', `/admin/v1/invitations/${made.id}`);
    expect(wrongMethod.status).toBe(404);
    const getRevoke = await t.call('GET', `/admin/v1/invitations/${made.id}/revoke`);
    expect([getRevoke.status, getRevoke.headers.allow]).toEqual([405, 'POST']);
  });

  it('refuses a bad body with 400 and its reason, issuing nothing', async () => {
    const t = await startAdminServer();
    const uses = `maxUses must be a whole number from 1 to ${MAX_INVITATION_USES}`;
    const expires = `expiresInSeconds must be a whole number from 1 to ${MAX_INVITATION_SECONDS}`;
    const cases: [unknown, unknown][] = [
      [{ uses: 1 }, 'unknown field "uses"'],
      [{ nickname: 'edgar', hardBytes: 1 }, 'unknown field "hardBytes"'],
      [{ maxUses: -1 }, uses],
      [{ maxUses: 0 }, uses],
      [{ maxUses: 1.5 }, uses],
      [{ maxUses: '2' }, uses],
      [{ maxUses: null }, uses],
      [{ maxUses: MAX_INVITATION_USES + 1 }, uses],
      [{ expiresInSeconds: 0 }, expires],
      [{ expiresInSeconds: -60 }, expires],
      [{ expiresInSeconds: MAX_INVITATION_SECONDS + 1 }, expires],
      [{ expiresInSeconds: '7d' }, expires],
      [
        { hardQuotaBytes: '1MB', softQuotaBytes: '2MB' },
        'softQuotaBytes must not exceed hardQuotaBytes',
      ],
      [
        { hardQuotaBytes: 'lots' },
        'hardQuotaBytes: expected bytes, a size such as "5GB", or null for none',
      ],
      [
        { hardQuotaBytes: -1 },
        'hardQuotaBytes: expected bytes, a size such as "5GB", or null for none',
      ],
      [{ nickname: '' }, expect.stringMatching(/^nickname must be /)],
      [{ nickname: 'a\nb' }, expect.stringMatching(/^nickname must be /)],
      [{ nickname: 7 }, expect.stringMatching(/^nickname must be /)],
      [[], 'expected a JSON object, not an array'],
      ['edgar', 'expected a JSON object, not a string'],
    ];
    for (const [body, reason] of cases) {
      const res = await t.call('POST', '/admin/v1/invitations', { body });
      expect([res.status, res.json.error], JSON.stringify(body)).toEqual([400, reason]);
    }
    const typed = await t.call('POST', '/admin/v1/invitations', {
      raw: '{}',
      headers: { 'Content-Type': 'text/plain' },
    });
    expect(typed.status).toBe(415);
    expect((await t.call('POST', '/admin/v1/invitations?x=1', { body: {} })).status).toBe(400);
    expect(await t.db.listInvitations()).toEqual([]);
  });

  it('needs the bearer token like every route', async () => {
    const t = await startAdminServer();
    for (const [method, path] of [
      ['GET', '/admin/v1/invitations'],
      ['POST', '/admin/v1/invitations'],
      ['POST', '/admin/v1/invitations/1/revoke'],
    ] as const) {
      const res = await t.call(method, path, { token: null });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
    expect(await t.db.listInvitations()).toEqual([]);
  });
});
