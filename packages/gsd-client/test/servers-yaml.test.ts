import { spawnSync } from 'node:child_process';
import { pyyamlPython } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createWriteCap, type GridServer, readCapOf, serversYaml } from '../src/index.js';
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
