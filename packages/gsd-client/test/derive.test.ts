import { hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createWriteCap,
  deriveReadKey,
  deriveSlotSecrets,
  deriveStorageIndex,
  memorySlotServer,
  parseReadCap,
  parseWriteCap,
  writeCapFromSeed,
} from '../src/index.js';

// The first 8 bytes of the write enabler of seed 07…07 for server id 01…01.
const WE_PREFIX = 'b468e6b573d67fd3';
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('derivations', () => {
  it('are deterministic: one seed always gives the same read key, index and secrets', () => {
    const seed = new Uint8Array(32).fill(7);
    const server = memorySlotServer();
    expect(hex(deriveReadKey(seed))).toBe(hex(deriveReadKey(seed.slice())));
    expect(deriveStorageIndex(deriveReadKey(seed))).toBe(deriveStorageIndex(deriveReadKey(seed)));
    const a = deriveSlotSecrets(seed, server.serverId);
    const b = deriveSlotSecrets(seed.slice(), server.serverId.slice());
    expect(a).toEqual(b);
    expect(parseWriteCap(writeCapFromSeed(seed))).toEqual(parseWriteCap(writeCapFromSeed(seed)));
  });

  it('known answers pin the format (changing an info string breaks every existing cap)', () => {
    const seed = new Uint8Array(32).fill(7);
    const w = writeCapFromSeed(seed);
    const parsed = parseWriteCap(w);
    const read = parseReadCap(parsed.readcap);
    expect(hex(read.readKey)).toBe(hex(deriveReadKey(seed)));
    expect(parsed.storageIndex).toBe(deriveStorageIndex(read.readKey));
    expect(w).toBe('gsd:w1:a4dqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dqobyha4dww5afm4');
    expect(parsed.readcap).toBe(
      'gsd:r1:5jfgyy7ctrjavpxvkb5rglwf7gkuo5vox27hxescd3vgsfcg2iwhimvsqh6737zmtb7tce44vscqteb7b2o3f5icemlxdwwn4xagxn7npcwsg',
    );
    expect(parsed.storageIndex).toBe('uz7dht4cflr4aezuuay6c7gkmy');
    const serverId = new Uint8Array(32).fill(1);
    const secrets = deriveSlotSecrets(seed, serverId);
    expect(hex(secrets.writeEnabler).slice(0, 16)).toBe(WE_PREFIX);
    // Each secret is the README's HKDF(seed, server id, info, 32), computed here independently.
    const spec = (info: string) =>
      hex(new Uint8Array(hkdfSync('sha256', seed, serverId, info, 32)));
    expect(hex(secrets.writeEnabler)).toBe(spec('ostrom-gsd-v1 write enabler'));
    expect(hex(secrets.renewSecret)).toBe(spec('ostrom-gsd-v1 lease renew secret'));
    expect(hex(secrets.cancelSecret)).toBe(spec('ostrom-gsd-v1 lease cancel secret'));
    expect(hex(read.readKey)).toBe(
      hex(
        new Uint8Array(hkdfSync('sha256', seed, new Uint8Array(0), 'ostrom-gsd-v1 read key', 32)),
      ),
    );
  });

  it('give distinct write enablers and lease secrets per server', () => {
    const seed = parseWriteCap(createWriteCap()).seed;
    const servers = [memorySlotServer(), memorySlotServer(), memorySlotServer()];
    const all = servers.map((s) => deriveSlotSecrets(seed, s.serverId));
    const values = all.flatMap((s) => [s.writeEnabler, s.renewSecret, s.cancelSecret].map(hex));
    expect(new Set(values).size).toBe(values.length);
    for (const s of all) {
      expect(s.writeEnabler).toHaveLength(32);
      expect(s.renewSecret).toHaveLength(32);
      expect(s.cancelSecret).toHaveLength(32);
    }
  });

  it('differ between writecaps, and none equals the read key or the seed', () => {
    const server = memorySlotServer();
    const a = parseWriteCap(createWriteCap()).seed;
    const b = parseWriteCap(createWriteCap()).seed;
    const sa = deriveSlotSecrets(a, server.serverId);
    const sb = deriveSlotSecrets(b, server.serverId);
    expect(hex(sa.writeEnabler)).not.toBe(hex(sb.writeEnabler));
    const own = [hex(a), hex(deriveReadKey(a))];
    for (const v of [sa.writeEnabler, sa.renewSecret, sa.cancelSecret])
      expect(own).not.toContain(hex(v));
  });

  it('deriveSlotSecrets() refuses an empty server id (TypeError)', () => {
    expect(() => deriveSlotSecrets(new Uint8Array(32), new Uint8Array(0))).toThrow(TypeError);
  });
});
