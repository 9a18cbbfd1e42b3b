import { join } from 'node:path';
import { tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import { type GridNode, gridNodes, oneNodeGrid, tahoeClientDir } from './gsd-harness.js';
import { ostrom } from './helpers.js';

// Server invitations end to end, over HTTPS: the operator's `accounts invite`, a client's
// `account request --invite` and `grid join --invite` against a node in mode required with
// manual approval, the operator's list and revocation, and what a bad code gets.

describe('invitations', () => {
  it('a code makes an active account on a required node with manual approval; spent, revoked and bad codes are refused', async () => {
    const [a] = (await gridNodes(1, { mode: 'required' })) as [GridNode];
    await a.start();
    const home = await tempDir('invitations-');
    const io = { now: a.test.clock.now };
    const client = (args: string[]) => ostrom(args, io);

    const made = await a.cli([
      'accounts',
      'invite',
      '--nickname',
      'edgar',
      '--hard',
      '5MB',
      '--json',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const invitation = JSON.parse(made.stdout) as { id: number; code: string; maxUses: number };
    expect(invitation.code).toMatch(/^oi1-[a-z2-7]{26}-[a-z2-7]{6},pb:\/\//);
    expect(invitation.code).toContain(a.running!.nurl);
    // The code is shown once; the list has no secret.
    const listed = await a.cli(['accounts', 'invitations', '--json']);
    expect(listed.stdout).not.toContain(invitation.code.slice(4, 30));
    for (const shown of [made.stdout, listed.stdout]) expect(shown).not.toContain('secretHash');

    // The code alone is enough: it names the server.
    const key = join(home, 'edgar.key');
    const joined = await client([
      'account',
      'request',
      '--invite',
      invitation.code,
      '--key',
      key,
      '--json',
    ]);
    expect(joined.code, joined.stderr).toBe(0);
    const answer = JSON.parse(joined.stdout) as { status: string; accountId: number; nurl: string };
    expect(answer.status).toBe('active');
    const usage = JSON.parse(
      (await client(['account', 'usage', answer.nurl, '--json'])).stdout,
    ) as { nickname: string; status: string; hardQuotaBytes: number };
    expect(usage).toMatchObject({ nickname: 'edgar', status: 'normal', hardQuotaBytes: 5_000_000 });
    // The operator sees who brought the account in.
    const shown = await a.cli(['accounts', 'show', String(answer.accountId), '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      invitedBy: { kind: 'operator', invitationId: invitation.id, issuedBy: 'cli' },
    });
    expect((await a.cli(['accounts', 'show', String(answer.accountId)])).stdout).toMatch(
      /invited by\s*│\s*cli \(invitation \d+\)/,
    );

    // Spent: another person with the same code is refused, and told why (exit 1).
    const again = await client([
      'account',
      'request',
      '--invite',
      invitation.code,
      '--key',
      join(home, 'other.key'),
    ]);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('refused: this invitation has been used\n');
    const rows = JSON.parse((await a.cli(['accounts', 'invitations', '--json'])).stdout) as {
      id: number;
      uses: number;
      state: string;
    }[];
    expect(rows).toEqual([expect.objectContaining({ id: invitation.id, uses: 1, state: 'spent' })]);

    // Revoked before use: refused.
    const second = JSON.parse((await a.cli(['accounts', 'invite', '--json'])).stdout) as {
      id: number;
      code: string;
    };
    expect((await a.cli(['accounts', 'revoke-invitation', String(second.id)])).code).toBe(0);
    const revoked = await client([
      'account',
      'request',
      '--invite',
      second.code,
      '--key',
      join(home, 'third.key'),
    ]);
    expect(revoked.stdout).toBe('refused: this invitation was revoked\n');
    expect((await a.cli(['accounts', 'revoke-invitation', '999'])).code).toBe(1);

    // A code mistyped is caught before anything is sent (exit 2); one for another server too.
    const typo = `${second.code.slice(0, 10)}${second.code[10] === 'a' ? 'b' : 'a'}${second.code.slice(11)}`;
    const mistyped = await client(['account', 'request', '--invite', typo, '--key', key]);
    expect(mistyped.code).toBe(2);
    expect(mistyped.stderr).toMatch(/checksum does not match/);
    const elsewhere = await client([
      'account',
      'request',
      'pb://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@127.0.0.1:1/x#v=1',
      '--invite',
      second.code,
      '--key',
      key,
    ]);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toMatch(/for another server/);
    // Bad operator input: exit 2 with the reason.
    for (const args of [
      ['--uses', '0'],
      ['--expires', 'soon'],
      ['--hard', 'lots'],
    ]) {
      expect((await a.cli(['accounts', 'invite', ...args])).code, args.join(' ')).toBe(2);
    }
    // Events: issued, refused (spent, revoked), revoked.
    const events = JSON.parse((await a.cli(['events', '--json'])).stdout) as { kind: string }[];
    const kinds = events.map((e) => e.kind);
    expect(kinds.filter((k) => k === 'invitation-created')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'invitation-refused')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'invitation-revoked')).toHaveLength(1);
    await a.stop();
  });

  it('grid join --invite uses the code on its server and asks the others as usual', async () => {
    const { node: a, introduction } = await oneNodeGrid({ mode: 'required' });
    const { code } = JSON.parse((await a.cli(['accounts', 'invite', '--json'])).stdout) as {
      code: string;
    };
    const home = await tempDir('invitations-grid-');
    const tahoe = await tahoeClientDir(home);
    const joined = await ostrom(
      [
        'grid',
        'join',
        introduction,
        '--state',
        join(home, 'grid'),
        '--tahoe-dir',
        tahoe,
        '--key',
        join(home, 'k'),
        '--invite',
        code,
        '--json',
      ],
      { now: a.test.clock.now },
    );
    expect(joined.code, joined.stderr).toBe(0);
    const { accounts } = JSON.parse(joined.stdout) as { accounts: { status: string }[] };
    // Manual approval, yet active: the invitation did it.
    expect(accounts.map((x) => x.status)).toEqual(['active']);
    await a.stop();
  });
});
