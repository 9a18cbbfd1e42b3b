import { describe, expect, it } from 'vitest';
import {
  createWriteCap,
  type DirectoryBody,
  deriveSlotSecrets,
  encodeSlotData,
  type MemorySlotServer,
  memorySlotServer,
  parseReadCap,
  parseWriteCap,
  publishDocument,
  readCapOf,
  readDocument,
  renewDocumentLeases,
  type SlotServer,
  sealDocument,
} from '../src/index.js';
import { memoryServers } from './helpers.js';

const body = (...petnames: string[]): DirectoryBody => ({
  announcements: petnames.map((petname) => ({ readcap: readCapOf(createWriteCap()), petname })),
});

function setup(n = 3) {
  const writecap = createWriteCap();
  const { readcap, storageIndex, seed } = parseWriteCap(writecap);
  return { writecap, readcap, storageIndex, seed, servers: memoryServers(n) };
}

describe('memorySlotServer (Tahoe read-test-write semantics)', () => {
  const si = parseWriteCap(createWriteCap()).storageIndex;
  const seed = new Uint8Array(32).fill(3);

  it('a test on a missing share compares against empty data', async () => {
    const server = memorySlotServer();
    const secrets = deriveSlotSecrets(seed, server.serverId);
    const data = new Uint8Array(40).fill(9);
    expect(await server.testAndWrite(si, new Uint8Array(16), data, secrets)).toBe(false);
    expect(await server.read(si)).toBeUndefined();
    expect(await server.testAndWrite(si, new Uint8Array(0), data, secrets)).toBe(true);
    expect(await server.read(si)).toEqual(data);
  });

  it('testAndWrite() refuses another write enabler and changes nothing', async () => {
    const server = memorySlotServer();
    const data = new Uint8Array(40).fill(9);
    await server.testAndWrite(
      si,
      new Uint8Array(0),
      data,
      deriveSlotSecrets(seed, server.serverId),
    );
    const intruder = deriveSlotSecrets(new Uint8Array(32).fill(4), server.serverId);
    await expect(
      server.testAndWrite(si, data.subarray(0, 16), new Uint8Array(20), intruder),
    ).rejects.toThrow(/write enabler/);
    expect(await server.read(si)).toEqual(data);
  });

  it('newLength truncates a longer old share; the test reads the old header', async () => {
    const server = memorySlotServer();
    const secrets = deriveSlotSecrets(seed, server.serverId);
    const long = new Uint8Array(100).fill(1);
    const short = new Uint8Array(30).fill(2);
    await server.testAndWrite(si, new Uint8Array(0), long, secrets);
    expect(await server.testAndWrite(si, long.subarray(0, 15), short, secrets)).toBe(false);
    expect(await server.testAndWrite(si, long.subarray(0, 16), short, secrets)).toBe(true);
    expect(await server.read(si)).toEqual(short);
  });

  it('writes add a lease; renewLease() renews it, and fails where there is no share', async () => {
    const server = memorySlotServer();
    const secrets = deriveSlotSecrets(seed, server.serverId);
    await server.testAndWrite(si, new Uint8Array(0), new Uint8Array(20), secrets);
    await server.renewLease(si, secrets.renewSecret, secrets.cancelSecret);
    const key = Buffer.from(secrets.renewSecret).toString('hex');
    expect(server.shares.get(si)?.leases.get(key)).toBe(2);
    const other = parseWriteCap(createWriteCap()).storageIndex;
    await expect(
      server.renewLease(other, secrets.renewSecret, secrets.cancelSecret),
    ).rejects.toThrow();
  });

  it('a down server fails every call and is not reachable', async () => {
    const server = memorySlotServer();
    server.down = true;
    await expect(server.read(si)).rejects.toThrow();
    expect(await server.reachable()).toBe(false);
  });
});

