import { base32Encode, decodeCbor, encodeCbor, generateAccountKey } from '@ostrom/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AnnouncementBody,
  createWriteCap,
  type DirectoryBody,
  type DocumentKind,
  decodeSlotData,
  encodeSlotData,
  GsdError,
  memorySlotServer,
  openDocument,
  parseReadCap,
  parseWriteCap,
  readCapOf,
  readDocument,
  sealDocument,
  writeCapFromSeed,
} from '../src/index.js';
import { announcementFor } from './helpers.js';
import { sealRaw, slotRaw } from './spec.js';

function keysOf(writecap: string) {
  const { seed, readcap } = parseWriteCap(writecap);
  const read = parseReadCap(readcap);
  return { seed, readcap, read, sealing: { seed, ...read } };
}

function refusal(fn: () => unknown): { code: string; reason: string | undefined } {
  try {
    fn();
  } catch (err) {
    if (err instanceof GsdError) return { code: err.code, reason: err.reason };
    throw err;
  }
  throw new Error('expected a refusal');
}

/** Decodes a document, changes top-level fields, encodes it again. */
function edit(doc: Uint8Array, change: (m: Map<string, unknown>) => void): Uint8Array {
  const map = decodeCbor(doc) as Map<string, unknown>;
  change(map);
  return encodeCbor(map);
}

const nurl = memorySlotServer().nurl;
const directory: DirectoryBody = {
  announcements: [
    { readcap: readCapOf(createWriteCap()), petname: 'alpha' },
    { readcap: readCapOf(createWriteCap()), petname: 'beta ß' },
  ],
};

