import { randomBytes } from 'node:crypto';
import { encodeCbor } from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import { bytes, startServer, storageIndex, uploadShare } from '../http-setup.js';
import { expectBounded, startHostileNode, underAttack } from './hostile-node.js';

// Attack: anyone holding the node's anonymous NURL sets the lease duration of every anonymous
// client (`PUT /accounting/v1/lease-duration` on the anonymous account): one request makes all
// anonymous leases last a day, or five years.
// Expected: 403, nothing recorded; the anonymous account's leases keep the node's duration
// (its configuration); an account of one's own still sets its own.

const DAY = 86_400;

describe('hostile: the shared accounts cannot be changed through the API', () => {
  for (const mode of ['enabled', 'disabled'] as const) {
    it(`mode ${mode}: PUT /lease-duration with the anonymous NURL is 403 and changes nothing`, async () => {
      const t = await startServer({ mode });
      const anonymous = t.client();
      for (const seconds of [DAY, 5 * 365 * DAY]) {
        const res = await anonymous.raw({
          method: 'PUT',
          path: '/accounting/v1/lease-duration',
          body: encodeCbor({ seconds }),
        });
        expect(res.status).toBe(403);
      }
      expect(await t.db.getAccountAttributes(0)).toEqual({});
      expect((await anonymous.accounting.getAccount()).leaseDurationSeconds).toBe(31 * DAY);
      const si = storageIndex(`shared-${mode}`);
      await uploadShare(anonymous, si, bytes(10));
      expect((await t.db.listLeases(si, 0))[0]?.expiresAt).toBe(t.clock.now() + 31 * DAY);
    });
  }

  it('an account of its own still sets its own lease duration (200)', async () => {
    const t = await startServer();
    const alice = await t.accountant.addAccount({ publicKey: randomBytes(32), nickname: 'alice' });
    expect(await t.client(alice.id).accounting.setLeaseDuration(10 * DAY)).toBe(10 * DAY);
    expect((await t.client().accounting.getAccount()).leaseDurationSeconds).toBe(31 * DAY);
  });

  it('measured on a node of its own: 300 PUTs of the anonymous lease duration are 403, within the suite bounds', async () => {
    const node = await startHostileNode();
    const anonymous = node.client();
    const { result, figures } = await underAttack(node, async () => {
      const statuses: number[] = [];
      for (let round = 0; round < 100; round++) {
        const answers = await Promise.all(
          [1, 31, 5 * 365].map((days) =>
            anonymous.raw({
              method: 'PUT',
              path: '/accounting/v1/lease-duration',
              body: encodeCbor({ seconds: days * DAY }),
            }),
          ),
        );
        statuses.push(...answers.map((answer) => answer.status));
      }
      return statuses;
    });
    expectBounded(figures);
    expect(result).toHaveLength(300);
    expect(new Set(result)).toEqual(new Set([403]));
    expect((await anonymous.accounting.getAccount()).leaseDurationSeconds).toBe(31 * DAY);
    const account = await node.admin<{ attributes: unknown }>('GET', '/admin/v1/accounts/0');
    expect(account.attributes).toEqual({});
  }, 60_000);
});
