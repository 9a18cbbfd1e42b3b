import { describe, expect, it } from 'vitest';
import {
  type ContainerLease,
  decodeImmutableLease,
  decodeMutableLease,
  detectContainer,
  encodeImmutableHeader,
  encodeImmutableLease,
  encodeImmutableLeases,
  encodeMutableExtraLeases,
  encodeMutableHeader,
  encodeMutableLease,
  immutableContainerLayout,
  leaseSecretDigest,
  mutableContainerLayout,
  mutableMagic,
  storedLeaseSecret,
} from '../src/container/index.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const ascii = (text: string): string => Buffer.from(text, 'ascii').toString('hex');

/** The name of the error `fn` throws, or `returned`. */
function thrown(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).name;
  }
  return 'returned';
}

const lease: ContainerLease = {
  ownerNum: 0x01020304,
  renewSecret: new Uint8Array(32).fill(0xaa),
  cancelSecret: new Uint8Array(32).fill(0xbb),
  expiresAt: 0x6b2b2a49,
  nodeId: new Uint8Array(20).fill(0xcc),
};

describe('mutableMagic()', () => {
  it('mutableMagic(1) is the v1 line and the five historical bytes', () => {
    expect(hex(mutableMagic(1))).toBe(`${ascii('Tahoe mutable container v1\n')}750944038e`);
  });

  it('mutableMagic(2) is the v2 line and 5 bytes of tagged_hash("allmydata_mutable_container_header", line)', () => {
    // Python: sha256(sha256(b"34:allmydata_mutable_container_header," + line).digest()).digest()[:5]
    expect(hex(mutableMagic(2))).toBe(`${ascii('Tahoe mutable container v2\n')}c355219925`);
  });

  it('returns a copy each time and refuses other versions', () => {
    const magic = mutableMagic(2);
    magic[0] = 0;
    expect(mutableMagic(2)[0]).toBe(0x54);
    expect(thrown(() => mutableMagic(3 as never))).toBe('RangeError');
    expect(thrown(() => mutableMagic('2' as never))).toBe('TypeError');
  });
});

describe('detectContainer()', () => {
  it('detectContainer(first 32 bytes) tells mutable magic from immutable versions', () => {
    expect(detectContainer(mutableMagic(1))).toEqual({ kind: 'mutable', version: 1 });
    expect(detectContainer(mutableMagic(2))).toEqual({ kind: 'mutable', version: 2 });
    expect(
      detectContainer(encodeImmutableHeader({ version: 1, dataLength: 9, leaseCount: 1 })),
    ).toEqual({
      kind: 'immutable',
      version: 1,
    });
    expect(detectContainer(Uint8Array.of(0, 0, 0, 2))).toEqual({ kind: 'immutable', version: 2 });
  });

  it('detectContainer() is undefined for anything else', () => {
    expect(detectContainer(Uint8Array.of(0, 0, 0, 3, 0, 0, 0, 0))).toBeUndefined();
    expect(detectContainer(Uint8Array.of(0, 0, 0))).toBeUndefined();
    expect(detectContainer(new Uint8Array(0))).toBeUndefined();
    expect(detectContainer(mutableMagic(2).subarray(0, 31))).toBeUndefined();
    const v3 = mutableMagic(2);
    v3[25] = 0x33; // "…container v3\n" with v2's tail
    expect(detectContainer(v3)).toBeUndefined();
  });
});

