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
    const join_ = async (name: string) => {
      const home = await tempDir(`grid-invitation-${name}-`);
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
          code,
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
    for (const n of nodes) await n.stop();
  });
});
