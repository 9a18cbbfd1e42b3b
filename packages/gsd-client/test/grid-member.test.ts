import { base32Encode, generateAccountKey } from '@ostrom/protocol';
import { manualClock } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import {
  type AnnouncementBody,
  announcementChange,
  createGridMember,
  createWriteCap,
  decodeSlotData,
  formatIntroduction,
  type GridMember,
  type GridMemberOptions,
  type MemorySlotServer,
  memorySlotServer,
  parseReadCap,
  parseWriteCap,
  publishDocument,
  readDocument,
  SPACE_CHANGE_RATIO,
  spaceChanged,
} from '../src/index.js';
import { announcementFor } from './helpers.js';

// A storage node's part in a grid, against storage servers in memory (memorySlotServer, with
// Tahoe's read-test-write semantics): when it publishes, when it does not, what it copies, what
// it renews, and that no failure escapes a check.

const T0 = 1_800_000_000;
const GB = 1e9;
const REPUBLISH = 86_400;

/** Intervals a test fires by hand. */
function manualEvery() {
  const fns = new Set<() => Promise<void>>();
  return {
    every: (fn: () => Promise<void>, _ms: number) => {
      fns.add(fn);
      return () => fns.delete(fn);
    },
    fire: async () => {
      await Promise.all([...fns].map((fn) => fn()));
    },
    get scheduled() {
      return fns.size;
    },
  };
}

async function setup(
  over: Partial<GridMemberOptions> = {},
  options: { holdDirectory?: boolean; introduction?: boolean } = {},
) {
  const self = memorySlotServer();
  const intro = memorySlotServer();
  const servers = new Map([
    [self.nurl, self],
    [intro.nurl, intro],
  ]);
  const clock = manualClock(T0);
  const dirWritecap = createWriteCap();
  const dirReadcap = parseWriteCap(dirWritecap).readcap;
  const entries: { readcap: string; petname: string }[] = [];
  let membershipKey: Uint8Array | undefined;
  const writeDirectory = () =>
    publishDocument(
      [...servers.values()],
      dirWritecap,
      'directory',
      { announcements: entries, ...(membershipKey ? { membershipKey } : {}) },
      {
        now: clock.now,
      },
    );
  await writeDirectory();
  const annWritecap = createWriteCap();
  const annReadcap = parseWriteCap(annWritecap).readcap;
  const identity = announcementFor([self.nurl], { nickname: 'unit' });
  const space = { bytes: 100 * GB, fail: false };
  const timer = manualEvery();
  const logged: { level: string; msg?: string | undefined; obj: object }[] = [];
  const log = (level: string) => (obj: object, msg?: string) => logged.push({ level, obj, msg });
  const member: GridMember = createGridMember({
    introduction:
      options.introduction === false ? undefined : formatIntroduction(dirReadcap, [intro.nurl]),
    nurl: self.nurl,
    async announcement() {
      if (space.fail) throw new Error('statfs failed');
      return { ...identity, availableSpace: space.bytes };
    },
    announcementWritecap: async () => annWritecap,
    directoryWritecap: async () => (options.holdDirectory ? dirWritecap : undefined),
    checkIntervalSeconds: 3600,
    republishIntervalSeconds: REPUBLISH,
    now: clock.now,
    every: timer.every,
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    connect: (nurl) => {
      const server = servers.get(nurl);
      if (!server) throw new Error(`no such server ${nurl}`);
      return server;
    },
    ...over,
  });
  return {
    member,
    self,
    servers,
    clock,
    timer,
    space,
    identity,
    dirReadcap,
    annReadcap,
    logged,
    /** A server added to the grid: another node's announcement listed in the directory. */
    async addServer(name: string): Promise<MemorySlotServer> {
      const other = memorySlotServer();
      servers.set(other.nurl, other);
      const writecap = createWriteCap();
      const body = announcementFor([other.nurl], { nickname: name });
      await publishDocument([other, intro], writecap, 'announcement', body, { now: clock.now });
      entries.push({ readcap: parseWriteCap(writecap).readcap, petname: name });
      await writeDirectory();
      return other;
    },
    /** The directory written again with this membership key (undefined: none). */
    async setMembershipKey(key: Uint8Array | undefined): Promise<void> {
      membershipKey = key;
      await writeDirectory();
    },
    /** The seqnum of this node's announcement on a server, or undefined. */
    annSeqnumOn(server: MemorySlotServer): number | undefined {
      const data = server.shares.get(parseReadCap(annReadcap).storageIndex)?.data;
      return data === undefined ? undefined : decodeSlotData(data).seqnum;
    },
  };
}

