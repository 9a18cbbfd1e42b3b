import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { base32Decode, base32Encode } from '../src/storage-index.js';
import {
  deriveLeaseSecrets,
  deriveWriteEnabler,
  netstring,
  taggedHash,
  taggedPairHash,
} from '../src/tahoe-secrets.js';

// "fact N" in test names: the numbered facts of docs/TAHOE-COMPATIBILITY.md.

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

describe('Tahoe hashes', () => {
  it('netstring(x) is <len>:x,', () => {
    expect(Buffer.from(netstring('abc')).toString()).toBe('3:abc,');
    expect(Buffer.from(netstring(new Uint8Array(0))).toString()).toBe('0:,');
  });

  it('taggedHash and taggedPairHash are SHA-256d over netstrings', () => {
    expect(Buffer.from(taggedHash('tag', 'value'))).toEqual(
      sha256(sha256(Buffer.from('3:tag,value'))),
    );
    expect(Buffer.from(taggedPairHash('t', 'ab', 'c'))).toEqual(
      sha256(sha256(Buffer.from('1:t,2:ab,1:c,'))),
    );
  });

  // Vectors from Tahoe's reference implementation of the derivation (docs/proposed, lease.rst
  // companion script), recorded from a 1.16 client.
  const VECTORS = [
    [
      'boity2cdh7jvl3ltaeebuiobbspjmbuopnwbde2yeh4k6x7jioga',
      'vrttmwlicrzbt7gh5qsooogr7u',
      'v67jiisoty6ooyxlql5fuucitqiok2ic',
      'osd6wmc5vz4g3ukg64sitmzlfiaaordutrez7oxdp5kkze7zp5zq',
    ],
    [
      'boity2cdh7jvl3ltaeebuiobbspjmbuopnwbde2yeh4k6x7jioga',
      '75gmmfts772ww4beiewc234o5e',
      'v67jiisoty6ooyxlql5fuucitqiok2ic',
      '35itmusj7qm2pfimh62snbyxp3imreofhx4djr7i2fweta75szda',
    ],
    [
      'boity2cdh7jvl3ltaeebuiobbspjmbuopnwbde2yeh4k6x7jioga',
      '75gmmfts772ww4beiewc234o5e',
      'lh5fhobkjrmkqjmkxhy3yaonoociggpz',
      'srrlruge47ws3lm53vgdxprgqb6bz7cdblnuovdgtfkqrygrjm4q',
    ],
    [
      'vacviff4xfqxsbp64tdr3frg3xnkcsuwt5jpyat2qxcm44bwu75a',
      '75gmmfts772ww4beiewc234o5e',
      'lh5fhobkjrmkqjmkxhy3yaonoociggpz',
      'b4jledjiqjqekbm2erekzqumqzblegxi23i5ojva7g7xmqqnl5pq',
    ],
  ] as const;

  it.each(VECTORS)('deriveLeaseSecrets matches Tahoe vector %#', (secret, si, tubId, expected) => {
    const { renewSecret, cancelSecret } = deriveLeaseSecrets({
      clientLeaseSecret: base32Decode(secret)!,
      storageIndex: si,
      tubId,
    });
    expect(base32Encode(renewSecret)).toBe(expected);
    expect(cancelSecret).not.toEqual(renewSecret);
    // Bytes in place of strings give the same result.
    expect(
      deriveLeaseSecrets({
        clientLeaseSecret: base32Decode(secret)!,
        storageIndex: base32Decode(si)!,
        tubId: base32Decode(tubId)!,
      }).renewSecret,
    ).toEqual(renewSecret);
  });

  it('deriveLeaseSecrets cancel chain uses the _cancel_ tags', () => {
    const clientLeaseSecret = new Uint8Array(32).fill(1);
    const si = new Uint8Array(16).fill(2);
    const tub = new Uint8Array(20).fill(3);
    const client = taggedHash(clientLeaseSecret, 'allmydata_client_cancel_secret_v1');
    const file = taggedPairHash('allmydata_file_cancel_secret_v1', client, si);
    const expected = taggedPairHash('allmydata_bucket_cancel_secret_v1', file, tub);
    expect(
      deriveLeaseSecrets({ clientLeaseSecret, storageIndex: si, tubId: tub }).cancelSecret,
    ).toEqual(expected);
  });

  it('deriveWriteEnabler follows fact 13 and depends on the tub id', () => {
    const writeKey = new Uint8Array(16).fill(4);
    const tub = new Uint8Array(20).fill(5);
    const master = taggedHash('allmydata_mutable_writekey_to_write_enabler_master_v1', writeKey);
    expect(deriveWriteEnabler({ writeKey, tubId: tub })).toEqual(
      taggedPairHash(
        'allmydata_mutable_write_enabler_master_and_nodeid_to_write_enabler_v1',
        master,
        tub,
      ),
    );
    expect(deriveWriteEnabler({ writeKey, tubId: new Uint8Array(20) })).not.toEqual(
      deriveWriteEnabler({ writeKey, tubId: tub }),
    );
    expect(() => deriveWriteEnabler({ writeKey, tubId: 'short' })).toThrow(RangeError);
  });
});
