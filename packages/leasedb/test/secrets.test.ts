import { describe, expect, it } from 'vitest';
import { hashLeaseSecret } from '../src/index.js';
import { outcome } from './errors.js';
import { describeEachDialect, storageIndex } from './setup.js';

describe('hashLeaseSecret()', () => {
  it('is BLAKE2b-256, the hash Tahoe v2 share containers store', () => {
    // Python: hashlib.blake2b(bytes(range(32)), digest_size=32).hexdigest()
    const secret = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(hashLeaseSecret(secret)).toBe(
      'cb2f5160fc1f7e05a55ef49d340b48da2e5a78099d53393351cd579dd42503d6',
    );
  });

  it('refuses anything but 32 bytes', () => {
    expect(() => hashLeaseSecret(new Uint8Array(31))).toThrow(TypeError);
    expect(() => hashLeaseSecret('secret' as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describeEachDialect('lease secrets', (dialect) => {
  it('are stored hashed, never as presented, and malformed ones write nothing', async () => {
    const db = await dialect.open();
    const renewSecret = new Uint8Array(32).fill(0xaa);
    await db.adoptShare({
      storageIndex: storageIndex(1),
      shnum: 0,
      sharetype: 'immutable',
      usedBytes: 1,
      leases: [],
    });
    await db.addOrRenewLeases({ storageIndex: storageIndex(1), accountId: 0, renewSecret });
    const [lease] = await db.listLeases(storageIndex(1));
    expect(lease?.renewSecretHash).toBe(hashLeaseSecret(renewSecret));
    expect(lease?.renewSecretHash).not.toContain(Buffer.from(renewSecret).toString('hex'));
    expect(
      await outcome(
        db.addOrRenewLeases({
          storageIndex: storageIndex(1),
          accountId: 1,
          cancelSecret: new Uint8Array(5),
        }),
      ),
    ).toBe('TypeError');
    // A renewal hashes nothing, yet a malformed secret is refused all the same, before any write.
    const renewed = await db.listLeases(storageIndex(1));
    expect(
      await outcome(
        db.addOrRenewLeases({
          storageIndex: storageIndex(1),
          accountId: 0,
          renewSecret: new Uint8Array(31),
          durationSeconds: 99 * 86_400,
        }),
      ),
    ).toBe('TypeError');
    expect(await db.listLeases(storageIndex(1))).toEqual(renewed);
    expect(
      await outcome(
        db.adoptShare({
          storageIndex: storageIndex(2),
          shnum: 0,
          sharetype: 'immutable',
          usedBytes: 1,
          leases: [{ accountId: 0, expiresAt: 1, renewSecretHash: 'plain secret' }],
        }),
      ),
    ).toBe('TypeError');
    expect((await db.listLeases(storageIndex(1))).length).toBe(1);
    expect(await db.listShares(storageIndex(2))).toEqual([]);
  });
});
