import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createWriteCap,
  formatIntroduction,
  memorySlotServer,
  parseWriteCap,
  publishDocument,
} from '@ostrom/gsd-client';
import { manualClock, tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import { announcementBody, announcementWritecap } from '../src/gsd.js';
import { initNode, type LoadedNode, PRIVATE_FILES, writePrivateLine } from '../src/node-dir.js';
import { createNodeGsd } from '../src/node-gsd.js';
import { nodeFurl } from '../src/server.js';
import { APPLICATION_VERSION } from '../src/version.js';
import { manualTimer } from './node-harness.js';

// The node's adapter onto @ostrom/gsd-client's grid member (whose behaviour is tested in that
// package): what it takes from the node directory and its config, against servers in memory.

const T0 = 1_800_000_000;

async function setup(
  gsd: Partial<LoadedNode['config']['gsd']> = {},
  options: { holdDirectory?: boolean } = {},
) {
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
  await publishDocument([self, intro], dirWritecap, 'directory', { announcements: [] });
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
  const logged: { level: string; msg?: string | undefined }[] = [];
  const log = (level: string) => (_obj: object, msg?: string) => logged.push({ level, msg });
  const furl = nodeFurl(loaded, { swissnumFor: () => 'a'.repeat(32) });
  const timer = manualTimer();
  const gsdService = createNodeGsd({
    node,
    nurl: self.nurl,
    furl,
    availableSpace: async () => 12_345.6,
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    now: clock.now,
    every: timer.every,
    connect: (nurl) => {
      const server = servers.get(nurl);
      if (!server) throw new Error(`no such server ${nurl}`);
      return server;
    },
  });
  return { node, gsd: gsdService, furl, self, dirReadcap, logged, timer };
}

describe('createNodeGsd: the node’s grid service directory, from its directory and config', () => {
  it('announces the node as its config and private files say, the slot made once', async () => {
    const s = await setup({ checkIntervalSeconds: 60 });
    s.gsd.start();
    await s.gsd.check();
    const { readcap } = await announcementWritecap(s.node);
    expect(s.gsd.status()).toMatchObject({
      enabled: true,
      lastError: null,
      checkIntervalSeconds: 60,
      republishIntervalSeconds: s.node.config.gsd.republishIntervalSeconds,
      directory: { readcap: s.dirReadcap, seqnum: 1 },
      announcement: {
        readcap,
        seqnum: 1,
        body: {
          nickname: 'unit',
          serverId: s.node.serverId,
          nurls: [s.self.nurl],
          anonymousStorageFurl: s.furl,
          permutationSeed: s.node.permutationSeed,
          availableSpace: 12_345,
          version: APPLICATION_VERSION,
        },
      },
      directoryWriter: null,
    });
    expect(s.timer.scheduled).toBe(1);
    expect(s.logged.filter((l) => l.msg === 'made the slot of this node’s announcement')).toEqual([
      { level: 'info', msg: 'made the slot of this node’s announcement' },
    ]);
    await s.gsd.stop();
  });

  it('keeps the directory whose writecap is in private/; a damaged file is shown, not thrown', async () => {
    const s = await setup({ announce: false }, { holdDirectory: true });
    await s.gsd.check();
    expect(s.gsd.status()).toMatchObject({
      announcement: null,
      directoryWriter: { readcap: s.dirReadcap, renewed: [s.self.nurl] },
    });
    await writeFile(join(s.node.dir, PRIVATE_FILES.gsdDirectory), 'gsd:w1:damaged\n');
    await s.gsd.check();
    expect(s.gsd.status().lastError).toMatch(/is damaged: not a grid service directory writecap/);
    expect(s.gsd.status().checks).toBe(2);
  });

  it('takes no part without [gsd] introduction or a directory held', async () => {
    const s = await setup({ introduction: undefined });
    s.gsd.start();
    await s.gsd.check();
    expect(s.timer.scheduled).toBe(0);
    expect(s.gsd.status()).toMatchObject({ enabled: false, directory: null, announcement: null });
    expect(s.self.calls.testAndWrite).toBe(1); // the directory's setup only
  });
});

describe('announcementBody(node, current)', () => {
  it('announces whole bytes, never below zero', async () => {
    const node = await initNode(join(await tempDir('gsd-body-'), 'node'), { nickname: 'n' });
    const current = { nurls: [memorySlotServer().nurl], furl: 'pb://x@tcp:h:1/s' };
    expect(announcementBody(node, { ...current, availableSpace: 10.9 }).availableSpace).toBe(10);
    expect(announcementBody(node, { ...current, availableSpace: -5 }).availableSpace).toBe(0);
    expect(announcementBody(node, { ...current, availableSpace: 1e300 }).availableSpace).toBe(
      Number.MAX_SAFE_INTEGER,
    );
  });
});
