import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  connectSlotServer,
  parseIntroduction,
  parseReadCap,
  parseWriteCap,
  updateDocument,
} from '@ostrom/gsd-client';
import {
  base32Decode,
  base32Encode,
  parseGridInvitationCode,
  publicKeyFromPrivate,
  verifyGridInvitation,
} from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import { loadNode, PRIVATE_FILES } from '../src/node-dir.js';
import { createNodeGsd, nodeDirectorySlots } from '../src/node-gsd.js';
import { type GridNode, gridNodes, threeNodeGrid } from './gsd-harness.js';

// The grid's membership key (issue 25): `gsd create` makes it and publishes its public half in
// the directory, every node of the grid reads it from there, `gsd membership-key` publishes it
// in a directory made before, and `gsd invite` signs grid invitations with it, on the node
// holding the directory only.

const DAY = 86_400;

/** One line on stderr, nothing on stdout. */
function oneLine(result: { stdout: string; stderr: string }): string {
  const lines = result.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('(add --help'));
  expect(lines).toHaveLength(1);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stdout).toBe('');
  return lines[0]!;
}

/** The public key of the seed a node keeps in private/gsd-membership.key, base32. */
async function keptKey(node: GridNode): Promise<string> {
  const seed = base32Decode(
    (await readFile(join(node.dir, PRIVATE_FILES.gsdMembership), 'utf8')).trim(),
  );
  expect(seed).toHaveLength(32);
  return base32Encode(publicKeyFromPrivate(seed!));
}

interface InviteJson {
  code: string;
  id: string;
  nickname: string | null;
  expires: number;
  directory: string;
}