describe('documents', () => {
  const owner = keysOf(createWriteCap());
  const other = keysOf(createWriteCap());

  it('sealDocument() → openDocument() gives back kind, seqnum, timestamp and body', () => {
    const doc = sealDocument(owner.sealing, 'directory', 7, 1_700_000_000, directory);
    expect(openDocument(doc, owner.read, 'directory')).toEqual({
      kind: 'directory',
      seqnum: 7,
      timestamp: 1_700_000_000,
      body: directory,
    });
    const ann = announcementFor([nurl]);
    const a = sealDocument(owner.sealing, 'announcement', 1, 5, ann);
    expect(openDocument(a, owner.read, 'announcement').body).toEqual(ann);
  });

  it('a document sealed by the specification opens; the wire names of announcement fields', () => {
    const ann = announcementFor([nurl], { nickname: 'spec' });
    const wire = {
      nickname: ann.nickname,
      'server-id': ann.serverId,
      nurls: ann.nurls,
      'anonymous-storage-FURL': ann.anonymousStorageFurl,
      'permutation-seed-base32': ann.permutationSeed,
      'available-space': ann.availableSpace,
      version: ann.version,
      'a-later-field': 'ignored by version 1 readers',
    };
    const doc = sealRaw({
      seed: owner.seed,
      key: owner.read.verifyingKey,
      readKey: owner.read.readKey,
      kind: 'announcement',
      seqnum: 3,
      timestamp: 9,
      body: wire,
    });
    expect(openDocument(doc, owner.read, 'announcement')).toEqual({
      kind: 'announcement',
      seqnum: 3,
      timestamp: 9,
      body: ann,
    });
  });

  it('a tampered ciphertext is refused (the signature covers it)', () => {
    const doc = sealDocument(owner.sealing, 'directory', 1, 1, directory);
    const tampered = edit(doc, (m) => {
      const c = (m.get('ciphertext') as Uint8Array).slice();
      c[0]! ^= 1;
      m.set('ciphertext', c);
    });
    expect(refusal(() => openDocument(tampered, owner.read, 'directory'))).toEqual({
      code: 'BAD_DOCUMENT',
      reason: 'signature',
    });
  });

  it("a document of another writecap is refused: its key is not the readcap's", () => {
    const doc = sealDocument(other.sealing, 'directory', 1, 1, directory);
    expect(refusal(() => openDocument(doc, owner.read, 'directory'))).toEqual({
      code: 'BAD_DOCUMENT',
      reason: 'key',
    });
  });

  it("a forgery with the readcap's key in `key` but signed by another key is refused", () => {
    // What a reader (who knows the read key) could try: encrypt a body, sign with its own key.
    const forged = sealRaw({
      seed: other.seed,
      key: owner.read.verifyingKey,
      readKey: owner.read.readKey,
      kind: 'directory',
      seqnum: 99,
      timestamp: 1,
      body: { announcements: [] },
    });
    expect(refusal(() => openDocument(forged, owner.read, 'directory'))).toEqual({
      code: 'BAD_DOCUMENT',
      reason: 'signature',
    });
    const swapped = edit(sealDocument(other.sealing, 'directory', 1, 1, directory), (m) =>
      m.set('key', owner.read.verifyingKey),
    );
    expect(refusal(() => openDocument(swapped, owner.read, 'directory')).reason).toBe('signature');
  });

  it('a changed seqnum, timestamp or nonce is refused (all are signed)', () => {
    const doc = sealDocument(owner.sealing, 'directory', 5, 100, directory);
    for (const [field, value] of [
      ['seqnum', 6],
      ['timestamp', 101],
      ['nonce', new Uint8Array(12)],
    ] as const) {
      const changed = edit(doc, (m) => m.set(field, value));
      expect(refusal(() => openDocument(changed, owner.read, 'directory')).reason, field).toBe(
        'signature',
      );
    }
  });

  it('the wrong kind is refused, and so is a relabelled one', () => {
    const ann = sealDocument(owner.sealing, 'announcement', 1, 1, announcementFor([nurl]));
    expect(refusal(() => openDocument(ann, owner.read, 'directory'))).toEqual({
      code: 'BAD_DOCUMENT',
      reason: 'kind',
    });
    const relabelled = edit(ann, (m) => m.set('kind', 'directory'));
    expect(refusal(() => openDocument(relabelled, owner.read, 'directory')).reason).toBe(
      'signature',
    );
  });

  it('the right signature with another read key does not decrypt', () => {
    const doc = sealDocument(owner.sealing, 'directory', 1, 1, directory);
    const wrongKey = { verifyingKey: owner.read.verifyingKey, readKey: other.read.readKey };
    expect(refusal(() => openDocument(doc, wrongKey, 'directory'))).toEqual({
      code: 'BAD_DOCUMENT',
      reason: 'decrypt',
    });
  });

  it('truncated or garbage CBOR is refused', () => {
    const doc = sealDocument(owner.sealing, 'directory', 1, 1, directory);
    for (const bytes of [
      doc.subarray(0, doc.length - 1),
      doc.subarray(0, 10),
      new Uint8Array([0xff, 0x00, 0x13]),
      new Uint8Array(0),
      new Uint8Array([...doc, 0]),
    ]) {
      expect(refusal(() => openDocument(bytes, owner.read, 'directory'))).toEqual({
        code: 'BAD_DOCUMENT',
        reason: 'cbor',
      });
    }
  });

  it('CBOR that is not a document is refused as shape; version 2 as version', () => {
    const doc = sealDocument(owner.sealing, 'directory', 1, 1, directory);
    const shapes = [
      encodeCbor([1, 2, 3]),
      encodeCbor('directory'),
      edit(doc, (m) => m.delete('signature')),
      edit(doc, (m) => m.set('extra', 1)),
      edit(doc, (m) => m.set('signature', new Uint8Array(63))),
      edit(doc, (m) => m.set('key', 'not bytes')),
      edit(doc, (m) => m.set('seqnum', -1)),
      edit(doc, (m) => m.set('nonce', new Uint8Array(24))),
      edit(doc, (m) => m.set('ciphertext', new Uint8Array(15))),
    ];
    for (const bytes of shapes) {
      expect(refusal(() => openDocument(bytes, owner.read, 'directory'))).toEqual({
        code: 'BAD_DOCUMENT',
        reason: 'shape',
      });
    }
    const v2 = edit(doc, (m) => m.set('v', 2));
    expect(refusal(() => openDocument(v2, owner.read, 'directory')).reason).toBe('version');
  });

  it('a validly signed body of the wrong shape is BAD_BODY', () => {
    for (const body of [
      { announcements: 'none' },
      { announcements: [{ readcap: 'gsd:r1:x', petname: 'a' }] },
      {
        announcements: [
          { readcap: directory.announcements[0]!.readcap, petname: 'same' },
          { readcap: directory.announcements[1]!.readcap, petname: 'same' },
        ],
      },
      { announcements: [{ readcap: directory.announcements[0]!.readcap, petname: '' }] },
      {
        announcements: [{ readcap: directory.announcements[0]!.readcap, petname: 'x'.repeat(65) }],
      },
      { announcements: [{ readcap: directory.announcements[0]!.readcap, petname: 'a\nb' }] },
      [1, 2],
    ]) {
      const doc = sealRaw({
        seed: owner.seed,
        key: owner.read.verifyingKey,
        readKey: owner.read.readKey,
        kind: 'directory',
        seqnum: 1,
        timestamp: 1,
        body,
      });
      expect(refusal(() => openDocument(doc, owner.read, 'directory'))).toEqual({
        code: 'BAD_BODY',
        reason: 'body',
      });
    }
  });

  it('sealDocument() refuses a body of the wrong shape with BAD_BODY', () => {
    const bad = [
      { announcements: [{ readcap: directory.announcements[0]!.readcap, petname: '' }] },
      { announcements: [directory.announcements[0]!, directory.announcements[0]!] },
    ];
    for (const body of bad) {
      expect(refusal(() => sealDocument(owner.sealing, 'directory', 1, 1, body)).code).toBe(
        'BAD_BODY',
      );
    }
    const badAnnouncements: Partial<AnnouncementBody>[] = [
      { serverId: 'v1-abc' },
      { nurls: [] },
      { nurls: ['https://example.org'] },
      { anonymousStorageFurl: 'pb://short@x/y' },
      { permutationSeed: 'NOT BASE32' },
      { availableSpace: -1 },
      { availableSpace: 1.5 },
      { nickname: 'bell\u0007' },
    ];
    for (const change of badAnnouncements) {
      const body = announcementFor([nurl], change);
      expect(
        refusal(() => sealDocument(owner.sealing, 'announcement', 1, 1, body)).code,
        JSON.stringify(change),
      ).toBe('BAD_BODY');
    }
  });

  it('slot data is OSTRGSD1 ‖ seqnum (u64 BE) ‖ document, as the specification says', () => {
    const doc = sealDocument(owner.sealing, 'directory', 258, 1, directory);
    expect(encodeSlotData(258, doc)).toEqual(slotRaw(258, doc));
    expect(decodeSlotData(slotRaw(258, doc))).toEqual({ seqnum: 258, document: doc });
    for (const bad of [new Uint8Array(15), slotRaw(1, doc).map((b, i) => (i === 0 ? 0 : b))]) {
      expect(refusal(() => decodeSlotData(bad))).toEqual({ code: 'BAD_DOCUMENT', reason: 'slot' });
    }
    const huge = slotRaw(0, doc);
    huge.fill(0xff, 8, 16);
    expect(refusal(() => decodeSlotData(huge)).reason).toBe('slot');
  });
});

