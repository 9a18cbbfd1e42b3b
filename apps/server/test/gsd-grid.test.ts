import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseIntroduction } from '@ostrom/gsd-client';
import { freePort, tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { RunningNode } from '../src/server.js';
import {
  type GridNode,
  gridServers,
  NO_CHANGE,
  type ServersJson,
  threeNodeGrid,
} from './gsd-harness.js';
import { ostrom } from './helpers.js';

// The grid service directory end to end: three real nodes on loopback over HTTPS, a directory made on the first,
// each node publishing its own announcement, the operator listing all three, and a client that
// joins and then sees exactly each change: a node stopped, an announcement changed, a node
// removed. Any single server is enough to read everything, and with every server down the client
// still has the servers it knew.

/** A page of a node's web panel, logged in with its admin token. */
async function panelPage(running: RunningNode, path: string): Promise<string> {
  const token = (await readFile(running.adminTokenPath, 'utf8')).trim();
  const login = await fetch(`${running.adminUrl}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ operator: 'test', token }).toString(),
  });
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const res = await fetch(`${running.adminUrl}${path}`, { headers: { cookie } });
  expect(res.status).toBe(200);
  return await res.text();
}

function byPetname(json: ServersJson) {
  return Object.fromEntries(json.servers.map((s) => [s.petname, s]));
}

/** Each node holds each announcement and the newest directory (the node's own view). */
function everyCopyCurrent(nodes: readonly GridNode[]): void {
  for (const n of nodes) {
    const status = n.running!.gsd.status();
    expect(status.lastError).toBeNull();
    expect(status.announcement!.servers.map((s) => s.state)).toEqual([
      'current',
      'current',
      'current',
    ]);
  }
}

describe('grid service directory: three nodes and a client', () => {
  it('the client sees exactly each change, from any one server, and offline', async () => {
    const { nodes, introduction, readcaps } = await threeNodeGrid();
    const [a, b, c] = nodes as [GridNode, GridNode, GridNode];
    everyCopyCurrent(nodes);
    for (const n of nodes) expect(n.running!.gsd.status().directory!.listsThisNode).toBe(true);
    // Each node publishes under the readcap that `ostrom gsd announcement` printed on it.
    expect(nodes.map((n) => n.running!.gsd.status().announcement!.readcap)).toEqual(readcaps);

    // A fresh client joins through the introduction (node a's NURL alone).
    const state = join(await tempDir('gsd-client-'), 'grid');
    const joined = await ostrom(['grid', 'join', introduction, '--state', state, '--json']);
    expect(joined.code).toBe(0);
    const joinedJson = JSON.parse(joined.stdout) as ServersJson;
    expect(joinedJson.servers.map((s) => s.petname)).toEqual(['node-a', 'node-b', 'node-c']);
    expect(joinedJson.servers.every((s) => s.reachable)).toBe(true);
    expect(joinedJson.servers.map((s) => s.announcement.nurls[0])).toEqual(
      nodes.map((n) => n.running!.nurl),
    );
    expect(joinedJson.problems).toEqual([]);
    const first = await gridServers(state);
    expect(first.changes).toEqual(NO_CHANGE);
    expect(first.servers).toHaveLength(3);

    // Node c stops: the client sees it unreachable (an update), and reads the rest from a and b.
    await c.stop();
    // So does node a at its next check, and its panel's grid page shows it.
    await a.running!.gsd.check();
    const rows = a.running!.gsd.status().directory!.servers;
    expect(rows.map((r) => [r.petname, r.announcement?.body.nickname, r.answering])).toEqual([
      ['node-a', 'node-a', true],
      ['node-b', 'node-b', true],
      ['node-c', 'node-c', false],
    ]);
    const grid = await panelPage(a.running!, '/grid');
    const cells = [
      ...grid.matchAll(
        /<tr data-readcap="[^"]+"><td>([^<]+)<\/td><td>[^<]*<\/td>\s*<td>(\w+)<\/td>/g,
      ),
    ];
    expect(cells.map((m) => [m[1], m[2]])).toEqual([
      ['node-a', 'yes'],
      ['node-b', 'yes'],
      ['node-c', 'no'],
    ]);
    const stopped = await gridServers(state);
    expect(stopped.changes).toEqual({
      added: [],
      removed: [],
      updated: [{ petname: 'node-c', changed: ['reachable'] }],
    });
    expect(byPetname(stopped)['node-c']!.reachable).toBe(false);
    expect(stopped.servers.map((s) => s.petname)).toEqual(['node-a', 'node-b', 'node-c']);
    expect(stopped.fromSavedState).toBe(false);

    // Node b changes its nickname: it republishes at start, and the client sees that alone.
    await b.stop();
    await b.set('nickname', '"node-b-renamed"');
    await b.start();
    await b.running!.gsd.check();
    expect(b.running!.gsd.status().announcement!.lastReason).toBe('nickname changed');
    const renamed = await gridServers(state);
    expect(renamed.changes).toEqual({
      added: [],
      removed: [],
      updated: [{ petname: 'node-b', changed: ['nickname'] }],
    });
    expect(byPetname(renamed)['node-b']!.announcement.nickname).toBe('node-b-renamed');

    // The operator removes node a (the third): the client sees that removal alone. Node c is
    // down, so the write to it fails, which the command reports (exit 1) while a and b took it.
    const removed = await a.cli(['gsd', 'remove-announcement', 'node-a', '--json']);
    expect(removed.code).toBe(1);
    const removal = JSON.parse(removed.stdout) as { written: string[]; failed: { nurl: string }[] };
    expect(removal.written.sort()).toEqual([a.running!.nurl, b.running!.nurl].sort());
    expect(removal.failed.map((f) => f.nurl)).toEqual([c.running!.nurl]);
    const afterRemoval = await gridServers(state);
    expect(afterRemoval.changes).toEqual({ added: [], removed: ['node-a'], updated: [] });
    expect(afterRemoval.servers.map((s) => s.petname)).toEqual(['node-b', 'node-c']);

    // Node c comes back: the directory holder gives it the directory it missed.
    await c.start();
    await a.running!.gsd.check();
    expect(a.running!.gsd.status().directoryWriter!.lastCopy?.to).toEqual([c.running!.nurl]);
    for (const n of nodes) await n.running!.gsd.check();
    const back = await gridServers(state);
    expect(back.changes).toEqual({
      added: [],
      removed: [],
      updated: [{ petname: 'node-c', changed: ['reachable'] }],
    });

    // Any single server is enough: with only one node running, a fresh client joining through
    // that node alone reads the directory and every announcement.
    const { readcap } = parseIntroduction(introduction);
    for (const only of nodes) {
      for (const n of nodes) if (n !== only) await n.stop();
      const alone = join(await tempDir('gsd-alone-'), 'grid');
      const joinedAlone = await ostrom([
        'grid',
        'join',
        `${readcap},${only.running!.nurl}`,
        '--state',
        alone,
        '--json',
      ]);
      expect(joinedAlone.code, joinedAlone.stderr).toBe(0);
      const seen = JSON.parse(joinedAlone.stdout) as ServersJson;
      expect(seen.servers.map((s) => [s.petname, s.announcement.nickname])).toEqual([
        ['node-b', 'node-b-renamed'],
        ['node-c', 'node-c'],
      ]);
      // The client of before reads everything from this one server too.
      const through = await gridServers(state);
      expect(through.fromSavedState).toBe(false);
      expect(through.servers.map((s) => s.petname)).toEqual(['node-b', 'node-c']);
      // Each restarted node's first check runs in the background: waited for, so that no check
      // is still reading from a node that the next round stops.
      for (const n of nodes) {
        if (n === only) continue;
        await n.start();
        await n.running!.gsd.check();
      }
    }

    // Every server down: a restarted client has the servers it knew, and says so.
    for (const n of nodes) await n.stop();
    const offline = await gridServers(state);
    expect(offline.fromSavedState).toBe(true);
    expect(offline.stderr).toMatch(/no server of the grid answered/);
    expect(offline.servers.map((s) => [s.petname, s.announcement.nickname])).toEqual([
      ['node-b', 'node-b-renamed'],
      ['node-c', 'node-c'],
    ]);
    // And Tahoe's servers.yaml from that list.
    const yaml = await ostrom(['grid', 'servers', '--state', state, '--yaml']);
    expect(yaml.code).toBe(0);
    const storage = (parseYaml(yaml.stdout) as { storage: Record<string, { ann: object }> })
      .storage;
    expect(Object.keys(storage)).toEqual([b.running!.node.serverId, c.running!.node.serverId]);
    expect(storage[b.running!.node.serverId]!.ann).toMatchObject({ nickname: 'node-b-renamed' });
  });

  it('a node that moves to another port announces its new NURL; client and nodes follow it', async () => {
    const { nodes, introduction } = await threeNodeGrid();
    const [a, b, c] = nodes as [GridNode, GridNode, GridNode];
    const state = join(await tempDir('gsd-client-'), 'grid');
    expect((await ostrom(['grid', 'join', introduction, '--state', state])).code).toBe(0);
    const before = b.running!.nurl;
    await b.stop();
    await b.start({ port: await freePort() });
    await b.running!.gsd.check();
    expect(b.running!.nurl).not.toBe(before);
    expect(b.running!.gsd.status().announcement!.lastReason).toBe('NURLs changed');
    const moved = await gridServers(state);
    expect(moved.changes).toEqual({
      added: [],
      removed: [],
      updated: [{ petname: 'node-b', changed: ['nurls'] }],
    });
    expect(byPetname(moved)['node-b']!.announcement.nurls).toEqual([b.running!.nurl]);
    // The other nodes reach b where it is now: their announcements there are current.
    for (const n of [a, c]) {
      await n.running!.gsd.check();
      const copies = n.running!.gsd.status().announcement!.servers;
      expect(copies.find((copy) => copy.nurl === b.running!.nurl)?.state).toBe('current');
      expect(copies.some((copy) => copy.nurl === before)).toBe(false);
    }
    // And the client reads everything from b alone, at its new NURL.
    await a.stop();
    await c.stop();
    const alone = await gridServers(state);
    expect(alone.fromSavedState).toBe(false);
    expect(alone.changes).toEqual({
      added: [],
      removed: [],
      updated: [
        { petname: 'node-a', changed: ['reachable'] },
        { petname: 'node-c', changed: ['reachable'] },
      ],
    });
  });
});