describe('publishDocument() and readDocument()', () => {
  it('publishes to every server with seqnum 1, 2, … and reads the newest', async () => {
    const { writecap, readcap, servers } = setup();
    const first = await publishDocument(servers, writecap, 'directory', body('a'), {
      now: () => 10,
    });
    expect(first).toEqual({
      seqnum: 1,
      written: servers.map((s) => s.nurl),
      conflicts: [],
      failed: [],
    });
    const second = await publishDocument(servers, writecap, 'directory', body('a', 'b'));
    expect(second.seqnum).toBe(2);
    const read = await readDocument(servers, readcap, 'directory');
    expect(read.document?.seqnum).toBe(2);
    expect(read.document?.body.announcements.map((e) => e.petname)).toEqual(['a', 'b']);
    expect(read.problems).toEqual([]);
    expect(read.stale).toEqual([]);
    expect(read.from).toBe(servers[0]!.nurl);
  });

  it('each server gets its own write enabler (salted with its server id)', async () => {
    const { writecap, storageIndex, seed, servers } = setup();
    await publishDocument(servers, writecap, 'directory', body());
    for (const server of servers) {
      expect(server.shares.get(storageIndex)?.writeEnabler).toEqual(
        deriveSlotSecrets(seed, server.serverId).writeEnabler,
      );
    }
  });

  it('a down server is reported as failed and skipped; the others are written', async () => {
    const { writecap, servers } = setup();
    servers[1]!.down = true;
    const result = await publishDocument(servers, writecap, 'directory', body());
    expect(result.written).toEqual([servers[0]!.nurl, servers[2]!.nurl]);
    expect(result.failed.map((f) => f.nurl)).toEqual([servers[1]!.nurl]);
    expect(servers[1]!.calls.testAndWrite).toBe(0);
  });

  it('the newer seqnum wins across servers; a server that missed a write is stale, then caught up', async () => {
    const { writecap, readcap, storageIndex, servers } = setup();
    await publishDocument(servers, writecap, 'directory', body('v1'));
    servers[0]!.down = true;
    servers[2]!.down = true;
    await publishDocument(servers, writecap, 'directory', body('v2'));
    servers[0]!.down = false;
    servers[2]!.down = false;
    const read = await readDocument(servers, readcap, 'directory');
    expect(read.document?.seqnum).toBe(2);
    expect(read.from).toBe(servers[1]!.nurl);
    expect(read.stale).toEqual([servers[0]!.nurl, servers[2]!.nurl]);
    // The next write starts from seqnum 2 even though two servers hold 1.
    const third = await publishDocument(servers, writecap, 'directory', body('v3'));
    expect(third.seqnum).toBe(3);
    expect(third.written).toHaveLength(3);
    for (const s of servers) expect(s.shares.get(storageIndex)?.data.subarray(8, 16)[7]).toBe(3);
  });

  it('any single server suffices to read', async () => {
    const { writecap, readcap, servers } = setup();
    await publishDocument(servers, writecap, 'directory', body('x'));
    for (const up of servers) {
      for (const s of servers) s.down = s !== up;
      const read = await readDocument(servers, readcap, 'directory');
      expect(read.document?.seqnum).toBe(1);
      expect(read.from).toBe(up.nurl);
      expect(read.problems.map((p) => p.code)).toEqual(['UNREACHABLE', 'UNREACHABLE']);
    }
  });

  it('a server replaying an old document is ignored and reported as a rollback', async () => {
    const { writecap, readcap, storageIndex, servers } = setup();
    await publishDocument(servers, writecap, 'directory', body('old'));
    const old = servers[1]!.shares.get(storageIndex)!.data.slice();
    await publishDocument(servers, writecap, 'directory', body('new'));
    servers[1]!.plant(storageIndex, old);

    const read = await readDocument(servers, readcap, 'directory', { atLeast: 2 });
    expect(read.document?.body.announcements[0]?.petname).toBe('new');
    expect(read.problems).toEqual([
      { nurl: servers[1]!.nurl, code: 'ROLLBACK', problem: expect.any(String) },
    ]);

    // Alone, the replaying server gives nothing rather than the old document.
    servers[0]!.down = true;
    servers[2]!.down = true;
    const alone = await readDocument(servers, readcap, 'directory', { atLeast: 2 });
    expect(alone.document).toBeUndefined();
    expect(alone.problems.map((p) => p.code)).toContain('ROLLBACK');
  });

  it('a slot header whose seqnum differs from the document is refused', async () => {
    const { writecap, readcap, storageIndex, servers } = setup(1);
    const { seed } = parseWriteCap(writecap);
    const read = parseReadCap(readcap);
    const doc = sealDocument({ seed, ...read }, 'directory', 4, 1, body());
    servers[0]!.plant(storageIndex, encodeSlotData(5, doc));
    const result = await readDocument(servers, readcap, 'directory');
    expect(result.document).toBeUndefined();
    expect(result.problems.map((p) => p.code)).toEqual(['BAD_DOCUMENT']);
  });

  it('a forged or corrupt copy on one server is reported and the others are used', async () => {
    const { writecap, readcap, storageIndex, servers } = setup();
    await publishDocument(servers, writecap, 'directory', body('good'));
    const data = servers[2]!.shares.get(storageIndex)!.data.slice();
    data[data.length - 5]! ^= 0x40;
    servers[2]!.plant(storageIndex, data);
    const read = await readDocument(servers, readcap, 'directory');
    expect(read.document?.body.announcements[0]?.petname).toBe('good');
    expect(read.problems).toEqual([
      { nurl: servers[2]!.nurl, code: 'BAD_DOCUMENT', problem: expect.any(String) },
    ]);
    // The writer overwrites the corrupt copy: its header is what the test vector expects.
    const next = await publishDocument(servers, writecap, 'directory', body('good'));
    expect(next.written).toHaveLength(3);
    expect((await readDocument(servers, readcap, 'directory')).problems).toEqual([]);
  });

  it('a slot squatted with another write enabler is not overwritten: failed', async () => {
    const { writecap, storageIndex, servers } = setup(1);
    servers[0]!.plant(storageIndex, new Uint8Array(32)); // write enabler of zeros
    const result = await publishDocument(servers, writecap, 'directory', body());
    expect(result.written).toEqual([]);
    expect(result.failed.map((f) => f.nurl)).toEqual([servers[0]!.nurl]);
    expect(servers[0]!.shares.get(storageIndex)?.data).toEqual(new Uint8Array(32));
  });

  it('nothing anywhere: document undefined, no problems', async () => {
    const { readcap, servers } = setup();
    const read = await readDocument(servers, readcap, 'directory');
    expect(read).toEqual({
      document: undefined,
      from: undefined,
      problems: [],
      stale: [],
      answered: servers.map((s) => s.nurl),
    });
  });
});