// --- properties -------------------------------------------------------------------------------

const printable = fc
  .string({ minLength: 1, maxLength: 64, unit: 'grapheme' })
  .filter((s) => !/\p{Cc}/u.test(s) && s.trim() === s && s.length <= 64 && s.length > 0);
const readcapArb = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((seed) => readCapOf(writeCapFromSeed(seed)));

const directoryArb: fc.Arbitrary<DirectoryBody> = fc
  .uniqueArray(fc.tuple(readcapArb, printable), {
    maxLength: 6,
    selector: ([r]) => r,
  })
  .filter((pairs) => new Set(pairs.map(([, p]) => p)).size === pairs.length)
  .map((pairs) => ({ announcements: pairs.map(([readcap, petname]) => ({ readcap, petname })) }));

const announcementArb: fc.Arbitrary<AnnouncementBody> = fc
  .record({
    nickname: fc.string({ maxLength: 40 }).filter((s) => !/\p{Cc}/u.test(s)),
    availableSpace: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    version: fc.string({ maxLength: 20 }).filter((s) => !/\p{Cc}/u.test(s)),
    nurlCount: fc.integer({ min: 1, max: 3 }),
  })
  .map(({ nurlCount, ...rest }) =>
    announcementFor(
      Array.from({ length: nurlCount }, () => memorySlotServer().nurl),
      rest,
    ),
  );

