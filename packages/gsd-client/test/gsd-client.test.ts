import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { base32Encode, generateAccountKey } from '@ostrom/protocol';
import { manualClock, tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import {
  type AnnouncementBody,
  createWriteCap,
  DirectoryWriter,
  formatIntroduction,
  type GridChange,
  GsdClient,
  type GsdClientOptions,
  GsdError,
  type GsdProblem,
  type MemorySlotServer,
  parseReadCap,
  parseWriteCap,
  publishAnnouncement,
  readCapOf,
} from '../src/index.js';
import { announcementFor, manualTimers, memoryServers } from './helpers.js';

/** A grid of `n` memory servers, each with a node announcing itself, listed in one directory. */
async function grid(n = 3) {
  const servers = memoryServers(n);
  const byNurl = new Map(servers.map((s) => [s.nurl, s]));
  const directoryCap = createWriteCap();
  const writer = new DirectoryWriter(directoryCap, () => servers);
  await writer.create();
  const nodes: {
    writecap: string;
    readcap: string;
    body: AnnouncementBody;
    server: MemorySlotServer;
  }[] = [];
  for (const [i, server] of servers.entries()) {
    const writecap = createWriteCap();
    const body = announcementFor([server.nurl], { nickname: `node${i}` });
    await publishAnnouncement(servers, writecap, body);
    await writer.addAnnouncement(readCapOf(writecap), `node${i}`);
    nodes.push({ writecap, readcap: readCapOf(writecap), body, server });
  }
  const introduction = formatIntroduction(readCapOf(directoryCap), [servers[0]!.nurl]);
  const client = (options: Partial<GsdClientOptions> = {}) => {
    const c = new GsdClient({
      introduction,
      connect: (nurl) => {
        const server = byNurl.get(nurl);
        if (server === undefined) throw new Error(`no server ${nurl}`);
        return server;
      },
      timers: manualTimers(),
      ...options,
    });
    const changes: GridChange[] = [];
    const problems: GsdProblem[] = [];
    c.on('change', (change) => changes.push(change));
    c.on('problem', (problem) => problems.push(problem));
    return { client: c, changes, problems };
  };
  return { servers, directoryCap, writer, nodes, introduction, client };
}

const summary = (change: GridChange) => ({
  added: change.added.map((s) => s.petname),
  removed: change.removed.map((s) => s.petname),
  updated: change.updated.map((u) => u.after.petname),
});

describe('GsdClient', () => {
  it('sees exactly each change of a scripted sequence', async () => {
    const g = await grid();
    const { client, changes, problems } = g.client();

    const joined = await client.refresh();
    expect(summary(joined)).toEqual({
      added: ['node0', 'node1', 'node2'],
      removed: [],
      updated: [],
    });
    expect(client.servers.map((s) => [s.petname, s.reachable, s.seqnum])).toEqual([
      ['node0', true, 1],
      ['node1', true, 1],
      ['node2', true, 1],
    ]);
    expect(client.servers[1]!.announcement).toEqual(g.nodes[1]!.body);
    expect(changes).toHaveLength(1);

    // Nothing changed: no event, an empty change.
    expect(summary(await client.refresh())).toEqual({ added: [], removed: [], updated: [] });
    expect(changes).toHaveLength(1);

    // A node stops: an update of its reachability only.
    g.servers[1]!.down = true;
    const stopped = await client.refresh();
    expect(summary(stopped)).toEqual({ added: [], removed: [], updated: ['node1'] });
    expect(stopped.updated[0]!.before.reachable).toBe(true);
    expect(stopped.updated[0]!.after.reachable).toBe(false);
    expect(stopped.updated[0]!.after.announcement).toEqual(stopped.updated[0]!.before.announcement);

    // Another node changes its announcement (published to the servers that are up).
    const changed = { ...g.nodes[2]!.body, availableSpace: 42 };
    await publishAnnouncement(g.servers, g.nodes[2]!.writecap, changed);
    const update = await client.refresh();
    expect(summary(update)).toEqual({ added: [], removed: [], updated: ['node2'] });
    expect(update.updated[0]!.after.seqnum).toBe(2);
    expect(update.updated[0]!.after.announcement.availableSpace).toBe(42);

    // The operator removes a third one.
    await g.writer.removeAnnouncement('node0');
    const removal = await client.refresh();
    expect(summary(removal)).toEqual({ added: [], removed: ['node0'], updated: [] });
    expect(client.servers.map((s) => s.petname)).toEqual(['node1', 'node2']);

    // The stopped node comes back.
    g.servers[1]!.down = false;
    expect(summary(await client.refresh())).toEqual({ added: [], removed: [], updated: ['node1'] });

    expect(changes.map(summary)).toEqual([
      summary(joined),
      summary(stopped),
      summary(update),
      summary(removal),
      { added: [], removed: [], updated: ['node1'] },
    ]);
    // Reported: the down server and, once back, its copies of the directory and of node2's
    // announcement, older than those seen meanwhile: it missed those writes, and to a reader that
    // is a rollback, ignored.
    expect(problems.filter((p) => p.code !== 'UNREACHABLE')).toEqual([
      expect.objectContaining({
        nurl: g.servers[1]!.nurl,
        readcap: readCapOf(g.directoryCap),
        code: 'ROLLBACK',
      }),
      expect.objectContaining({
        nurl: g.servers[1]!.nurl,
        readcap: g.nodes[2]!.readcap,
        code: 'ROLLBACK',
      }),
    ]);
    expect(
      problems.filter((p) => p.code === 'UNREACHABLE').every((p) => p.nurl === g.servers[1]!.nurl),
    ).toBe(true);
  });

  it('reads the directory through any one reachable server it knows', async () => {
    const g = await grid();
    const { client } = g.client();
    await client.refresh();
    // The introduction's only server goes down (and misses a change); the others, learnt
    // from the announcements, serve the directory.
    g.servers[0]!.down = true;
    await g.writer.removeAnnouncement('node2');
    const change = await client.refresh();
    expect(change.removed.map((s) => s.petname)).toEqual(['node2']);
    expect(client.servers.map((s) => [s.petname, s.reachable])).toEqual([
      ['node0', false],
      ['node1', true],
    ]);
  });

  it('a first poll finds a newer directory on a server the announcements name', async () => {
    const g = await grid();
    // The introduction's only server misses the operator's last change.
    g.servers[0]!.down = true;
    await g.writer.removeAnnouncement('node2');
    g.servers[0]!.down = false;
    const { client } = g.client();
    const change = await client.refresh();
    expect(change.added.map((s) => s.petname)).toEqual(['node0', 'node1']);
    expect(client.directorySeqnum).toBe(5);
  });

  it('a down server is asked once a poll, not once for each document', async () => {
    const g = await grid();
    const { client } = g.client();
    await client.refresh();
    const up = g.servers[0]!;
    const down = g.servers[1]!;
    down.down = true;
    const [upBefore, downBefore] = [up.calls.read, down.calls.read];
    await client.refresh();
    // The directory and three announcements from a server that is up; the down one, once.
    expect(up.calls.read - upBefore).toBe(4);
    expect(down.calls.read - downBefore).toBe(1);
  });

  it('a document failing verification is reported and ignored', async () => {
    const g = await grid();
    const { client, problems, changes } = g.client();
    await client.refresh();
    // Every copy of node1's announcement is corrupted: the last good one is kept.
    const si = parseWriteCap(g.nodes[1]!.writecap).storageIndex;
    for (const s of g.servers) {
      const data = s.shares.get(si)!.data.slice();
      data[data.length - 1]! ^= 1;
      s.plant(si, data);
    }
    problems.length = 0;
    const change = await client.refresh();
    expect(summary(change)).toEqual({ added: [], removed: [], updated: [] });
    expect(changes).toHaveLength(1);
    expect(client.servers[1]!.announcement).toEqual(g.nodes[1]!.body);
    const about = problems.filter((p) => p.readcap === g.nodes[1]!.readcap);
    expect(about.map((p) => p.code)).toEqual([
      'BAD_DOCUMENT',
      'BAD_DOCUMENT',
      'BAD_DOCUMENT',
      'NOT_FOUND',
    ]);
  });

  it('a forged directory copy on one server is reported and ignored', async () => {
    const g = await grid();
    const { client, problems, changes } = g.client();
    await client.refresh();
    const si = parseWriteCap(g.directoryCap).storageIndex;
    // A server rewrites its copy with a directory signed by some other key.
    const forger = createWriteCap();
    const other = memoryServers(1)[0]!;
    await new DirectoryWriter(forger, () => [other]).create();
    const forgedData = other.shares.get(parseWriteCap(forger).storageIndex)!.data;
    g.servers[0]!.plant(si, forgedData);
    const change = await client.refresh();
    expect(summary(change)).toEqual({ added: [], removed: [], updated: [] });
    expect(changes).toHaveLength(1);
    expect(client.servers).toHaveLength(3);
    expect(problems).toEqual([
      expect.objectContaining({ nurl: g.servers[0]!.nurl, code: 'BAD_DOCUMENT' }),
    ]);
  });

  it('an announcement that cannot be read is not listed until it can', async () => {
    const g = await grid(2);
    const { client, problems } = g.client();
    const late = createWriteCap();
    await g.writer.addAnnouncement(readCapOf(late), 'late');
    await client.refresh();
    expect(client.servers.map((s) => s.petname)).toEqual(['node0', 'node1']);
    expect(problems).toEqual([
      expect.objectContaining({ readcap: readCapOf(late), code: 'NOT_FOUND' }),
    ]);
    await publishAnnouncement(g.servers, late, announcementFor([g.servers[1]!.nurl]));
    const change = await client.refresh();
    expect(change.added.map((s) => s.petname)).toEqual(['late']);
  });

  it('a server that answers for the directory and fails for an announcement makes it unreachable, not missing', async () => {
    const g = await grid(1);
    const { client, problems } = g.client();
    await client.refresh();
    const server = g.servers[0]!;
    const read = server.read.bind(server);
    const announcement = parseReadCap(g.nodes[0]!.readcap).storageIndex;
    server.read = async (storageIndex: string) => {
      if (storageIndex === announcement) throw new Error('connection reset');
      return await read(storageIndex);
    };
    problems.length = 0;
    await client.refresh();
    expect(problems.map((p) => p.code)).toEqual(['UNREACHABLE']);
    expect(client.servers.map((s) => s.petname)).toEqual(['node0']);
  });

  it('refuses rollbacks of the directory and of announcements across restarts', async () => {
    const g = await grid();
    const dir = await tempDir();
    const statePath = join(dir, 'gsd-state.json');
    const dirSi = parseWriteCap(g.directoryCap).storageIndex;
    const annSi = parseWriteCap(g.nodes[2]!.writecap).storageIndex;
    const oldDirectory = g.servers.map((s) => s.shares.get(dirSi)!.data.slice());
    const oldAnnouncement = g.servers.map((s) => s.shares.get(annSi)!.data.slice());
    await g.writer.removeAnnouncement('node0');
    await publishAnnouncement(g.servers, g.nodes[2]!.writecap, {
      ...g.nodes[2]!.body,
      version: 'v2',
    });

    const first = g.client({ statePath });
    await first.client.load();
    await first.client.refresh();
    await first.client.stop();
    expect(first.client.servers.map((s) => s.petname)).toEqual(['node1', 'node2']);

    // Every server replays the old directory and the old announcement.
    for (const [i, s] of g.servers.entries()) {
      s.plant(dirSi, oldDirectory[i]!);
      s.plant(annSi, oldAnnouncement[i]!);
    }
    const second = g.client({ statePath });
    await second.client.load();
    expect(second.client.servers.map((s) => s.petname)).toEqual(['node1', 'node2']);
    const change = await second.client.refresh();
    expect(summary(change)).toEqual({ added: [], removed: [], updated: [] });
    expect(second.client.servers[1]!.announcement.version).toBe('v2');
    const rollbacks = second.problems.filter((p) => p.code === 'ROLLBACK');
    expect(rollbacks.filter((p) => p.readcap === readCapOf(g.directoryCap))).toHaveLength(3);
    expect(rollbacks.filter((p) => p.readcap === g.nodes[2]!.readcap)).toHaveLength(3);

    // A client without the state (a fresh join) has no floor and takes the replayed copy.
    const fresh = g.client();
    await fresh.client.refresh();
    expect(fresh.client.servers.map((s) => s.petname)).toEqual(['node0', 'node1', 'node2']);
  });

  it('a restart with every server down still yields the last servers', async () => {
    const g = await grid();
    const dir = await tempDir();
    const statePath = join(dir, 'sub', 'state.json');
    const clock = manualClock(1_800_000_000);
    const first = g.client({ statePath, now: clock.now });
    await first.client.refresh();
    await first.client.stop();
    expect(first.client.refreshedAt).toBe(1_800_000_000);
    const saved = JSON.parse(await readFile(statePath, 'utf8'));
    expect(saved.version).toBe(1);
    expect(saved.servers).toHaveLength(3);
    // Written through a temp file renamed into place: nothing else is left in the directory.
    expect(await readdir(join(dir, 'sub'))).toEqual(['state.json']);

    for (const s of g.servers) s.down = true;
    const second = g.client({ statePath });
    await second.client.load();
    expect(second.client.servers).toEqual(first.client.servers);
    expect(second.client.refreshedAt).toBe(1_800_000_000);
    const change = await second.client.refresh();
    expect(change.updated.map((u) => u.after.reachable)).toEqual([false, false, false]);
    expect(second.client.servers.map((s) => s.petname)).toEqual(['node0', 'node1', 'node2']);
    // Each server once (the directory read), and nothing else.
    expect(second.problems.map((p) => [p.code, p.nurl])).toEqual(
      g.servers.map((s) => ['UNREACHABLE', s.nurl]),
    );
  });

  it('membershipKey: the directory’s, as of the last poll that read it, kept in the state', async () => {
    const g = await grid(2);
    const dir = await tempDir();
    const statePath = join(dir, 'state.json');
    const first = g.client({ statePath });
    await first.client.refresh();
    expect(first.client.membershipKey).toBeUndefined();
    expect(JSON.parse(await readFile(statePath, 'utf8'))).not.toHaveProperty('membershipKey');

    const key = generateAccountKey().publicKey;
    await g.writer.setMembershipKey(key);
    await first.client.refresh();
    expect(first.client.membershipKey).toEqual(key);
    const saved = JSON.parse(await readFile(statePath, 'utf8'));
    expect(saved.membershipKey).toBe(base32Encode(key));

    // No server answers: the last one read stands, and a restart loads it.
    for (const s of g.servers) s.down = true;
    await first.client.refresh();
    expect(first.client.membershipKey).toEqual(key);
    const second = g.client({ statePath });
    await second.client.load();
    expect(second.client.membershipKey).toEqual(key);
    // A state written before membership keys (none in it) still loads.
    const { membershipKey: _key, ...older } = saved;
    await writeFile(statePath, JSON.stringify(older));
    const third = g.client({ statePath });
    await third.client.load();
    expect(third.client.membershipKey).toBeUndefined();
    expect(third.client.servers).toHaveLength(2);
  });

  it('load(): no file is fine; a state of another directory is ignored; garbage is BAD_STATE', async () => {
    const g = await grid(1);
    const dir = await tempDir();
    const statePath = join(dir, 'state.json');
    const { client } = g.client({ statePath });
    await client.load();
    expect(client.servers).toEqual([]);

    const other = await grid(1);
    const o = other.client({ statePath });
    await o.client.refresh();
    await client.load();
    expect(client.servers).toEqual([]);

    await writeFile(statePath, '{"version": 1, "servers": "nope"');
    await expect(client.load()).rejects.toSatisfy(
      (err) => err instanceof GsdError && err.code === 'BAD_STATE',
    );
    await writeFile(statePath, JSON.stringify({ version: 7 }));
    await expect(client.load()).rejects.toSatisfy(
      (err) => err instanceof GsdError && err.code === 'BAD_STATE',
    );
  });

  it('start() polls now and then every pollSeconds, never overlapping; stop() ends it', async () => {
    const g = await grid(2);
    const timers = manualTimers();
    const { client, changes } = g.client({ timers, pollSeconds: 60 });
    const reads = () => g.servers[0]!.calls.read;

    // Two refreshes at once are one poll.
    const before = reads();
    const [a, b] = [client.refresh(), client.refresh()];
    expect(a).toBe(b);
    await a;
    const perPoll = reads() - before;

    client.start();
    await client.refresh(); // joins the poll start() began
    expect(reads() - before).toBe(2 * perPoll);
    await new Promise((r) => setImmediate(r));
    expect([...timers.pending.values()].map((t) => t.ms)).toEqual([60_000]);

    await g.writer.removeAnnouncement('node1');
    expect(timers.fireAll()).toBe(1);
    await client.refresh();
    expect(changes.at(-1)!.removed.map((s) => s.petname)).toEqual(['node1']);
    await new Promise((r) => setImmediate(r));
    expect(timers.pending.size).toBe(1);

    await client.stop();
    expect(timers.pending.size).toBe(0);
  });

  it('the constructor refuses a bad introduction (BAD_INTRODUCTION) and pollSeconds ≤ 0', () => {
    expect(() => new GsdClient({ introduction: 'nope' })).toThrow(GsdError);
    const intro = formatIntroduction(readCapOf(createWriteCap()), [memoryServers(1)[0]!.nurl]);
    expect(() => new GsdClient({ introduction: intro, pollSeconds: 0 })).toThrow(RangeError);
  });
});
