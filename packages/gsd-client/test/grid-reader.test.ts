import { randomBytes } from 'node:crypto';
import { base32Encode, formatNurl } from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import {
  announcedNurls,
  createWriteCap,
  type MemorySlotServer,
  memorySlotServer,
  publishDocument,
  readCapOf,
  readGrid,
  type SlotServer,
  SlotServerPool,
} from '../src/index.js';
import { announcementFor, memoryServers } from './helpers.js';

// readGrid: the one reader of a grid (GsdClient polls with it, a node checks its grid with it).
// What it finds from where, how often it asks each server, and what it refuses.

function poolOf(servers: readonly MemorySlotServer[]): SlotServerPool {
  const byNurl = new Map(servers.map((s) => [s.nurl, s]));
  return new SlotServerPool((nurl) => {
    const server = byNurl.get(nurl);
    if (server === undefined) throw new Error(`no server ${nurl}`);
    return server;
  });
}

/** A node announcing itself at `server`, published to `on`. */
async function node(server: MemorySlotServer, on: readonly MemorySlotServer[], petname: string) {
  const writecap = createWriteCap();
  await publishDocument(on, writecap, 'announcement', announcementFor([server.nurl]));
  return { readcap: readCapOf(writecap), petname };
}

describe('readGrid(pool, readcap, start, options)', () => {
  it('follows the servers announcements name to a newer directory, asking each server once a document', async () => {
    const [a, b, c] = memoryServers(3) as [MemorySlotServer, MemorySlotServer, MemorySlotServer];
    const directory = createWriteCap();
    const nb = await node(b, [a, b], 'b');
    const nc = await node(c, [b, c], 'c'); // only b and c hold it
    await publishDocument([a, b], directory, 'directory', { announcements: [nb] });
    await publishDocument([b], directory, 'directory', { announcements: [nb, nc] }); // a missed it

    const before = [a.calls.read, b.calls.read, c.calls.read];
    const view = await readGrid(poolOf([a, b, c]), readCapOf(directory), [a.nurl]);
    expect(view.directory?.seqnum).toBe(2);
    expect(view.from).toBe(b.nurl);
    expect(view.entries.map((e) => [e.petname, e.announcement?.seqnum, e.answering])).toEqual([
      ['b', 1, true],
      ['c', 1, true],
    ]);
    expect(announcedNurls(view)).toEqual([b.nurl, c.nurl]);
    expect(view.asked).toEqual([a.nurl, b.nurl, c.nurl]);
    expect(view.answered).toEqual([a.nurl, b.nurl, c.nurl]);
    expect(view.problems).toEqual([]);
    // a: the directory, b's and c's announcements; b: the directory and c's (b's was found on
    // a already); c: the directory.
    const reads = [a.calls.read, b.calls.read, c.calls.read].map((n, i) => n - before[i]!);
    expect(reads).toEqual([3, 2, 1]);
  });

  it('asks a server that does not answer once, and says why an announcement is missing', async () => {
    const [a, b] = memoryServers(2) as [MemorySlotServer, MemorySlotServer];
    const directory = createWriteCap();
    const nb = await node(b, [b], 'b'); // on b only, and b is down
    await publishDocument([a, b], directory, 'directory', { announcements: [nb] });
    b.down = true;
    const before = b.calls.read;

    const view = await readGrid(poolOf([a, b]), readCapOf(directory), [a.nurl, b.nurl]);
    expect(view.directory?.seqnum).toBe(1);
    expect(view.problems).toEqual([expect.objectContaining({ nurl: b.nurl, code: 'UNREACHABLE' })]);
    expect(view.entries).toEqual([
      expect.objectContaining({
        petname: 'b',
        announcement: undefined,
        answering: undefined,
        problem: 'none of the 1 server(s) asked holds it',
      }),
    ]);
    expect(b.calls.read - before).toBe(1);
    expect(view.answered).toEqual([a.nurl]);
  });

  it('asks a server that did not answer again where its announcement says it is now', async () => {
    const [a, moved] = memoryServers(2) as [MemorySlotServer, MemorySlotServer];
    // The same server (one TLS key) at its old port, where nothing answers any more.
    const old = memorySlotServer({
      nurl: moved.nurl.replace(/:(\d+)\//, (_, port) => `:${(Number(port) % 60000) + 1025}/`),
    });
    old.down = true;
    const directory = createWriteCap();
    const entry = await node(moved, [a, moved], 'moved');
    await publishDocument([a, moved], directory, 'directory', { announcements: [entry] });

    const view = await readGrid(poolOf([a, moved, old]), readCapOf(directory), [a.nurl, old.nurl]);
    expect(view.asked).toEqual([a.nurl, old.nurl, moved.nurl]);
    expect(view.answered).toEqual([a.nurl, moved.nurl]);
    expect(view.entries[0]).toMatchObject({ petname: 'moved', answering: true });
  });

  it('refuses copies below the floors, and reads the fallback entries without a directory', async () => {
    const [a] = memoryServers(1) as [MemorySlotServer];
    const directory = createWriteCap();
    const na = await node(a, [a], 'a');
    await publishDocument([a], directory, 'directory', { announcements: [na] });

    const view = await readGrid(poolOf([a]), readCapOf(directory), [a.nurl], {
      directoryAtLeast: 2,
      announcementAtLeast: (readcap) => (readcap === na.readcap ? 5 : 0),
      fallback: [{ readcap: na.readcap, petname: 'kept' }],
    });
    expect(view.directory).toBeUndefined();
    expect(view.problems.map((p) => p.code)).toEqual(['ROLLBACK']);
    expect(view.entries).toEqual([
      expect.objectContaining({ petname: 'kept', announcement: undefined }),
    ]);
    expect(view.entries[0]!.problems.map((p) => p.code)).toEqual(['ROLLBACK']);
    expect(view.entries[0]!.problem).toMatch(/^copies refused: /);

    // Without floors the same servers give both.
    const plain = await readGrid(poolOf([a]), readCapOf(directory), [a.nurl]);
    expect(plain.entries[0]!.announcement?.seqnum).toBe(1);
  });

  it('turns a NURL it cannot connect to into a problem, and reads the others', async () => {
    const [a] = memoryServers(1) as [MemorySlotServer];
    const directory = createWriteCap();
    await publishDocument([a], directory, 'directory', { announcements: [] });
    const unknown = memorySlotServer().nurl; // not in the pool: connect throws
    const view = await readGrid(poolOf([a]), readCapOf(directory), [unknown, a.nurl]);
    expect(view.directory?.seqnum).toBe(1);
    expect(view.problems).toEqual([
      expect.objectContaining({ nurl: unknown, code: 'UNREACHABLE' }),
    ]);
  });

  it('rejects a readcap that is not one (BAD_CAP)', async () => {
    await expect(readGrid(poolOf([]), 'gsd:r1:nope', [])).rejects.toMatchObject({
      code: 'BAD_CAP',
    });
  });
});

describe('SlotServerPool', () => {
  const spkiHash = randomBytes(32).toString('base64url');
  const nurlAt = (host: string) =>
    formatNurl({ spkiHash, host, port: 1234, swissnum: base32Encode(randomBytes(20)) });

  it('servers(nurls) gives one server per key, connected once, and close() closes them', () => {
    const connected: string[] = [];
    let closed = 0;
    const pool = new SlotServerPool((nurl): SlotServer => {
      connected.push(nurl);
      return { ...memorySlotServer({ nurl }), close: () => void closed++ };
    });
    const [first, second] = [nurlAt('127.0.0.1'), nurlAt('localhost')];
    const other = memorySlotServer().nurl;
    const servers = pool.servers([first, other, second, first]);
    expect(servers.map((s) => s.nurl)).toEqual([first, other]);
    expect(pool.servers([first])[0]).toBe(servers[0]);
    expect(connected).toEqual([first, other]);
    pool.close();
    expect(closed).toBe(2);
  });

  it('a NURL that cannot be connected throws, or goes to `failed` when given', () => {
    const pool = new SlotServerPool((nurl) => memorySlotServer({ nurl }));
    expect(() => pool.servers(['not a nurl'])).toThrow();
    const failed: string[] = [];
    const good = memorySlotServer().nurl;
    expect(pool.servers(['not a nurl', good], (nurl) => failed.push(nurl))).toHaveLength(1);
    expect(failed).toEqual(['not a nurl']);
    expect(() => new SlotServerPool(42 as unknown as () => SlotServer)).toThrow(TypeError);
  });
});
