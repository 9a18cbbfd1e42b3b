import { join } from 'node:path';
import type { ShareBackend } from '@ostrom/backend';
import {
  createWriteCap,
  decodeSlotData,
  encodeSlotData,
  parseIntroduction,
  parseReadCap,
  parseWriteCap,
  readCapOf,
  sealDocument,
} from '@ostrom/gsd-client';
import { decodeCbor, encodeCbor } from '@ostrom/protocol';
import { tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import { type GridNode, gridServers, NO_CHANGE, threeNodeGrid } from './gsd-harness.js';
import { ostrom } from './helpers.js';

// A storage server is not trusted with the directory: it may serve an old copy (rollback), a
// document it made up (signed by another key), or a copy it tampered with. Each is planted here
// straight into one node's store, under the slot the directory lives in, as a misbehaving
// server would serve it; the client detects it, says so, and goes on with what it knew.

/** Share 0 of a slot, as the node's store holds it. */
async function shareOf(backend: ShareBackend, si: string): Promise<Uint8Array> {
  return await backend.readShare(si, 0, 0, 1 << 20);
}

/** Replaces share 0 of a slot behind the node's back (keeping its write enabler). */
async function plant(backend: ShareBackend, si: string, data: Uint8Array): Promise<void> {
  const meta = await backend.getShareMeta(si, 0);
  await backend.writeMutable(si, 0, {
    writeEnabler: meta!.writeEnabler!,
    writes: [{ offset: 0, data }],
    newLength: data.length,
  });
}

async function joined(introduction: string): Promise<string> {
  const state = join(await tempDir('gsd-attack-'), 'grid');
  const result = await ostrom(['grid', 'join', introduction, '--state', state, '--json']);
  if (result.code !== 0) throw new Error(`grid join: ${result.stderr}`);
  return state;
}

describe('grid service directory: a misbehaving server', () => {
  it('replaying an old directory is detected and ignored, and the holder repairs it', async () => {
    const { nodes, introduction } = await threeNodeGrid();
    const [a, b, c] = nodes as [GridNode, GridNode, GridNode];
    const { readcap } = parseIntroduction(introduction);
    const si = parseReadCap(readcap).storageIndex;
    const storeB = await b.test.openBackend();
    const old = await shareOf(storeB, si);
    expect(decodeSlotData(old).seqnum).toBe(4); // created, then three announcements added

    const state = await joined(introduction);
    expect((await gridServers(state)).seqnum).toBe(4);
    expect((await a.cli(['gsd', 'remove-announcement', 'node-c'])).code).toBe(0);
    const removal = await gridServers(state);
    expect(removal.seqnum).toBe(5);
    expect(removal.changes).toEqual({ added: [], removed: ['node-c'], updated: [] });

    // Node b serves the directory of before the removal again.
    await plant(storeB, si, old);
    const replayed = await gridServers(state);
    expect(replayed.seqnum).toBe(5);
    expect(replayed.changes).toEqual(NO_CHANGE);
    expect(replayed.problems).toContainEqual(
      expect.objectContaining({ nurl: b.running!.nurl, code: 'ROLLBACK' }),
    );
    // Even when it is the only server answering: node c does not come back.
    await a.stop();
    await c.stop();
    const alone = await gridServers(state);
    expect(alone.seqnum).toBe(5);
    expect(alone.servers.map((s) => s.petname)).toEqual(['node-a', 'node-b']);
    expect(alone.changes.added).toEqual([]);
    expect(alone.problems).toContainEqual(
      expect.objectContaining({ nurl: b.running!.nurl, code: 'ROLLBACK' }),
    );

    // The directory's holder finds b's copy stale at its next check and copies the newest there.
    await a.start();
    await a.running!.gsd.check();
    expect(a.running!.gsd.status().directoryWriter!.lastCopy?.to).toEqual([b.running!.nurl]);
    expect(decodeSlotData(await shareOf(storeB, si)).seqnum).toBe(5);
    await a.stop();
    const repaired = await gridServers(state);
    expect(repaired.problems.filter((p) => p.code === 'ROLLBACK')).toEqual([]);
  });

  it('a document signed by another key, or a tampered one, is refused and ignored', async () => {
    const { nodes, introduction } = await threeNodeGrid();
    const [a, b, c] = nodes as [GridNode, GridNode, GridNode];
    const { readcap } = parseIntroduction(introduction);
    const cap = parseReadCap(readcap);
    const storeB = await b.test.openBackend();
    const state = await joined(introduction);
    const before = await gridServers(state);
    expect(before.servers.map((s) => s.petname)).toEqual(['node-a', 'node-b', 'node-c']);

    // A directory listing a server of the attacker's, with a seqnum far ahead, signed by another
    // key: once naming that key (refused: not the readcap's key), once naming the directory's own
    // verifying key (refused: the signature does not verify).
    const other = parseWriteCap(createWriteCap());
    const otherKey = parseReadCap(other.readcap).verifyingKey;
    const rogue = { announcements: [{ readcap: readCapOf(createWriteCap()), petname: 'rogue' }] };
    const forgeries = [
      { seed: other.seed, verifyingKey: otherKey, readKey: cap.readKey },
      { seed: other.seed, verifyingKey: cap.verifyingKey, readKey: cap.readKey },
    ];
    for (const keys of forgeries) {
      const document = sealDocument(keys, 'directory', 99, 1_800_000_000, rogue);
      await plant(storeB, cap.storageIndex, encodeSlotData(99, document));
      const seen = await gridServers(state);
      expect(seen.seqnum).toBe(4);
      expect(seen.changes).toEqual(NO_CHANGE);
      expect(seen.problems).toContainEqual(
        expect.objectContaining({ nurl: b.running!.nurl, code: 'BAD_DOCUMENT' }),
      );
    }
    const problems = (await gridServers(state)).problems.map((p) => p.problem).join(' / ');
    expect(problems).toMatch(/signature does not verify/);

    // The real directory with one byte of its ciphertext changed (the signature covers it).
    const genuine = await shareOf(await a.test.openBackend(), cap.storageIndex);
    const { seqnum, document } = decodeSlotData(genuine);
    const fields = decodeCbor(document) as Map<string, unknown>;
    const ciphertext = new Uint8Array(fields.get('ciphertext') as Uint8Array);
    ciphertext[3]! ^= 0x01;
    fields.set('ciphertext', ciphertext);
    await plant(storeB, cap.storageIndex, encodeSlotData(seqnum + 1, encodeCbor(fields)));
    const tampered = await gridServers(state);
    expect(tampered.changes).toEqual(NO_CHANGE);
    expect(tampered.problems).toContainEqual(
      expect.objectContaining({ nurl: b.running!.nurl, code: 'BAD_DOCUMENT' }),
    );

    // A tampered announcement: node c's, planted on b, while c itself is down.
    await c.stop();
    const annReadcap = (
      JSON.parse((await c.cli(['gsd', 'announcement', '--json'])).stdout) as {
        readcap: string;
      }
    ).readcap;
    const annSi = parseReadCap(annReadcap).storageIndex;
    const annShare = decodeSlotData(await shareOf(storeB, annSi));
    const annFields = decodeCbor(annShare.document) as Map<string, unknown>;
    const annCipher = new Uint8Array(annFields.get('ciphertext') as Uint8Array);
    annCipher[0]! ^= 0x80;
    annFields.set('ciphertext', annCipher);
    await plant(storeB, annSi, encodeSlotData(annShare.seqnum + 1, encodeCbor(annFields)));
    const annSeen = await gridServers(state);
    expect(annSeen.changes).toEqual({
      added: [],
      removed: [],
      updated: [{ petname: 'node-c', changed: ['reachable'] }],
    });
    expect(annSeen.servers.find((s) => s.petname === 'node-c')!.announcement.nickname).toBe(
      'node-c',
    );
    expect(annSeen.problems).toContainEqual(
      expect.objectContaining({ nurl: b.running!.nurl, code: 'BAD_DOCUMENT' }),
    );

    // A fresh client that can reach only the forging server cannot join, and says why.
    await a.stop();
    const only = await ostrom([
      'grid',
      'join',
      `${readcap},${b.running!.nurl}`,
      '--state',
      join(await tempDir('gsd-attack-'), 'grid'),
    ]);
    expect(only.code).toBe(1);
    expect(only.stderr).toMatch(
      /^ostrom: cannot join: the servers that answered hold no valid directory/,
    );
    expect(only.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });
});