describe('announcementChange(previous, current) and spaceChanged(before, now)', () => {
  it('names what changed, and lets small changes of space pass', () => {
    const base: AnnouncementBody = announcementFor([memorySlotServer().nurl], {
      availableSpace: 1000,
    });
    expect(announcementChange(undefined, base)).toBe('not published yet');
    expect(announcementChange(base, { ...base })).toBeUndefined();
    expect(announcementChange(base, { ...base, nickname: 'm' })).toBe('nickname changed');
    expect(announcementChange(base, { ...base, nurls: [memorySlotServer().nurl] })).toBe(
      'NURLs changed',
    );
    expect(announcementChange(base, { ...base, version: 'ostrom/0.2.0' })).toBe('version changed');
    expect(announcementChange(base, { ...base, availableSpace: 1099 })).toBeUndefined();
    expect(announcementChange(base, { ...base, availableSpace: 1100 })).toBe(
      'available space changed',
    );
    expect(announcementChange(base, { ...base, availableSpace: 900 })).toBe(
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

describe('createGridMember(options)', () => {
  it('checks its options at once', async () => {
    const s = await setup();
    const base = {
      nurl: s.self.nurl,
      announcement: async () => s.identity,
      announcementWritecap: async () => createWriteCap(),
      checkIntervalSeconds: 60,
      republishIntervalSeconds: 3600,
    };
    expect(() => createGridMember({ ...base, nurl: 'https://example.org/' })).toThrow();
    expect(() => createGridMember({ ...base, introduction: 'gsd:r1:nope,pb://x' })).toThrow(
      expect.objectContaining({ code: 'BAD_INTRODUCTION' }),
    );
    expect(() => createGridMember({ ...base, checkIntervalSeconds: 0 })).toThrow(RangeError);
    expect(() => createGridMember({ ...base, republishIntervalSeconds: Number.NaN })).toThrow(
      RangeError,
    );
    expect(() =>
      createGridMember({ ...base, announcement: undefined as unknown as () => never }),
    ).toThrow(TypeError);
  });

  it('publishes its announcement once, to itself and the introduction’s servers', async () => {
    const s = await setup();
    s.member.start();
    await s.member.check();
    expect(s.timer.scheduled).toBe(1);
    const status = s.member.status();
    expect(status).toMatchObject({
      enabled: true,
      lastError: null,
      directory: { readcap: s.dirReadcap, seqnum: 1, listed: 0, listsThisNode: false },
      announcement: {
        readcap: s.annReadcap,
        seqnum: 1,
        lastReason: 'not published yet',
        body: { ...s.identity, availableSpace: 100 * GB },
      },
      directoryWriter: null,
    });
    expect(status.checks).toBe(2); // the one start() began, then this one
    expect(status.announcement!.servers.map((c) => c.state)).toEqual(['current', 'current']);
    for (const server of s.servers.values()) expect(s.annSeqnumOn(server)).toBe(1);

    // Nothing changed: nothing is written.
    const writes = s.self.calls.testAndWrite;
    await s.timer.fire();
    expect(s.self.calls.testAndWrite).toBe(writes);
    expect(s.annSeqnumOn(s.self)).toBe(1);
    await s.member.stop();
    expect(s.timer.scheduled).toBe(0);
  });

  it('republishes when the space moves 10%, and keeps the figure otherwise', async () => {
    const s = await setup();
    await s.member.check();
    s.space.bytes = 95 * GB;
    await s.member.check();
    expect(s.annSeqnumOn(s.self)).toBe(1);
    s.space.bytes = 89 * GB;
    await s.member.check();
    expect(s.annSeqnumOn(s.self)).toBe(2);
    expect(s.member.status().announcement).toMatchObject({
      lastReason: 'available space changed',
      body: { availableSpace: 89 * GB },
    });
    // Republished for another reason (the interval), the figure stays the one announced.
    s.space.bytes = 88 * GB;
    s.clock.advance(REPUBLISH);
    await s.member.check();
    expect(s.member.status().announcement).toMatchObject({
      seqnum: 3,
      lastReason: 'republish interval',
      body: { availableSpace: 89 * GB },
    });
  });

  it('republishes every republishIntervalSeconds, which renews its leases', async () => {
    const s = await setup({ republishIntervalSeconds: 7200, checkIntervalSeconds: 600 });
    s.member.start();
    await s.member.check();
    const si = parseReadCap(s.annReadcap).storageIndex;
    const leases = () => [...s.self.shares.get(si)!.leases.values()].reduce((a, b) => a + b, 0);
    expect(leases()).toBe(1);
    s.clock.advance(7199);
    await s.timer.fire();
    expect(s.annSeqnumOn(s.self)).toBe(1);
    s.clock.advance(1);
    await s.timer.fire();
    expect(s.annSeqnumOn(s.self)).toBe(2);
    expect(leases()).toBe(2);
  });

  it('gives the same version to a server that lacks it: a new one in the directory, one back up', async () => {
    const s = await setup();
    await s.member.check();
    const other = await s.addServer('other');
    expect(s.annSeqnumOn(other)).toBeUndefined();
    await s.member.check();
    // Copied byte for byte: no new seqnum, so clients see no change.
    expect(s.annSeqnumOn(other)).toBe(1);
    expect(s.annSeqnumOn(s.self)).toBe(1);
    expect(s.member.status().directory).toMatchObject({
      listed: 1,
      listsThisNode: false,
      servers: [{ petname: 'other', answering: true, problem: null }],
    });

    const later = await s.addServer('later');
    later.down = true;
    await s.member.check();
    const copies = s.member.status().announcement!.servers;
    expect(copies.find((c) => c.nurl === later.nurl)).toMatchObject({ state: 'unreachable' });
    expect(s.member.status().directory!.servers[1]).toMatchObject({
      petname: 'later',
      answering: false,
    });
    expect(s.member.status().lastError).toBeNull();
    later.down = false;
    await s.member.check();
    expect(s.annSeqnumOn(later)).toBe(1);
  });

  it('no failure escapes a check: logged, shown, retried', async () => {
    const s = await setup();
    s.space.fail = true;
    await s.member.check();
    expect(s.member.status().lastError).toMatch(/statfs failed/);
    expect(s.logged.some((l) => l.level === 'error')).toBe(true);
    s.space.fail = false;
    await s.member.check();
    expect(s.member.status().lastError).toBeNull();
    expect(s.member.status().announcement!.seqnum).toBe(1);

    // Every server down: the directory is nowhere; the member says so and goes on.
    for (const server of s.servers.values()) server.down = true;
    await s.member.check();
    expect(s.member.status().lastError).toMatch(/no server reached holds the directory/);
    for (const server of s.servers.values()) server.down = false;
    await s.member.check();
    expect(s.member.status().lastError).toBeNull();
  });

  it('onDirectory is told the listed readcaps at each check that read the directory, before publishing', async () => {
    const told: { readcap: string; seqnum: number; announcements: readonly string[] }[] = [];
    let published: number | undefined;
    const s = await setup({
      onDirectory(directory) {
        told.push(directory);
        published = s.annSeqnumOn(s.self);
      },
    });
    await s.member.check();
    expect(told).toEqual([{ readcap: s.dirReadcap, seqnum: 1, announcements: [] }]);
    // Told before this check published (so a node can admit what the directory lists first).
    expect(published).toBeUndefined();
    await s.addServer('other');
    await s.addServer('later');
    await s.member.check();
    const listed = s.member.status().directory!.servers.map((r) => r.readcap);
    expect(listed).toHaveLength(2);
    expect(told.at(-1)).toEqual({ readcap: s.dirReadcap, seqnum: 3, announcements: listed });
    // No directory found: not told (the last list stands); a throwing hook is only logged.
    for (const server of s.servers.values()) server.down = true;
    await s.member.check();
    expect(told).toHaveLength(2);
    for (const server of s.servers.values()) server.down = false;
    const failing = await setup({
      onDirectory() {
        throw new Error('hook failed');
      },
    });
    await failing.member.check();
    expect(failing.member.status().lastError).toBeNull();
    expect(failing.annSeqnumOn(failing.self)).toBe(1);
    expect(failing.logged.some((l) => l.level === 'error')).toBe(true);
  });

  it('onDirectory and the status give the directory’s membership key (undefined or null without one)', async () => {
    const told: (Uint8Array | undefined)[] = [];
    const s = await setup({
      onDirectory: ({ membershipKey }) => told.push(membershipKey),
    });
    await s.member.check();
    expect(told).toEqual([undefined]);
    expect(s.member.status().directory?.membershipKey).toBeNull();
    const key = generateAccountKey().publicKey;
    await s.setMembershipKey(key);
    await s.member.check();
    expect(told.at(-1)).toEqual(key);
    expect(s.member.status().directory).toMatchObject({
      seqnum: 2,
      membershipKey: base32Encode(key),
    });
    // Taken out of the directory: gone from what the node is told.
    await s.setMembershipKey(undefined);
    await s.member.check();
    expect(told).toHaveLength(3);
    expect(told.at(-1)).toBeUndefined();
    expect(s.member.status().directory?.membershipKey).toBeNull();
  });

  it('announce: false reads the directory and publishes nothing', async () => {
    const s = await setup({ announce: false });
    await s.member.check();
    expect(s.member.status()).toMatchObject({ enabled: true, announcement: null });
    expect(s.annSeqnumOn(s.self)).toBeUndefined();
  });

  it('holding the directory: renews its leases every republishIntervalSeconds, copies it where missing', async () => {
    const s = await setup({}, { holdDirectory: true });
    const si = parseReadCap(s.dirReadcap).storageIndex;
    await s.member.check();
    expect(s.self.calls.renewLease).toBe(1);
    expect(s.member.status().directoryWriter).toMatchObject({
      readcap: s.dirReadcap,
      leasesRenewedAt: T0,
      renewed: [s.self.nurl],
      failed: [],
    });
    await s.member.check();
    expect(s.self.calls.renewLease).toBe(1);
    s.clock.advance(REPUBLISH);
    await s.member.check();
    expect(s.self.calls.renewLease).toBe(2);

    // A listed server that lost the directory gets the same version back.
    const other = await s.addServer('other');
    other.shares.delete(si);
    await s.member.check();
    expect(s.member.status().directoryWriter!.lastCopy).toEqual({
      at: s.clock.now(),
      to: [other.nurl],
    });
    const read = await readDocument([other], s.dirReadcap, 'directory');
    expect(read.document?.seqnum).toBe(2);
  });

  it('holding the directory without an introduction: keeps it, announces nothing', async () => {
    const s = await setup({}, { holdDirectory: true, introduction: false });
    s.member.start();
    await s.member.check();
    expect(s.timer.scheduled).toBe(1);
    expect(s.member.status()).toMatchObject({
      enabled: true,
      introduction: null,
      announcement: null,
      directory: { readcap: s.dirReadcap, seqnum: 1, listsThisNode: null },
      directoryWriter: { renewed: [s.self.nurl] },
    });
    expect(s.annSeqnumOn(s.self)).toBeUndefined();
    await s.member.stop();
  });

  it('takes no part without an introduction or a directory', async () => {
    const s = await setup({}, { introduction: false });
    const reads = s.self.calls.read;
    s.member.start();
    await s.member.check();
    expect(s.timer.scheduled).toBe(0);
    expect(s.member.status()).toMatchObject({
      enabled: false,
      directory: null,
      announcement: null,
      lastError: null,
    });
    expect(s.self.calls.read).toBe(reads);
  });
});
