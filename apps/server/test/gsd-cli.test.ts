import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createWriteCap, parseWriteCap, readCapOf } from '@ostrom/gsd-client';
import { formatNurl } from '@ostrom/protocol';
import { freePort, tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../src/config.js';
import { NodeError } from '../src/errors.js';
import { PRIVATE_FILES } from '../src/node-dir.js';
import { type GridNode, gridNodes } from './gsd-harness.js';
import { ostrom } from './helpers.js';

// The `ostrom gsd` and `ostrom grid` commands: what each prints, with and without --json, and
// what each refuses (a bad cap or introduction text: one line, exit 2; a server that does not
// answer: one line naming it, exit 1; never a stack trace).

/** One line on stderr, nothing on stdout. */
function oneLine(result: { stdout: string; stderr: string }): string {
  const lines = result.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('(add --help'));
  expect(lines).toHaveLength(1);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stdout).toBe('');
  return lines[0]!;
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** One node, running, holding a directory that lists it. */
async function oneNodeGrid(): Promise<{ a: GridNode; introduction: string; readcap: string }> {
  const [a] = (await gridNodes(1)) as [GridNode];
  await a.start();
  const created = JSON.parse((await a.cli(['gsd', 'create', '--json'])).stdout) as {
    introduction: string;
  };
  await a.configure('introduction', JSON.stringify(created.introduction));
  await a.stop();
  await a.start();
  await a.running!.gsd.check();
  const { readcap } = JSON.parse((await a.cli(['gsd', 'announcement', '--json'])).stdout) as {
    readcap: string;
  };
  return { a, introduction: created.introduction, readcap };
}

/** A NURL nobody listens at. */
async function deadNurl(): Promise<string> {
  return formatNurl({
    spkiHash: 'A'.repeat(43),
    host: '127.0.0.1',
    port: await freePort(),
    swissnum: 'a'.repeat(32),
  });
}

describe('ostrom gsd create', () => {
  it('creates the directory on this node, keeps the writecap 0600, prints it and the introduction', async () => {
    const [a] = (await gridNodes(1)) as [GridNode];
    await a.start();
    const human = await a.cli(['gsd', 'create']);
    expect(human.code).toBe(0);
    const writecap = (await readFile(join(a.dir, PRIVATE_FILES.gsdDirectory), 'utf8')).trim();
    expect(writecap).toMatch(/^gsd:w1:[a-z2-7]+$/);
    expect(await mode(join(a.dir, PRIVATE_FILES.gsdDirectory))).toBe(0o600);
    const introduction = `${readCapOf(writecap)},${a.running!.nurl}`;
    expect(human.stdout).toContain(`  ${writecap}\n`);
    expect(human.stdout).toContain(`  ${introduction}\n`);

    // Once only: a second create is refused, naming the way out.
    const again = await a.cli(['gsd', 'create']);
    expect(again.code).toBe(1);
    expect(oneLine(again)).toMatch(/^ostrom: this node already holds a directory .*--force/);

    // --force: a new one; the old writecap is kept aside, never deleted.
    const forced = await a.cli(['gsd', 'create', '--force', '--json']);
    expect(forced.code).toBe(0);
    const json = JSON.parse(forced.stdout) as Record<string, string>;
    expect(Object.keys(json).sort()).toEqual(
      ['file', 'introduction', 'membershipKey', 'movedAside', 'readcap', 'writecap'].sort(),
    );
    expect(json.writecap).not.toBe(writecap);
    expect(json.readcap).toBe(readCapOf(json.writecap!));
    expect(json.introduction).toBe(`${json.readcap},${a.running!.nurl}`);
    expect((await readFile(json.movedAside!, 'utf8')).trim()).toBe(writecap);
    expect(await mode(json.movedAside!)).toBe(0o600);

    // introduction-text prints the same text.
    expect((await a.cli(['gsd', 'introduction-text'])).stdout).toBe(`${json.introduction}\n`);
    expect(JSON.parse((await a.cli(['gsd', 'introduction-text', '--json'])).stdout)).toEqual({
      introduction: json.introduction,
      readcap: json.readcap,
      nurls: [a.running!.nurl],
    });
  });

  it('refuses with one line when the node does not run, and keeps nothing', async () => {
    const [a] = (await gridNodes(1)) as [GridNode];
    const result = await a.cli(['gsd', 'create']);
    expect(result.code).toBe(1);
    expect(oneLine(result)).toMatch(
      /^ostrom: this node did not take the directory at pb:\/\/.*is it running \(`ostrom run`\)\? Nothing was kept$/,
    );
    expect(existsSync(join(a.dir, PRIVATE_FILES.gsdDirectory))).toBe(false);
    // The announcement's readcap is printed (its slot made), whether published or not unknown.
    const ann = await a.cli(['gsd', 'announcement']);
    expect(ann.code).toBe(0);
    expect(ann.stdout).toMatch(/^gsd:r1:[a-z2-7]+\n$/);
    expect(ann.stderr).toContain(`created ${PRIVATE_FILES.gsdAnnouncement}`);
    expect(ann.stderr).toContain('whether it is published is unknown');
    expect(JSON.parse((await a.cli(['gsd', 'announcement', '--json'])).stdout)).toMatchObject({
      readcap: ann.stdout.trim(),
      created: false,
      published: null,
    });
    // Nor is there any directory to speak of.
    const text = await a.cli(['gsd', 'introduction-text']);
    expect(text.code).toBe(1);
    expect(oneLine(text)).toMatch(/knows no grid service directory/);
    const show = await a.cli(['gsd', 'add-announcement', readCapOf(createWriteCap())]);
    expect(show.code).toBe(1);
    expect(oneLine(show)).toMatch(/holds no grid service directory .*ostrom gsd create/);
  });
});

