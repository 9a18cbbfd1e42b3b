import { join } from 'node:path';
import {
  type AnnouncementBody,
  createWriteCap,
  decodeSlotData,
  formatIntroduction,
  type MemorySlotServer,
  memorySlotServer,
  parseReadCap,
  parseWriteCap,
  publishDocument,
  readDocument,
} from '@ostrom/gsd-client';
import { manualClock, tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import {
  announcementBody,
  announcementChange,
  announcementWritecap,
  SPACE_CHANGE_RATIO,
  spaceChanged,
} from '../src/gsd.js';
import { initNode, type LoadedNode, PRIVATE_FILES, writePrivateLine } from '../src/node-dir.js';
import { createNodeGsd, type NodeGsd } from '../src/node-gsd.js';
import { nodeFurl } from '../src/server.js';
import { manualTimer } from './node-harness.js';

// The node's side of the grid service directory, against storage servers in memory (the
// package's memorySlotServer, with Tahoe's read-test-write semantics): when it publishes, when
// it does not, what it copies, what it renews, and that no failure escapes a check.

const T0 = 1_800_000_000;
const GB = 1e9;

interface Setup {
  node: LoadedNode;
  gsd: NodeGsd;
  self: MemorySlotServer;
  servers: Map<string, MemorySlotServer>;
  /** A server added to the grid (another node's announcement listed in the directory). */
  addServer(name: string): Promise<MemorySlotServer>;
  clock: ReturnType<typeof manualClock>;
  timer: ReturnType<typeof manualTimer>;
  space: { bytes: number; fail: boolean };
  dirWritecap: string;
  dirReadcap: string;
  annReadcap(): Promise<string>;
  /** Share 0 of this node's announcement slot on a server (seqnum), or undefined. */
  annSeqnumOn(server: MemorySlotServer): Promise<number | undefined>;
  logged: { level: string; msg?: string; obj: object }[];
}

async function setup(
  gsd: Partial<LoadedNode['config']['gsd']> = {},
  options: { holdDirectory?: boolean } = {},
): Promise<Setup> {
  const root = await tempDir('gsd-node-');
  const loaded = await initNode(join(root, 'node'), { nickname: 'unit' });
  const self = memorySlotServer();
  const intro = memorySlotServer();
  const servers = new Map([
    [self.nurl, self],
    [intro.nurl, intro],
  ]);
  const clock = manualClock(T0);
  const dirWritecap = createWriteCap();
  const dirReadcap = parseWriteCap(dirWritecap).readcap;
  const write = (entries: { readcap: string; petname: string }[]) =>
    publishDocument(
      [...servers.values()],
      dirWritecap,
      'directory',
      { announcements: entries },
      {
        now: clock.now,
      },
    );
  await write([]);
  if (options.holdDirectory) {
    await writePrivateLine(loaded.dir, PRIVATE_FILES.gsdDirectory, dirWritecap);
  }
  const node: LoadedNode = {
    ...loaded,
    config: {
      ...loaded.config,
      gsd: {
        ...loaded.config.gsd,
        introduction: formatIntroduction(dirReadcap, [intro.nurl]),
        ...gsd,
      },
    },
  };
  const space = { bytes: 100 * GB, fail: false };
  const timer = manualTimer();
  const logged: Setup['logged'] = [];
  const log = (level: string) => (obj: object, msg?: string) => logged.push({ level, obj, msg });
  const service = createNodeGsd({
    node,
    nurl: self.nurl,
    furl: nodeFurl(loaded, { swissnumFor: () => 'a'.repeat(32) }),
    availableSpace: async () => {
      if (space.fail) throw new Error('statfs failed');
      return space.bytes;
    },
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    now: clock.now,
    every: timer.every,
    connect: (nurl) => {
      const server = servers.get(nurl);
      if (!server) throw new Error(`no such server ${nurl}`);
      return server;
    },
  });
  const entries: { readcap: string; petname: string }[] = [];
  return {
    node,
    gsd: service,
    self,
    servers,
    clock,
    timer,
    space,
    dirWritecap,
    dirReadcap,
    logged,
    async addServer(name) {
      const other = memorySlotServer();
      servers.set(other.nurl, other);
      const otherNode = await initNode(join(root, name), { nickname: name });
      const writecap = createWriteCap();
      const body: AnnouncementBody = announcementBody(otherNode, {
        nurls: [other.nurl],
        furl: nodeFurl(otherNode, { swissnumFor: () => 'b'.repeat(32) }),
        availableSpace: GB,
      });
      await publishDocument([other, intro], writecap, 'announcement', body, { now: clock.now });
      entries.push({ readcap: parseWriteCap(writecap).readcap, petname: name });
      await write(entries);
      return other;
    },
    annReadcap: async () => (await announcementWritecap(loaded)).readcap,
    async annSeqnumOn(server) {
      const si = parseReadCap((await announcementWritecap(loaded)).readcap).storageIndex;
      const data = server.shares.get(si)?.data;
      return data === undefined ? undefined : decodeSlotData(data).seqnum;
    },
  };
}

describe('announcementChange and spaceChanged', () => {
  const body = (over: Partial<AnnouncementBody> = {}): AnnouncementBody => ({
    nickname: 'n',
    serverId: `v0-${'a'.repeat(52)}`,
    nurls: ['pb://x@h:1/s#v=1'],
    anonymousStorageFurl: 'pb://t@tcp:127.0.0.1:1/s',
    permutationSeed: 'a'.repeat(52),
    availableSpace: 1000,
    version: 'ostrom/0.1.0',
    ...over,
  });

  it('names what changed, and lets small changes of space pass', () => {
    expect(announcementChange(undefined, body())).toBe('not published yet');
    expect(announcementChange(body(), body())).toBeUndefined();
    expect(announcementChange(body(), body({ nickname: 'm' }))).toBe('nickname changed');
    expect(announcementChange(body(), body({ nurls: ['pb://y@h:1/s#v=1'] }))).toBe('NURLs changed');
    expect(announcementChange(body(), body({ version: 'ostrom/0.2.0' }))).toBe('version changed');
    expect(announcementChange(body(), body({ availableSpace: 1099 }))).toBeUndefined();
    expect(announcementChange(body(), body({ availableSpace: 1100 }))).toBe(
      'available space changed',
    );
    expect(announcementChange(body(), body({ availableSpace: 900 }))).toBe(
      'available space changed',
    );
  });

  it('treats reaching or leaving zero as a change', () => {
    expect(SPACE_CHANGE_RATIO).toBe(0.1);
    expect(spaceChanged(0, 0)).toBe(false);
    expect(spaceChanged(0, 1)).toBe(true);
    expect(spaceChanged(1, 0)).toBe(true);
    expect(spaceChanged(1e12, 0.95e12)).toBe(false);
  });
});

describe('the node’s grid service directory service', () => {
  it('publishes its announcement once, to itself and the introduction’s servers', async () => {
    const s = await setup();
    s.gsd.start();
    await s.gsd.check();
    expect(s.timer.scheduled).toBe(1);
    const status = s.gsd.status();
    expect(status).toMatchObject({
      enabled: true,
      lastError: null,
      directory: { readcap: s.dirReadcap, seqnum: 1, listed: 0, listsThisNode: false },
      announcement: {
        readcap: await s.annReadcap(),
        seqnum: 1,
        lastReason: 'not published yet',
        body: {
          nickname: 'unit',
          serverId: s.node.serverId,
          nurls: [s.self.nurl],
          permutationSeed: s.node.permutationSeed,
          availableSpace: 100 * GB,
          version: 'ostrom/0.1.0',
        },
      },
      directoryWriter: null,
    });
    expect(status.checks).toBe(2); // the one start() began, then this one
    expect(status.announcement!.servers.map((c) => c.state)).toEqual(['current', 'current']);
    for (const server of s.servers.values()) expect(await s.annSeqnumOn(server)).toBe(1);

    // Nothing changed: nothing is written.
    const writes = s.self.calls.testAndWrite;
    await s.timer.fire();
    expect(s.self.calls.testAndWrite).toBe(writes);
    expect(await s.annSeqnumOn(s.self)).toBe(1);
    await s.gsd.stop();
    expect(s.timer.scheduled).toBe(0);
  });

  it('republishes when the space moves 10%, and keeps the figure otherwise', async () => {
    const s = await setup();
    await s.gsd.check();
    s.space.bytes = 95 * GB;
    await s.gsd.check();
    expect(await s.annSeqnumOn(s.self)).toBe(1);
    s.space.bytes = 89 * GB;
    await s.gsd.check();
    expect(await s.annSeqnumOn(s.self)).toBe(2);
    expect(s.gsd.status().announcement).toMatchObject({
      lastReason: 'available space changed',
      body: { availableSpace: 89 * GB },
    });
    // Republished for another reason (the interval), the figure stays the one announced.
    s.space.bytes = 88 * GB;
    s.clock.advance(s.node.config.gsd.republishIntervalSeconds);
    await s.gsd.check();
    expect(s.gsd.status().announcement).toMatchObject({
      seqnum: 3,
      lastReason: 'republish interval',
      body: { availableSpace: 89 * GB },
    });
  });

  it('republishes every republish_interval, which renews its leases', async () => {
    const s = await setup({ republishIntervalSeconds: 7200, checkIntervalSeconds: 600 });
    s.gsd.start();
    await s.gsd.check();
    const si = parseReadCap(await s.annReadcap()).storageIndex;
    const leases = () => [...s.self.shares.get(si)!.leases.values()].reduce((a, b) => a + b, 0);
    expect(leases()).toBe(1);
    s.clock.advance(7199);
    await s.timer.fire();
    expect(await s.annSeqnumOn(s.self)).toBe(1);
    s.clock.advance(1);
    await s.timer.fire();
    expect(await s.annSeqnumOn(s.self)).toBe(2);
    expect(leases()).toBe(2);
  });

  it('gives the same version to a server that lacks it: a new one in the directory, one back up', async () => {
    const s = await setup();
    await s.gsd.check();
    const other = await s.addServer('other');
    expect(await s.annSeqnumOn(other)).toBeUndefined();
    await s.gsd.check();
    // Copied byte for byte: no new seqnum, so clients see no change.
    expect(await s.annSeqnumOn(other)).toBe(1);
    expect(await s.annSeqnumOn(s.self)).toBe(1);
    expect(s.gsd.status().directory).toMatchObject({ listed: 1, listsThisNode: false });

    const later = await s.addServer('later');
    later.down = true;
    await s.gsd.check();
    const copies = s.gsd.status().announcement!.servers;
    expect(copies.find((c) => c.nurl === later.nurl)).toMatchObject({ state: 'unreachable' });
    expect(s.gsd.status().lastError).toBeNull();
    later.down = false;
    await s.gsd.check();
    expect(await s.annSeqnumOn(later)).toBe(1);
  });

  it('no failure escapes a check: logged, shown, retried', async () => {
    const s = await setup();
    s.space.fail = true;
    await s.gsd.check();
    expect(s.gsd.status().lastError).toMatch(/statfs failed/);
    expect(s.logged.some((l) => l.level === 'error')).toBe(true);
    s.space.fail = false;
    await s.gsd.check();
    expect(s.gsd.status().lastError).toBeNull();
    expect(s.gsd.status().announcement!.seqnum).toBe(1);

    // Every server down: the directory is nowhere; the node says so and goes on.
    for (const server of s.servers.values()) server.down = true;
    await s.gsd.check();
    expect(s.gsd.status().lastError).toMatch(/no server reached holds the directory/);
    for (const server of s.servers.values()) server.down = false;
    await s.gsd.check();
    expect(s.gsd.status().lastError).toBeNull();
  });

  it('announce = false: reads the directory, publishes nothing', async () => {
    const s = await setup({ announce: false });
    await s.gsd.check();
    expect(s.gsd.status()).toMatchObject({ enabled: true, announcement: null });
    expect(await s.annSeqnumOn(s.self)).toBeUndefined();
  });

  it('holding the directory: renews its leases every republish_interval, copies it where missing', async () => {
    const s = await setup({}, { holdDirectory: true });
    const si = parseReadCap(s.dirReadcap).storageIndex;
    await s.gsd.check();
    expect(s.self.calls.renewLease).toBe(1);
    expect(s.gsd.status().directoryWriter).toMatchObject({
      readcap: s.dirReadcap,
      leasesRenewedAt: T0,
      renewed: [s.self.nurl],
      failed: [],
    });
    await s.gsd.check();
    expect(s.self.calls.renewLease).toBe(1);
    s.clock.advance(s.node.config.gsd.republishIntervalSeconds);
    await s.gsd.check();
    expect(s.self.calls.renewLease).toBe(2);

    // A listed server that lost the directory gets the same version back.
    const other = await s.addServer('other');
    other.shares.delete(si);
    await s.gsd.check();
    expect(s.gsd.status().directoryWriter!.lastCopy).toEqual({
      at: s.clock.now(),
      to: [other.nurl],
    });
    const read = await readDocument([other], s.dirReadcap, 'directory');
    expect(read.document?.seqnum).toBe(2);
  });

  it('takes no part without an introduction or a directory', async () => {
    const s = await setup({ introduction: undefined });
    const reads = s.self.calls.read;
    s.gsd.start();
    await s.gsd.check();
    expect(s.timer.scheduled).toBe(0);
    expect(s.gsd.status()).toMatchObject({
      enabled: false,
      directory: null,
      announcement: null,
      lastError: null,
    });
    expect(s.self.calls.read).toBe(reads);
  });
});