const bodyArb = fc.oneof(
  directoryArb.map((body) => ({ kind: 'directory' as DocumentKind, body })),
  announcementArb.map((body) => ({ kind: 'announcement' as DocumentKind, body })),
);

describe('documents (properties)', () => {
  const owner = keysOf(createWriteCap());

  it('seal → open round-trips any body, seqnum and timestamp', () => {
    fc.assert(
      fc.property(
        bodyArb,
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.nat({ max: 2 ** 40 }),
        ({ kind, body }, seqnum, timestamp) => {
          const doc = sealDocument(owner.sealing, kind, seqnum, timestamp, body as never);
          expect(openDocument(doc, owner.read, kind)).toEqual({ kind, seqnum, timestamp, body });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('any single flipped byte of the share data is refused by readDocument()', async () => {
    const server = memorySlotServer();
    await fc.assert(
      fc.asyncProperty(
        bodyArb,
        fc.nat({ max: 2 ** 40 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async ({ kind, body }, seqnum, at, mask) => {
          const doc = sealDocument(owner.sealing, kind, seqnum, 1, body as never);
          const data = encodeSlotData(seqnum, doc);
          const flipped = data.slice();
          flipped[at % data.length]! ^= mask;
          server.plant(owner.read.storageIndex, flipped);
          const result = await readDocument([server], owner.readcap, kind);
          expect(result.document).toBeUndefined();
          expect(result.problems).toHaveLength(1);
          expect(['BAD_DOCUMENT', 'BAD_BODY']).toContain(result.problems[0]!.code);
          // The unflipped data is accepted, so the refusal is the flip's doing.
          server.plant(owner.read.storageIndex, data);
          expect((await readDocument([server], owner.readcap, kind)).document?.seqnum).toBe(seqnum);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('the directory’s membership key', () => {
  const owner = keysOf(createWriteCap());
  const membershipKey = generateAccountKey().publicKey;
  const sealRawDirectory = (body: unknown) =>
    sealRaw({
      seed: owner.seed,
      key: owner.read.verifyingKey,
      readKey: owner.read.readKey,
      kind: 'directory',
      seqnum: 1,
      timestamp: 1,
      body,
    });

  it('seal → open keeps it; a directory without one still opens, with no membershipKey', () => {
    const withKey: DirectoryBody = { ...directory, membershipKey };
    const doc = sealDocument(owner.sealing, 'directory', 2, 3, withKey);
    expect(openDocument(doc, owner.read, 'directory').body).toEqual(withKey);
    const without = openDocument(
      sealDocument(owner.sealing, 'directory', 2, 3, directory),
      owner.read,
      'directory',
    ).body;
    expect(without).toEqual(directory);
    expect('membershipKey' in without).toBe(false);
  });

  it('on the wire it is `membership-key`, base32 text of the 32 bytes (by the specification)', () => {
    const doc = sealRawDirectory({
      announcements: directory.announcements,
      'membership-key': base32Encode(membershipKey),
      'a-later-field': 1,
    });
    expect(openDocument(doc, owner.read, 'directory').body).toEqual({
      ...directory,
      membershipKey,
    });
    // The API's name is not a wire name: ignored, as any unknown key.
    const apiName = sealRawDirectory({ announcements: [], membershipKey });
    expect(openDocument(apiName, owner.read, 'directory').body).toEqual({ announcements: [] });
  });

  it('a malformed key is BAD_BODY: wrong length, not base32, not text', () => {
    for (const key of [
      base32Encode(membershipKey.subarray(0, 31)),
      base32Encode(new Uint8Array([...membershipKey, 0])),
      '',
      base32Encode(membershipKey).toUpperCase(),
      membershipKey,
      42,
      null,
    ]) {
      const doc = sealRawDirectory({ announcements: [], 'membership-key': key });
      expect(refusal(() => openDocument(doc, owner.read, 'directory'))).toEqual({
        code: 'BAD_BODY',
        reason: 'body',
      });
    }
  });

  it('sealDocument() refuses a key of another length with BAD_BODY', () => {
    for (const key of [new Uint8Array(31), new Uint8Array(33)]) {
      expect(
        refusal(() =>
          sealDocument(owner.sealing, 'directory', 1, 1, { announcements: [], membershipKey: key }),
        ),
      ).toEqual({ code: 'BAD_BODY', reason: 'body' });
    }
  });
});