describe('ostrom gsd announcement, add-announcement, remove-announcement, show', () => {
  it('prints, lists, renames, shows and removes', async () => {
    const { a, readcap } = await oneNodeGrid();
    expect(await mode(join(a.dir, PRIVATE_FILES.gsdAnnouncement))).toBe(0o600);
    const human = await a.cli(['gsd', 'announcement']);
    expect(human).toEqual({ code: 0, stdout: `${readcap}\n`, stderr: '' });
    const json = JSON.parse((await a.cli(['gsd', 'announcement', '--json'])).stdout);
    expect(json).toMatchObject({
      readcap,
      created: false,
      published: true,
      seqnum: 1,
      announcement: { nickname: 'node-a', serverId: a.running!.node.serverId },
    });

    const added = await a.cli(['gsd', 'add-announcement', readcap]);
    expect(added.code).toBe(0);
    expect(added.stdout).toBe(
      `listed "node-a" (node-a, ${a.running!.node.serverId})\nthe directory (seqnum 2) written to 1 of 1 server(s)\n`,
    );
    const again = await a.cli(['gsd', 'add-announcement', readcap]);
    expect(again.code).toBe(1);
    expect(oneLine(again)).toBe(
      'ostrom: this announcement is listed already, as "node-a" (--petname renames it)',
    );
    const renamed = await a.cli([
      'gsd',
      'add-announcement',
      readcap,
      '--petname',
      'first one',
      '--json',
    ]);
    expect(renamed.code).toBe(0);
    expect(JSON.parse(renamed.stdout)).toMatchObject({
      petname: 'first one',
      renamedFrom: 'node-a',
      readcap,
      seqnum: 3,
      written: [a.running!.nurl],
      conflicts: [],
      failed: [],
    });

    const shown = await a.cli(['gsd', 'show']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^directory gsd:r1:/);
    expect(shown.stdout).toContain('seqnum 3,');
    expect(shown.stdout).toContain('(this node holds its writecap)');
    expect(shown.stdout).toMatch(/│ first one │ node-a +│ v0-.*│ yes +│/);
    const showJson = JSON.parse((await a.cli(['gsd', 'show', '--json'])).stdout);
    expect(showJson).toMatchObject({ writer: true, seqnum: 3, problems: [] });
    expect(showJson.servers).toEqual([
      {
        petname: 'first one',
        readcap,
        seqnum: 1,
        publishedAt: expect.any(Number),
        announcement: expect.objectContaining({ nurls: [a.running!.nurl] }),
        reachable: true,
        problem: null,
      },
    ]);

    // An announcement no server holds (a valid readcap of nothing published).
    const nowhere = await a.cli(['gsd', 'add-announcement', readCapOf(createWriteCap())]);
    expect(nowhere.code).toBe(1);
    expect(oneLine(nowhere)).toMatch(/^ostrom: no server reached holds this announcement/);

    const unknown = await a.cli(['gsd', 'remove-announcement', 'nobody']);
    expect(unknown.code).toBe(1);
    expect(oneLine(unknown)).toBe('ostrom: the directory lists no announcement "nobody"');
    const removed = await a.cli(['gsd', 'remove-announcement', 'first one']);
    expect(removed).toMatchObject({
      code: 0,
      stdout: 'removed "first one"\nthe directory (seqnum 4) written to 1 of 1 server(s)\n',
    });
    const empty = await a.cli(['gsd', 'show']);
    expect(empty.stdout).toContain('it lists no announcement yet');
    // By readcap too.
    await a.cli(['gsd', 'add-announcement', readcap]);
    const byCap = await a.cli(['gsd', 'remove-announcement', readcap, '--json']);
    expect(JSON.parse(byCap.stdout)).toMatchObject({ petname: 'node-a', readcap, seqnum: 6 });
  });

  it('refuses bad caps, petnames and writecaps with one line and exit 2', async () => {
    const [a] = (await gridNodes(1)) as [GridNode];
    const readcap = readCapOf(createWriteCap());
    const typo = `${readcap.slice(0, 20)}${readcap[20] === 'a' ? 'b' : 'a'}${readcap.slice(21)}`;
    const writecap = createWriteCap();
    for (const [args, message] of [
      [['gsd', 'add-announcement', typo], /checksum does not match/],
      [['gsd', 'add-announcement', readcap.toUpperCase()], /starts with "gsd:r1:"/],
      [['gsd', 'add-announcement', readcap.slice(0, -1)], /characters after "gsd:r1:"/],
      [['gsd', 'add-announcement', writecap], /this is a writecap, not a readcap/],
      [['gsd', 'add-announcement', readcap, '--petname', ' padded'], /petname of 1–64/],
      [['gsd', 'add-announcement', readcap, '--petname', 'x'.repeat(65)], /petname of 1–64/],
      [['gsd', 'add-announcement', readcap, '--petname', 'tab\there'], /petname of 1–64/],
      [['gsd', 'add-announcement'], /missing required argument/],
      [['gsd', 'remove-announcement', writecap], /this is a writecap/],
      [['gsd', 'remove-announcement', typo], /checksum does not match/],
      [['gsd', 'remove-announcement', ''], /petname of 1–64/],
    ] as const) {
      const result = await a.cli([...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(oneLine(result)).toMatch(message);
    }
  });

  it('a damaged writecap file is named', async () => {
    const { a } = await oneNodeGrid();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(a.dir, PRIVATE_FILES.gsdDirectory), 'gsd:w1:nonsense\n');
    const result = await a.cli(['gsd', 'show']);
    expect(result.code).toBe(1);
    expect(oneLine(result)).toMatch(
      /private\/gsd-directory\.writecap is damaged: not a grid service directory writecap/,
    );
  });
});

describe('ostrom grid join and grid servers', () => {
  it('refuses bad introduction texts and options with one line and exit 2', async () => {
    const state = join(await tempDir('gsd-cli-'), 'grid');
    const readcap = readCapOf(createWriteCap());
    const nurl = await deadNurl();
    for (const [text, message] of [
      [readcap, /<readcap>,<nurl>/],
      [`${readcap},`, /NURL 1 is not a storage NURL/],
      [`${readcap},https://example.net`, /NURL 1 is not a storage NURL/],
      [`${readcap},${nurl},${nurl}`, /a NURL appears twice/],
      [`${createWriteCap()},${nurl}`, /this is a writecap, not a readcap/],
      [`gsd:r1:abc,${nurl}`, /its readcap is not one/],
      ['', /<readcap>,<nurl>/],
    ] as const) {
      const result = await ostrom(['grid', 'join', text, '--state', state]);
      expect(result.code, text).toBe(2);
      expect(oneLine(result)).toMatch(message);
    }
    expect(existsSync(state)).toBe(false);
    const both = await ostrom(['grid', 'servers', '--state', state, '--json', '--yaml']);
    expect(both.code).toBe(2);
    expect(oneLine(both)).toBe('ostrom: give --json or --yaml, not both');
    const reachable = await ostrom(['grid', 'servers', '--state', state, '--reachable-only']);
    expect(reachable.code).toBe(2);
    const notJoined = await ostrom(['grid', 'servers', '--state', state]);
    expect(notJoined.code).toBe(1);
    expect(oneLine(notJoined)).toBe(
      `ostrom: no grid joined in ${state}: run \`ostrom grid join INTRODUCTION-TEXT\` first`,
    );
  });

  it('a grid whose servers do not answer cannot be joined: one line, nothing kept', async () => {
    const state = join(await tempDir('gsd-cli-'), 'grid');
    const result = await ostrom([
      'grid',
      'join',
      `${readCapOf(createWriteCap())},${await deadNurl()}`,
      '--state',
      state,
    ]);
    expect(result.code).toBe(1);
    expect(oneLine(result)).toMatch(/^ostrom: cannot join: none of its servers answered \(/);
    expect(existsSync(state) ? await readdir(state) : []).toEqual([]);
  });

  it('joins, prints servers as a table, JSON and servers.yaml; another grid needs --force', async () => {
    const { a, introduction, readcap } = await oneNodeGrid();
    await a.cli(['gsd', 'add-announcement', readcap]);
    const root = await tempDir('gsd-cli-');
    const state = join(root, 'grid');
    const joined = await ostrom(['grid', 'join', introduction, '--state', state]);
    expect(joined.code).toBe(0);
    expect(joined.stdout).toMatch(
      /^joined the grid: 1 storage server\(s\), 1 answering \(directory seqnum 2\); state in /,
    );
    expect(joined.stdout).toMatch(/│ node-a +│ node-a +│ v0-/);
    expect((await readdir(state)).sort()).toEqual(['introduction', 'servers.json']);
    expect(await mode(join(state, 'introduction'))).toBe(0o600);
    expect(await mode(join(state, 'servers.json'))).toBe(0o600);
    expect(await mode(state)).toBe(0o700);

    // The default state directory is under $XDG_CONFIG_HOME.
    const xdg = await ostrom(['grid', 'join', introduction, '--json'], {
      env: { XDG_CONFIG_HOME: root },
    });
    expect(JSON.parse(xdg.stdout).stateDir).toBe(join(root, 'ostrom', 'grid'));

    const table = await ostrom(['grid', 'servers', '--state', state]);
    expect(table).toMatchObject({ code: 0, stderr: '' });
    expect(table.stdout).toMatch(/│ node-a +│ node-a +│ v0-.*│ yes +│/);

    const json = JSON.parse((await ostrom(['grid', 'servers', '--state', state, '--json'])).stdout);
    expect(json).toEqual({
      directory: parseWriteCap(
        (await readFile(join(a.dir, PRIVATE_FILES.gsdDirectory), 'utf8')).trim(),
      ).readcap,
      seqnum: 2,
      refreshedAt: expect.any(Number),
      fromSavedState: false,
      changes: { added: [], removed: [], updated: [] },
      servers: [
        {
          petname: 'node-a',
          readcap,
          seqnum: 1,
          reachable: true,
          announcement: {
            nickname: 'node-a',
            serverId: a.running!.node.serverId,
            nurls: [a.running!.nurl],
            anonymousStorageFurl: a.running!.furl,
            permutationSeed: a.running!.node.permutationSeed,
            availableSpace: expect.any(Number),
            version: 'ostrom/0.1.0',
          },
        },
      ],
      problems: [],
    });

    // servers.yaml, shaped as the reference client configuration
    // (docs/TAHOE-COMPATIBILITY.md fact 18).
    const yaml = await ostrom(['grid', 'servers', '--state', state, '--yaml']);
    expect(yaml).toMatchObject({ code: 0, stderr: '' });
    expect(parseYaml(yaml.stdout)).toEqual({
      storage: {
        [a.running!.node.serverId]: {
          ann: {
            nickname: 'node-a',
            'anonymous-storage-FURL': a.running!.furl,
            'anonymous-storage-NURLs': [a.running!.nurl],
            'permutation-seed-base32': a.running!.node.permutationSeed,
          },
        },
      },
    });
    expect(a.running!.furl).toMatch(/^pb:\/\/[a-z2-7]{32}@tcp:127\.0\.0\.1:1\/[a-z2-7]+$/);
    expect(a.running!.nurl).toMatch(/#v=1$/);

    // Another grid: refused without --force.
    const other = `${readCapOf(createWriteCap())},${a.running!.nurl}`;
    const refused = await ostrom(['grid', 'join', other, '--state', state]);
    expect(refused.code).toBe(1);
    expect(oneLine(refused)).toMatch(/holds another grid .*--force replaces it/);
    // Joining the same grid again is fine (e.g. with more NURLs).
    expect((await ostrom(['grid', 'join', introduction, '--state', state])).code).toBe(0);

    // The panel's view of it, after the node's next check.
    await a.running!.gsd.check();
    const token = (await readFile(a.running!.adminTokenPath, 'utf8')).trim();
    const response = await fetch(`${a.running!.adminUrl}/admin/v1/gsd`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(200);
    const status = (await response.json()) as Record<string, unknown>;
    expect(status).toMatchObject({
      enabled: true,
      introduction,
      lastError: null,
      directory: { listed: 1, listsThisNode: true },
      announcement: { readcap, seqnum: 1 },
      directoryWriter: { renewed: [a.running!.nurl], failed: [] },
    });
  });
});

describe('ostrom init --introduction', () => {
  it('writes [gsd] introduction, checked first', async () => {
    const text = `${readCapOf(createWriteCap())},${await deadNurl()}`;
    const dir = join(await tempDir('gsd-init-'), 'node');
    const bad = await ostrom(['init', dir, '--introduction', 'nonsense']);
    expect(bad.code).toBe(2);
    expect(oneLine(bad)).toMatch(/--introduction <TEXT>.*<readcap>,<nurl>/);
    expect(existsSync(dir)).toBe(false);
    expect((await ostrom(['init', dir, '--introduction', text])).code).toBe(0);
    const config = parseConfig(await readFile(join(dir, 'ostrom.toml'), 'utf8'));
    expect(config.gsd.introduction).toBe(text);
  });
});

describe('[gsd] config', () => {
  const readcap = readCapOf(createWriteCap());
  const nurl = formatNurl({
    spkiHash: 'A'.repeat(43),
    host: '127.0.0.1',
    port: 3457,
    swissnum: 'a'.repeat(32),
  });

  it('reads [gsd]', () => {
    const config = parseConfig(
      `[gsd]\nintroduction = " ${readcap},${nurl} "\nannounce = false\nrepublish_interval = "12h"\ncheck_interval = "5m"`,
    );
    expect(config.gsd).toEqual({
      introduction: `${readcap},${nurl}`,
      announce: false,
      republishIntervalSeconds: 43_200,
      checkIntervalSeconds: 300,
      directoryQuotaBytes: 8 * 1024 ** 2,
    });
    // Short leases shorten the default republication, so that leases never lapse.
    expect(parseConfig('[leases]\nduration = "12h"').gsd).toMatchObject({
      republishIntervalSeconds: 21_600,
      checkIntervalSeconds: 600,
    });
  });

  it.each([
    ['introduction = "nonsense"', '[gsd] introduction: not an introduction text'],
    ['introduction = 5', '[gsd] introduction: expected an introduction text'],
    [`introduction = "${readcap}"`, '[gsd] introduction: not an introduction text'],
    [`introduction = "${readcap},pb://x"`, 'NURL 1 is not a storage NURL'],
    ['announce = "yes"', '[gsd] announce: expected true or false'],
    [
      'republish_interval = "30m"',
      '[gsd] republish_interval: expected a duration of at least 1 hour',
    ],
    [
      'republish_interval = "20d"',
      '[gsd] republish_interval: must be at most half of [leases] duration (31d)',
    ],
    ['check_interval = 5', '[gsd] check_interval: expected a duration of at least 10 seconds'],
    [
      'republish_interval = "2h"\ncheck_interval = "3h"',
      '[gsd] check_interval: must not exceed republish_interval',
    ],
    ['poll = 5', '[gsd] unknown key "poll"'],
  ])('%j → one message naming the key', (text, message) => {
    let error: unknown;
    try {
      parseConfig(`[gsd]\n${text}`);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NodeError);
    expect((error as NodeError).message).toContain(message);
    expect((error as NodeError).message).not.toContain('\n');
  });
});
