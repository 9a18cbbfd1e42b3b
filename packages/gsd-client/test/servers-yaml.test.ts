import { spawnSync } from 'node:child_process';
import { pyyamlPython } from '@ostrom/test-fixtures';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  createWriteCap,
  type GridServer,
  GsdError,
  mergeServersYaml,
  readCapOf,
  serversYaml,
} from '../src/index.js';
import { announcementFor, memoryServers } from './helpers.js';

// Tahoe reads servers.yaml with PyYAML's safe_load: the output is checked with PyYAML itself
// (the machine's pyenv Python has it; required under CI, like the other real services).
const PYYAML = `import json, sys, yaml
print(json.dumps(yaml.safe_load(sys.stdin.read())))`;

function pyyamlLoad(text: string): unknown {
  const run = spawnSync(python!, ['-c', PYYAML], { input: text, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr || 'python failed');
  return JSON.parse(run.stdout);
}

const python = pyyamlPython('@ostrom/gsd-client servers.yaml read by PyYAML');

function server(nickname: string, overrides: Partial<GridServer> = {}): GridServer {
  const nurls = memoryServers(2).map((s) => s.nurl);
  return {
    petname: nickname,
    readcap: readCapOf(createWriteCap()),
    seqnum: 1,
    announcement: announcementFor(nurls, { nickname }),
    reachable: true,
    ...overrides,
  };
}

/** What Tahoe should read back from the text. */
function expected(servers: readonly GridServer[]) {
  return {
    storage: Object.fromEntries(
      servers.map((s) => [
        s.announcement.serverId,
        {
          ann: {
            nickname: s.announcement.nickname,
            'anonymous-storage-FURL': s.announcement.anonymousStorageFurl,
            'anonymous-storage-NURLs': s.announcement.nurls,
            'permutation-seed-base32': s.announcement.permutationSeed,
          },
        },
      ]),
    ),
  };
}

describe('serversYaml()', () => {
  it('parses back (YAML 1.1, as PyYAML reads it, and 1.2) to the storage block', () => {
    const servers = [server('alpha'), server('beta')];
    const text = serversYaml(servers);
    expect(text.startsWith('storage:\n')).toBe(true);
    expect(parse(text, { version: '1.1' })).toEqual(expected(servers));
    expect(parse(text)).toEqual(expected(servers));
  });

  it('keeps awkward nicknames strings: YAML 1.1 booleans, numbers, sexagesimals, markers', () => {
    const nicknames = [
      'yes',
      'No',
      'on',
      'OFF',
      'y',
      'n',
      '~',
      'null',
      '12:30',
      '0x1f',
      '010',
      '1_000',
      '1e3',
      '.inf',
      '- item',
      '#hash',
      'key: value',
      "it's",
      '"quoted"',
      '&anchor',
      '*alias',
      '!tag',
      '%directive',
      '@at',
      '`tick',
      '|',
      '>',
      '=',
      '',
      ' leading',
      'trailing ',
      'ünïcødé 名前 🚀',
      'back\\slash',
      '[a, b]',
      '{a: b}',
      '? q',
    ];
    const servers = nicknames.map((n) => server(n));
    const text = serversYaml(servers);
    const back = parse(text, { version: '1.1' });
    expect(back).toEqual(expected(servers));
    expect(parse(text, { version: '1.2' })).toEqual(expected(servers));
  });

  it.skipIf(!python)('PyYAML (what Tahoe uses) reads the same thing', () => {
    const servers = ['yes', 'on', '12:30', '0x1f', '=', '~', 'plain', "it's", '名前'].map((n) =>
      server(n),
    );
    expect(pyyamlLoad(serversYaml(servers))).toEqual(expected(servers));
  });

  it('an empty list is an empty storage map', () => {
    expect(parse(serversYaml([]), { version: '1.1' })).toEqual({ storage: {} });
  });

  it('reachableOnly leaves out servers that did not answer', () => {
    const up = server('up');
    const down = server('down', { reachable: false });
    expect(parse(serversYaml([up, down], { reachableOnly: true }))).toEqual(expected([up]));
    expect(parse(serversYaml([up, down]))).toEqual(expected([up, down]));
  });

  it('two announcements claiming one server id: the first in the directory is kept', () => {
    const a = server('first');
    const b = server('second');
    b.announcement.serverId = a.announcement.serverId;
    expect(parse(serversYaml([a, b]))).toEqual(expected([a]));
  });
});

describe('mergeServersYaml()', () => {
  const mine = `# my servers.yaml
storage:
  v0-mine:
    ann:
      nickname: mine # by hand
      anonymous-storage-NURLs: ["pb://AAAA@127.0.0.1:1/swiss#v=1"]
other-key: kept
`;

  it('with no file, writes what serversYaml writes', () => {
    const servers = [server('alpha'), server('beta')];
    const merged = mergeServersYaml(undefined, servers, new Set());
    expect(merged.text).toBe(serversYaml(servers));
    expect(merged).toMatchObject({ changed: true, keptTheirs: [], removed: [] });
    expect(merged.written).toEqual(servers.map((s) => s.announcement.serverId));
  });

  it("adds, replaces and removes its own entries; the user's entries, comments and keys stay", () => {
    const [a, b, c] = [server('a'), server('b'), server('c')];
    const first = mergeServersYaml(mine, [a, b], new Set());
    expect(first.text).toContain('nickname: mine # by hand');
    expect(first.text.startsWith('# my servers.yaml\n')).toBe(true);
    const account = 'pb://BBBB@127.0.0.1:2/account#v=1';
    const second = mergeServersYaml(
      first.text,
      [{ ...b, nurls: [account] }, c],
      new Set(first.written),
    );
    expect(second.removed).toEqual([a.announcement.serverId]);
    const back = parse(second.text, { version: '1.1' });
    expect(Object.keys(back.storage)).toEqual([
      'v0-mine',
      b.announcement.serverId,
      c.announcement.serverId,
    ]);
    expect(back.storage[b.announcement.serverId].ann['anonymous-storage-NURLs']).toEqual([account]);
    expect(back['other-key']).toBe('kept');
    expect(back.storage['v0-mine']).toEqual({
      ann: { nickname: 'mine', 'anonymous-storage-NURLs': ['pb://AAAA@127.0.0.1:1/swiss#v=1'] },
    });
  });

  it("a server the user wrote by hand keeps the user's entry, even when the directory lists it", () => {
    const a = server('a');
    const text = `storage:\n  ${a.announcement.serverId}:\n    ann:\n      nickname: my way\n`;
    const merged = mergeServersYaml(text, [a], new Set());
    expect(merged).toMatchObject({
      changed: false,
      written: [],
      keptTheirs: [a.announcement.serverId],
    });
    expect(merged.text).toBe(text);
  });

  it('refuses a file that is not YAML or not a map, and says which', () => {
    for (const [text, why] of [
      ['storage: [', /not YAML/],
      ['- a list', /not a map/],
      ['storage: 3', /storage: is not a map/],
    ] as const) {
      expect(() => mergeServersYaml(text, [server('a')], new Set())).toThrow(GsdError);
      expect(() => mergeServersYaml(text, [server('a')], new Set())).toThrow(why);
    }
  });

  it('property: a second merge of the same servers changes nothing; entries not ours survive any sequence', () => {
    const pool = ['a', 'b', 'c', 'd', 'e'].map((n) => server(n));
    const poolIds = new Set(pool.map((s) => s.announcement.serverId));
    fc.assert(
      fc.property(
        fc.array(fc.subarray(pool), { minLength: 1, maxLength: 5 }),
        fc.array(fc.stringMatching(/^v0-[a-z]{1,8}$/), { maxLength: 3 }),
        (rounds, handIds) => {
          const hand = [...new Set(handIds)].filter((id) => !poolIds.has(id));
          let text: string | undefined =
            hand.length === 0
              ? undefined
              : `storage:\n${hand.map((id) => `  ${id}:\n    ann:\n      nickname: "${id}"\n`).join('')}`;
          let ours = new Set<string>();
          for (const servers of rounds) {
            const merged = mergeServersYaml(text, servers, ours);
            text = merged.text;
            ours = new Set(merged.written);
            expect(mergeServersYaml(text, servers, ours).changed).toBe(false);
            const keys = Object.keys(parse(text, { version: '1.1' }).storage ?? {});
            expect(keys.sort()).toEqual(
              [...hand, ...servers.map((s) => s.announcement.serverId)].sort(),
            );
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