describe('the grid membership key', () => {
  it('gsd create publishes it; every node reads it; gsd invite signs codes that verify under it', async () => {
    const { nodes, introduction } = await threeNodeGrid();
    const [a, b] = nodes as [GridNode, GridNode, GridNode];
    try {
      const key = await keptKey(a);
      expect((await stat(join(a.dir, PRIVATE_FILES.gsdMembership))).mode & 0o777).toBe(0o600);
      for (const n of nodes) {
        expect(n.running!.gsd.status().directory?.membershipKey).toBe(key);
      }
      // Published already: membership-key prints it and writes nothing.
      const shown = await a.cli(['gsd', 'membership-key', '--json']);
      expect(shown.code).toBe(0);
      expect(JSON.parse(shown.stdout)).toMatchObject({
        membershipKey: key,
        created: false,
        changed: false,
      });
      expect((await a.cli(['gsd', 'membership-key'])).stdout).toBe(`${key}\n`);

      const directory = parseReadCap(parseIntroduction(introduction).readcap).storageIndex;
      const invited = await a.cli(['gsd', 'invite', '--nickname', 'alice', '--json']);
      expect(invited.code).toBe(0);
      const json = JSON.parse(invited.stdout) as InviteJson;
      expect(json).toMatchObject({
        nickname: 'alice',
        expires: a.test.clock.now() + 30 * DAY,
        directory,
      });
      const signed = parseGridInvitationCode(json.code);
      expect(signed.invitation).toEqual({
        directory,
        id: base32Decode(json.id),
        nickname: 'alice',
        expires: json.expires,
      });
      expect(verifyGridInvitation(signed, base32Decode(key)!)).toBe(true);

      // Without a nickname, for a week; each code has an id of its own.
      const week = JSON.parse(
        (await a.cli(['gsd', 'invite', '--expires', '7d', '--json'])).stdout,
      ) as InviteJson;
      expect(week).toMatchObject({ nickname: null, expires: a.test.clock.now() + 7 * DAY });
      expect(week.id).not.toBe(json.id);
      expect(verifyGridInvitation(parseGridInvitationCode(week.code), base32Decode(key)!)).toBe(
        true,
      );
      const human = await a.cli(['gsd', 'invite']);
      expect(human.code).toBe(0);
      expect(human.stdout.trim().split('\n').at(-1)).toMatch(/^ogi1-[a-z2-7]+-[a-z2-7]{6}$/);

      // A node without the directory's writecap signs nothing.
      const refused = await b.cli(['gsd', 'invite']);
      expect(refused.code).toBe(1);
      expect(oneLine(refused)).toMatch(/^ostrom: this node holds no grid service directory/);
      expect((await b.cli(['gsd', 'membership-key'])).code).toBe(1);
    } finally {
      for (const n of nodes) await n.stop();
    }
  });

  it('gsd invite: a bad --expires or --nickname is exit 2, one line', async () => {
    const [a] = (await gridNodes(1)) as [GridNode];
    for (const args of [
      ['--expires', '366d'],
      ['--expires', 'soon'],
      ['--expires', '0s'],
      ['--nickname', ''],
      ['--nickname', 'x'.repeat(65)],
      ['--nickname', 'tab\there'],
    ]) {
      const result = await a.cli(['gsd', 'invite', ...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(oneLine(result)).toMatch(/^error: option/);
    }
  });

  it('gsd membership-key publishes a key in a directory made without one; gsd invite needs it', async () => {
    const [a] = (await gridNodes(1)) as [GridNode];
    await a.start();
    try {
      const created = await a.cli(['gsd', 'create', '--json']);
      expect(created.code).toBe(0);
      const { membershipKey, introduction } = JSON.parse(created.stdout) as {
        membershipKey: string;
        introduction: string;
      };
      expect(membershipKey).toBe(await keptKey(a));
      await a.configure('introduction', JSON.stringify(introduction));
      await a.stop();
      await a.start();

      // As a directory made before membership keys: no key in it, none kept.
      const writecap = (await readFile(join(a.dir, PRIVATE_FILES.gsdDirectory), 'utf8')).trim();
      const server = connectSlotServer(a.running!.nurl);
      try {
        const old = await updateDocument([server], writecap, 'directory', (current) => ({
          announcements: current!.body.announcements,
        }));
        expect(old.written).toHaveLength(1);
      } finally {
        server.close();
      }
      await rm(join(a.dir, PRIVATE_FILES.gsdMembership));
      await a.running!.gsd.check();
      expect(a.running!.gsd.status().directory).toMatchObject({ seqnum: 2, membershipKey: null });

      const refused = await a.cli(['gsd', 'invite']);
      expect(refused.code).toBe(1);
      expect(oneLine(refused)).toMatch(/no membership key.*ostrom gsd membership-key/);

      const made = await a.cli(['gsd', 'membership-key', '--json']);
      expect(made.code).toBe(0);
      const json = JSON.parse(made.stdout) as Record<string, unknown>;
      const key = await keptKey(a);
      expect(json).toMatchObject({ membershipKey: key, created: true, changed: true, seqnum: 3 });
      expect(json.written).toEqual([a.running!.nurl]);
      await a.running!.gsd.check();
      expect(a.running!.gsd.status().directory).toMatchObject({ seqnum: 3, membershipKey: key });

      const code = JSON.parse((await a.cli(['gsd', 'invite', '--json'])).stdout).code as string;
      const signed = parseGridInvitationCode(code);
      expect(signed.invitation.directory).toBe(parseWriteCap(writecap).storageIndex);
      expect(verifyGridInvitation(signed, base32Decode(key)!)).toBe(true);

      // The node's slots (what the accountant is given) learn it through the grid member's
      // onDirectory, as server.ts wires them.
      const node = await loadNode(a.dir);
      const slots = await nodeDirectorySlots(node);
      expect(slots.membershipKey()).toBeUndefined();
      const member = createNodeGsd({
        node,
        nurl: a.running!.nurl,
        furl: a.running!.furl,
        availableSpace: async () => 0,
        now: a.test.clock.now,
        every: () => () => undefined,
        slots,
      });
      await member.check();
      await member.stop();
      expect(base32Encode(slots.membershipKey()!)).toBe(key);
      // A directory read without one: none (what it listed is replaced too).
      slots.listed({ announcements: [], membershipKey: undefined });
      expect(slots.membershipKey()).toBeUndefined();
    } finally {
      await a.stop();
    }
  });
});