describe('lease records', () => {
  it('encodeImmutableLease() lays out owner, renew, cancel, expiration in 72 bytes', () => {
    const record = encodeImmutableLease(lease);
    expect(hex(record)).toBe(`01020304${'aa'.repeat(32)}${'bb'.repeat(32)}6b2b2a49`);
    expect(decodeImmutableLease(record)).toEqual({ ...lease, nodeId: undefined });
  });

  it('encodeMutableLease() lays out owner, expiration, renew, cancel, nodeid in 92 bytes', () => {
    const record = encodeMutableLease(lease);
    expect(hex(record)).toBe(
      `010203046b2b2a49${'aa'.repeat(32)}${'bb'.repeat(32)}${'cc'.repeat(20)}`,
    );
    expect(decodeMutableLease(record)).toEqual(lease);
  });

  it('decoded secrets are copies, not views of the record', () => {
    const record = encodeMutableLease(lease);
    const decoded = decodeMutableLease(record);
    record.fill(0);
    expect(decoded.renewSecret[0]).toBe(0xaa);
  });

  it('encoders refuse malformed leases with TypeError or RangeError', () => {
    const bad = (changes: Partial<Record<keyof ContainerLease, unknown>>) =>
      ({ ...lease, ...changes }) as ContainerLease;
    expect(thrown(() => encodeImmutableLease(bad({ renewSecret: new Uint8Array(31) })))).toBe(
      'TypeError',
    );
    expect(thrown(() => encodeImmutableLease(bad({ cancelSecret: 'x'.repeat(32) })))).toBe(
      'TypeError',
    );
    expect(thrown(() => encodeImmutableLease(bad({ ownerNum: -1 })))).toBe('RangeError');
    expect(thrown(() => encodeImmutableLease(bad({ ownerNum: 2 ** 32 })))).toBe('RangeError');
    expect(thrown(() => encodeImmutableLease(bad({ expiresAt: 2 ** 32 })))).toBe('RangeError');
    expect(thrown(() => encodeImmutableLease(bad({ expiresAt: 1.5 })))).toBe('TypeError');
    expect(thrown(() => encodeMutableLease(bad({ nodeId: undefined })))).toBe('TypeError');
    expect(thrown(() => encodeMutableLease(bad({ nodeId: new Uint8Array(32) })))).toBe('TypeError');
    expect(thrown(() => decodeMutableLease(new Uint8Array(72)))).toBe('TypeError');
  });
});

describe('lease secrets', () => {
  it('leaseSecretDigest() is BLAKE2b with a 32-byte digest, as PyNaCl computes it', () => {
    // Python: hashlib.blake2b(bytes(range(32)), digest_size=32).hexdigest()
    const secret = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(hex(leaseSecretDigest(secret))).toBe(
      'cb2f5160fc1f7e05a55ef49d340b48da2e5a78099d53393351cd579dd42503d6',
    );
    expect(hex(leaseSecretDigest(new Uint8Array(32)))).toBe(
      '89eb0d6a8a691dae2cd15ed0369931ce0a949ecafa5c3f93f8121833646e15c3',
    );
  });

  it('storedLeaseSecret(version, secret) is a copy in v1 and the digest in v2', () => {
    const secret = new Uint8Array(32).fill(5);
    const v1 = storedLeaseSecret(1, secret);
    expect(v1).toEqual(secret);
    expect(v1).not.toBe(secret);
    expect(storedLeaseSecret(2, secret)).toEqual(leaseSecretDigest(secret));
    expect(thrown(() => storedLeaseSecret(2, new Uint8Array(16)))).toBe('TypeError');
    expect(thrown(() => storedLeaseSecret(0 as never, secret))).toBe('RangeError');
  });
});

