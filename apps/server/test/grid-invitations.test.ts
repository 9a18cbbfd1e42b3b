import { join } from 'node:path';
import { tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import { type GridNode, tahoeClientDir, threeNodeGrid } from './gsd-harness.js';
import { ostrom } from './helpers.js';

// Grid invitations end to end: three nodes over HTTPS, node-a holding the directory and its
// membership key; node-a and node-b honour grid invitations (mode required, manual approval),
// node-c does not (mode enabled, manual approval). One code from the directory's holder gives a
// new client active accounts on a and b at once, and none on c (refused, saying why); the same
// code with another key is refused where it was used.

/** node-a and node-b honour grid invitations (mode required); node-c does not. */
function grid() {
  return threeNodeGrid({
    fromEachNode: true,
    async before([a, b, c]) {
      for (const n of [a!, b!]) {
        await n.configure('mode', '"required"');
        await n.configure('honour_grid_invitations', 'true');
        await n.configure('grid_invitation_quota', '"3MB"');
      }
      await c!.configure('approval', '"manual"');
    },
  });
}

describe('grid invitations', () => {
  it('one code admits a person on every server that honours it, bound to their key', async () => {
    const { nodes, introduction } = await grid();
    const [a] = nodes as [GridNode];
    const invited = await a.cli(['gsd', 'invite', '--nickname', 'edgar', '--json']);
    expect(invited.code, invited.stderr).toBe(0);
    const { code } = JSON.parse(invited.stdout) as { code: string };
    expect(code).toMatch(/^ogi1-/);

    const io = { now: a.test.clock.now };
    const keys = new Map<string, string>();
    const join_ = async (name: string, invite = code) => {
      const home = await tempDir(`grid-invitation-${name}-`);
      keys.set(name, join(home, 'key'));
      return await ostrom(
        [
          'grid',
          'join',
          introduction,
          '--state',
          join(home, 'grid'),
          '--tahoe-dir',
          await tahoeClientDir(home),
          '--key',
          join(home, 'key'),
          '--nickname',
          name,
          '--invite',
          invite,
          '--json',
        ],
        io,
      );
    };
    const edgar = await join_('edgar');
    expect(edgar.code, edgar.stderr).toBe(0);
    const accounts = (
      JSON.parse(edgar.stdout) as {
        accounts: { petname: string; status: string; accountNurl?: string; reason?: string }[];
      }
    ).accounts;
    expect(accounts.map((x) => [x.petname, x.status])).toEqual([
      ['node-a', 'active'],
      ['node-b', 'active'],
      ['node-c', 'refused'],
    ]);
    // node-c did not opt in: no account there, and the client is told why.
    expect(accounts[2]!.reason).toBe('this server does not honour grid invitations');
    // The quota each honouring server gives such accounts, and the nickname the code names.
    const usage = JSON.parse(
      (await ostrom(['account', 'usage', accounts[1]!.accountNurl!, '--json'], io)).stdout,
    ) as { nickname: string; hardQuotaBytes: number; status: string };
    expect(usage).toEqual(
      expect.objectContaining({ nickname: 'edgar', status: 'normal', hardQuotaBytes: 3_000_000 }),
    );

    // Someone else with the same code: refused where edgar's key holds it.
    const other = await join_('mallory');
    expect(other.code, other.stderr).toBe(0);
    const refused = (
      JSON.parse(other.stdout) as {
        accounts: { petname: string; status: string; reason?: string }[];
      }
    ).accounts;
    expect(refused.map((x) => [x.petname, x.status])).toEqual([
      ['node-a', 'refused'],
      ['node-b', 'refused'],
      ['node-c', 'refused'],
    ]);
    expect(refused[0]!.reason).toBe('this grid invitation was used here with another key');
    // The digest says so on each honouring server.
    const events = JSON.parse((await a.cli(['events', '--json'])).stdout) as {
      kind: string;
      data: { reason?: string };
    }[];
    expect(
      events.some((e) => e.kind === 'invitation-refused' && e.data.reason === 'other-key'),
    ).toBe(true);

    // --- Members inviting members: node-a and node-b give edgar an invitation budget of 1.
    type Joined = {
      accounts: { petname: string; status: string; accountId?: number; reason?: string }[];
    };
    const edgarIds = (JSON.parse(edgar.stdout) as Joined).accounts.map((x) => x.accountId);
    for (const [i, n] of [nodes[0]!, nodes[1]!].entries()) {
      const set = await n.cli(['accounts', 'set-invitation-budget', String(edgarIds[i]), '1']);
      expect(set.code, set.stderr).toBe(0);
    }
    const signed = await ostrom(
      ['grid', 'invite', '--key', keys.get('edgar')!, '--nickname', 'frank', '--json'],
      io,
    );
    expect(signed.code, signed.stderr).toBe(0);
    const memberCode = (JSON.parse(signed.stdout) as { code: string }).code;
    expect(memberCode).toMatch(/^omi1-/);
    const frank = JSON.parse((await join_('frank', memberCode)).stdout) as Joined;
    expect(frank.accounts.map((x) => [x.petname, x.status])).toEqual([
      ['node-a', 'active'],
      ['node-b', 'active'],
      ['node-c', 'refused'],
    ]);
    expect(frank.accounts[2]!.reason).toBe('whoever signed this invitation has no account here');
    const shown = JSON.parse(
      (await a.cli(['accounts', 'show', String(frank.accounts[0]!.accountId), '--json'])).stdout,
    ) as { nickname: string; invitedBy: unknown };
    expect(shown).toMatchObject({
      nickname: 'frank',
      invitedBy: { kind: 'account', accountId: edgarIds[0], nickname: 'edgar' },
    });
    const edgarShown = JSON.parse(
      (await a.cli(['accounts', 'show', String(edgarIds[0]), '--json'])).stdout,
    ) as { invited: number[]; invitationBudget: number; invitedBy: { kind: string } };
    expect(edgarShown).toMatchObject({
      invited: [frank.accounts[0]!.accountId],
      invitationBudget: 1,
      invitedBy: { kind: 'grid' },
    });
    // Edgar's second invitation: over the budget each server gave.
    const second = JSON.parse(
      (await ostrom(['grid', 'invite', '--key', keys.get('edgar')!, '--json'], io)).stdout,
    ) as { code: string };
    const george = JSON.parse((await join_('george', second.code)).stdout) as Joined;
    expect(george.accounts.slice(0, 2).map((x) => [x.status, x.reason])).toEqual([
      ['refused', 'whoever signed this invitation has used every invitation this server gave them'],
      ['refused', 'whoever signed this invitation has used every invitation this server gave them'],
    ]);
    // Freezing edgar on node-a "and invitees" freezes frank there too, each logged.
    const froze = await a.cli([
      'accounts',
      'freeze',
      String(edgarIds[0]),
      '--and-invitees',
      '--reason',
      'spam',
      '--json',
    ]);
    expect(froze.code, froze.stderr).toBe(0);
    expect(
      (JSON.parse(froze.stdout) as { nickname: string; status: string }[]).map((x) => [
        x.nickname,
        x.status,
      ]),
    ).toEqual([
      ['edgar', 'frozen'],
      ['frank', 'frozen'],
    ]);
    const after = JSON.parse((await a.cli(['events', '--json'])).stdout) as {
      kind: string;
      accountId: number | null;
      data: { reason?: string };
    }[];
    expect(
      after.filter(
        (e) =>
          e.kind === 'account-status-changed' && e.data.reason?.includes('frozen with its inviter'),
      ),
    ).toHaveLength(1);
    for (const n of nodes) await n.stop();
  });
});