/** A server whose writes wait until `release()` is called. */
function gated(server: MemorySlotServer): { server: SlotServer; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    release,
    server: {
      nurl: server.nurl,
      serverId: server.serverId,
      read: (si) => server.read(si),
      testAndWrite: async (...args) => {
        await gate;
        return server.testAndWrite(...args);
      },
      renewLease: (...args) => server.renewLease(...args),
      reachable: () => server.reachable(),
      close: () => server.close(),
    },
  };
}

describe('two writers', () => {
  it('one writes between the other’s read and write: the late one gets a conflict, no overwrite', async () => {
    const { writecap, readcap, servers } = setup();
    await publishDocument(servers, writecap, 'directory', body('base'));
    const gates = servers.map(gated);
    const slow = publishDocument(
      gates.map((g) => g.server),
      writecap,
      'directory',
      body('slow'),
    );
    // Let the slow writer read every server before the fast one writes.
    while (servers.some((s) => s.calls.read < 2)) await new Promise((r) => setImmediate(r));
    const fast = await publishDocument(servers, writecap, 'directory', body('fast'));
    expect(fast.written).toHaveLength(3);
    for (const g of gates) g.release();
    const late = await slow;
    expect(late.seqnum).toBe(2);
    expect(late.written).toEqual([]);
    expect(late.conflicts).toEqual(servers.map((s) => s.nurl));
    const read = await readDocument(servers, readcap, 'directory');
    expect(read.document?.body.announcements[0]?.petname).toBe('fast');
    expect(read.problems).toEqual([]);
  });

  it('racing at once: each server keeps exactly one of them and tells the other', async () => {
    const { writecap, readcap, servers } = setup();
    const [a, b] = await Promise.all([
      publishDocument(servers, writecap, 'directory', body('a')),
      publishDocument(servers, writecap, 'directory', body('b')),
    ]);
    for (const server of servers) {
      const wonByA = a.written.includes(server.nurl);
      const wonByB = b.written.includes(server.nurl);
      expect(wonByA !== wonByB).toBe(true);
      expect((wonByA ? b : a).conflicts).toContain(server.nurl);
    }
    expect(a.conflicts.length + b.conflicts.length).toBe(3);
    // Readers in any server order settle on the same document.
    const one = await readDocument(servers, readcap, 'directory');
    const two = await readDocument([...servers].reverse(), readcap, 'directory');
    expect(one.document).toEqual(two.document);
  });
});

describe('renewDocumentLeases()', () => {
  it('renews on servers holding the slot and reports the others', async () => {
    const { writecap, storageIndex, seed, servers } = setup();
    await publishDocument(servers.slice(0, 2), writecap, 'directory', body());
    const result = await renewDocumentLeases(servers, writecap);
    expect(result.renewed).toEqual([servers[0]!.nurl, servers[1]!.nurl]);
    expect(result.failed.map((f) => f.nurl)).toEqual([servers[2]!.nurl]);
    const key = Buffer.from(deriveSlotSecrets(seed, servers[0]!.serverId).renewSecret).toString(
      'hex',
    );
    expect(servers[0]!.shares.get(storageIndex)?.leases.get(key)).toBe(2);
  });
});