describe('immutable headers', () => {
  it('encodeImmutableHeader() writes version, saturated size and lease count', () => {
    expect(hex(encodeImmutableHeader({ version: 2, dataLength: 3051, leaseCount: 1 }))).toBe(
      '0000000200000beb00000001',
    );
    expect(hex(encodeImmutableHeader({ version: 1, dataLength: 2 ** 32 - 2, leaseCount: 0 }))).toBe(
      '00000001fffffffe00000000',
    );
    expect(hex(encodeImmutableHeader({ version: 2, dataLength: 2 ** 32 + 5, leaseCount: 3 }))).toBe(
      '00000002ffffffff00000003',
    );
  });

  it('encodeImmutableHeader() and immutableContainerLayout() refuse misuse', () => {
    expect(
      thrown(() => encodeImmutableHeader({ version: 3 as never, dataLength: 1, leaseCount: 0 })),
    ).toBe('RangeError');
    expect(thrown(() => encodeImmutableHeader({ version: 2, dataLength: -1, leaseCount: 0 }))).toBe(
      'RangeError',
    );
    expect(
      thrown(() => encodeImmutableHeader({ version: 2, dataLength: 1.5, leaseCount: 0 })),
    ).toBe('TypeError');
    expect(
      thrown(() => encodeImmutableHeader({ version: 2, dataLength: 1, leaseCount: 2 ** 32 })),
    ).toBe('RangeError');
    expect(thrown(() => immutableContainerLayout({ dataLength: -5, leases: [] }))).toBe(
      'RangeError',
    );
    expect(thrown(() => encodeImmutableLeases('leases' as never))).toBe('TypeError');
  });
});

describe('mutable headers', () => {
  const fields = {
    version: 2 as const,
    writeEnablerNodeId: new Uint8Array(20).fill(1),
    writeEnabler: new Uint8Array(32).fill(2),
    dataLength: 1991,
  };

  it('encodeMutableHeader() writes magic, write enabler, lengths and four slots in 468 bytes', () => {
    const header = encodeMutableHeader({ ...fields, leases: [undefined, lease] });
    expect(header.length).toBe(468);
    expect(hex(header.subarray(0, 32))).toBe(hex(mutableMagic(2)));
    expect(hex(header.subarray(32, 100))).toBe(
      `${'01'.repeat(20)}${'02'.repeat(32)}00000000000007c7000000000000099b`,
    );
    expect(hex(header.subarray(100, 192))).toBe('00'.repeat(92));
    expect(hex(header.subarray(192, 284))).toBe(hex(encodeMutableLease(lease)));
    expect(hex(header.subarray(284))).toBe('00'.repeat(184));
    const later = encodeMutableHeader({ ...fields, extraLeaseOffset: 5000, leases: [] });
    expect(hex(later.subarray(92, 100))).toBe('0000000000001388');
  });

  it('encodeMutableExtraLeases() is a u32 count and the 92-byte records', () => {
    expect(hex(encodeMutableExtraLeases([]))).toBe('00000000');
    expect(hex(encodeMutableExtraLeases([lease, lease]))).toBe(
      `00000002${hex(encodeMutableLease(lease)).repeat(2)}`,
    );
  });

  it('encodeMutableHeader() and mutableContainerLayout() refuse misuse', () => {
    expect(
      thrown(() => encodeMutableHeader({ ...fields, leases: [lease, lease, lease, lease, lease] })),
    ).toBe('RangeError');
    expect(
      thrown(() => encodeMutableHeader({ ...fields, extraLeaseOffset: 468 + 1990, leases: [] })),
    ).toBe('RangeError');
    expect(thrown(() => encodeMutableHeader({ ...fields, dataLength: -1, leases: [] }))).toBe(
      'RangeError',
    );
    expect(thrown(() => encodeMutableHeader({ ...fields, version: 0 as never, leases: [] }))).toBe(
      'RangeError',
    );
    expect(
      thrown(() =>
        encodeMutableHeader({ ...fields, writeEnabler: new Uint8Array(20), leases: [] }),
      ),
    ).toBe('TypeError');
    expect(
      thrown(() =>
        encodeMutableHeader({ ...fields, writeEnablerNodeId: new Uint8Array(32), leases: [] }),
      ),
    ).toBe('TypeError');
    expect(
      thrown(() => encodeMutableHeader({ ...fields, leases: [{ ...lease, nodeId: undefined }] })),
    ).toBe('TypeError');
    expect(
      thrown(() => mutableContainerLayout({ ...fields, dataLength: 2 ** 53, leases: [] })),
    ).toBe('TypeError');
  });
});
