import { generateAccountKey } from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import {
  createWriteCap,
  DirectoryWriter,
  GsdError,
  publishAnnouncement,
  readCapOf,
  readDocument,
} from '../src/index.js';
import { announcementFor, memoryServers } from './helpers.js';

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (err) {
    return err instanceof GsdError ? err.code : `not a GsdError: ${(err as Error).message}`;
  }
  return undefined;
}

function setup() {
  const servers = memoryServers(3);
  const writecap = createWriteCap();
  const writer = new DirectoryWriter(writecap, () => servers, { now: () => 1000 });
  return { servers, writecap, readcap: readCapOf(writecap), writer };
}

describe('DirectoryWriter', () => {
  it('create() publishes an empty directory; read() returns it', async () => {
    const { writer } = setup();
    const created = await writer.create();
    expect(created.seqnum).toBe(1);
    expect(created.written).toHaveLength(3);
    expect(created.body).toEqual({ announcements: [] });
    expect(await writer.read()).toEqual({
      kind: 'directory',
      seqnum: 1,
      timestamp: 1000,
      body: { announcements: [] },
    });
  });

  it('create() again keeps the entries and copies them to servers that lacked them', async () => {
    const { writer, servers, readcap } = setup();
    await writer.create();
    await writer.addAnnouncement(readCapOf(createWriteCap()), 'one');
    const fresh = memoryServers(1)[0]!;
    servers.push(fresh);
    const result = await writer.create();
    expect(result.written).toContain(fresh.nurl);
    const read = await readDocument([fresh], readcap, 'directory');
    expect(read.document?.body.announcements.map((e) => e.petname)).toEqual(['one']);
  });

  it('addAnnouncement() lists readcaps with petnames; re-adding renames; a taken petname is BAD_BODY', async () => {
    const { writer } = setup();
    await writer.create();
    const a = readCapOf(createWriteCap());
    const b = readCapOf(createWriteCap());
    await writer.addAnnouncement(a, 'alpha');
    const added = await writer.addAnnouncement(b, 'beta');
    expect(added.seqnum).toBe(3);
    expect(added.body.announcements).toEqual([
      { readcap: a, petname: 'alpha' },
      { readcap: b, petname: 'beta' },
    ]);
    expect(await codeOf(writer.addAnnouncement(b, 'alpha'))).toBe('BAD_BODY');
    const renamed = await writer.addAnnouncement(b, 'gamma');
    expect(renamed.body.announcements[1]).toEqual({ readcap: b, petname: 'gamma' });
    expect(await codeOf(writer.addAnnouncement('gsd:r1:nope', 'x'))).toBe('BAD_CAP');
    expect(await codeOf(writer.addAnnouncement(readCapOf(createWriteCap()), ''))).toBe('BAD_BODY');
  });

  it('addAnnouncement() without a petname takes the announcement’s nickname, or server-<id>', async () => {
    const { writer, servers } = setup();
    await writer.create();
    const gsa = createWriteCap();
    await publishAnnouncement(
      servers,
      gsa,
      announcementFor([servers[0]!.nurl], { nickname: 'alice' }),
    );
    const first = await writer.addAnnouncement(readCapOf(gsa));
    expect(first.body.announcements[0]?.petname).toBe('alice');
    // Same nickname again: taken, so a name from the readcap.
    const gsa2 = createWriteCap();
    await publishAnnouncement(
      servers,
      gsa2,
      announcementFor([servers[1]!.nurl], { nickname: 'alice' }),
    );
    const second = await writer.addAnnouncement(readCapOf(gsa2));
    expect(second.body.announcements[1]?.petname).toMatch(/^server-[a-z2-7]{8}$/);
    // No announcement published yet: a name from the readcap too.
    const third = await writer.addAnnouncement(readCapOf(createWriteCap()));
    expect(third.body.announcements[2]?.petname).toMatch(/^server-/);
  });

  it('removeAnnouncement() by readcap or petname; an unknown one is NOT_FOUND', async () => {
    const { writer } = setup();
    await writer.create();
    const a = readCapOf(createWriteCap());
    const b = readCapOf(createWriteCap());
    await writer.addAnnouncement(a, 'alpha');
    await writer.addAnnouncement(b, 'beta');
    expect((await writer.removeAnnouncement('alpha')).body.announcements).toEqual([
      { readcap: b, petname: 'beta' },
    ]);
    expect((await writer.removeAnnouncement(b)).body.announcements).toEqual([]);
    expect(await codeOf(writer.removeAnnouncement('beta'))).toBe('NOT_FOUND');
  });

  it('setMembershipKey(publicKey) publishes it; add, remove and create() keep it', async () => {
    const { writer, servers, readcap } = setup();
    const key = generateAccountKey().publicKey;
    expect(await codeOf(writer.setMembershipKey(key))).toBe('NOT_FOUND');
    await writer.create();
    const set = await writer.setMembershipKey(key);
    expect(set.seqnum).toBe(2);
    expect(set.body).toEqual({ announcements: [], membershipKey: key });
    const a = readCapOf(createWriteCap());
    expect((await writer.addAnnouncement(a, 'alpha')).body.membershipKey).toEqual(key);
    expect((await writer.addAnnouncement(a, 'renamed')).body.membershipKey).toEqual(key);
    expect((await writer.removeAnnouncement(a)).body.membershipKey).toEqual(key);
    expect((await writer.create()).body.membershipKey).toEqual(key);
    const read = await readDocument(servers, readcap, 'directory');
    expect(read.document?.body).toEqual({ announcements: [], membershipKey: key });
    // A new key replaces it; the entries stay.
    await writer.addAnnouncement(a, 'alpha');
    const other = generateAccountKey().publicKey;
    expect((await writer.setMembershipKey(other)).body).toEqual({
      announcements: [{ readcap: a, petname: 'alpha' }],
      membershipKey: other,
    });
    expect((await writer.read()).body.membershipKey).toEqual(other);
  });

  it('setMembershipKey() refuses a key of another length with RangeError, writing nothing', async () => {
    const { writer } = setup();
    await writer.create();
    for (const key of [new Uint8Array(31), new Uint8Array(33), new Uint8Array(0)]) {
      await expect(writer.setMembershipKey(key)).rejects.toThrow(RangeError);
    }
    expect((await writer.read()).seqnum).toBe(1);
  });

  it('changes need an existing directory (NOT_FOUND) and a reachable server (UNREACHABLE)', async () => {
    const { writer, servers } = setup();
    expect(await codeOf(writer.read())).toBe('NOT_FOUND');
    expect(await codeOf(writer.addAnnouncement(readCapOf(createWriteCap()), 'x'))).toBe(
      'NOT_FOUND',
    );
    for (const s of servers) s.down = true;
    expect(await codeOf(writer.read())).toBe('UNREACHABLE');
    expect(await codeOf(writer.create())).toBe('UNREACHABLE');
  });

  it('a change is based on the newest copy, even if only one server has it', async () => {
    const { writer, servers } = setup();
    await writer.create();
    servers[1]!.down = true;
    servers[2]!.down = true;
    await writer.addAnnouncement(readCapOf(createWriteCap()), 'only-on-0');
    servers[1]!.down = false;
    servers[2]!.down = false;
    servers[0]!.down = true;
    // Server 0 (the only one with seqnum 2) is down: the change starts from seqnum 1.
    const partial = await writer.addAnnouncement(readCapOf(createWriteCap()), 'second');
    expect(partial.seqnum).toBe(2);
    servers[0]!.down = false;
    // Both now hold a seqnum 2; the next change settles on one and writes 3 everywhere.
    const settled = await writer.addAnnouncement(readCapOf(createWriteCap()), 'third');
    expect(settled.seqnum).toBe(3);
    expect(settled.written).toHaveLength(3);
  });
});
