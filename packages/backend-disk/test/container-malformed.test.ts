import { open, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@ostrom/test-fixtures';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bufferReader,
  ContainerFormatError,
  type ContainerLease,
  type ContainerReader,
  encodeMutableExtraLeases,
  encodeMutableHeader,
  fileReader,
  immutableContainerLayout,
  mutableContainerLayout,
  mutableMagic,
  readContainer,
  readImmutableContainer,
  readMutableContainer,
} from '../src/container/index.js';

/** The `code` of a rejected ContainerFormatError, the name of any other error, or `resolved`. */
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ContainerFormatError) return error.code;
    return (error as Error).name;
  }
  return 'resolved';
}

const lease = (ownerNum: number): ContainerLease => ({
  ownerNum,
  renewSecret: new Uint8Array(32).fill(ownerNum + 1),
  cancelSecret: new Uint8Array(32).fill(ownerNum + 2),
  expiresAt: 1_800_000_000 + ownerNum,
  nodeId: new Uint8Array(20).fill(7),
});

function immutableFile(dataLength: number, leases: number, version: 1 | 2 = 2): Uint8Array {
  const layout = immutableContainerLayout({
    version,
    dataLength,
    leases: Array.from({ length: leases }, (_, i) => lease(i)),
  });
  const file = new Uint8Array(layout.fileSize);
  file.set(layout.header, 0);
  file.fill(0xab, layout.dataOffset, layout.leaseOffset);
  file.set(layout.leaseRecords, layout.leaseOffset);
  return file;
}

function mutableFile(dataLength: number, leases: number, version: 1 | 2 = 2): Uint8Array {
  const layout = mutableContainerLayout({
    version,
    writeEnablerNodeId: new Uint8Array(20).fill(7),
    writeEnabler: new Uint8Array(32).fill(9),
    dataLength,
    leases: Array.from({ length: leases }, (_, i) => lease(i + 1)),
  });
  const file = new Uint8Array(layout.fileSize);
  file.set(layout.header, 0);
  file.fill(0xcd, layout.dataOffset, layout.extraLeaseOffset);
  file.set(layout.extraLeaseBlock, layout.extraLeaseOffset);
  return file;
}

/** A copy of `file` with a big-endian field overwritten. */
function patched(
  file: Uint8Array,
  offset: number,
  value: number | bigint,
  bytes: 4 | 8,
): Uint8Array {
  const copy = file.slice();
  const view = new DataView(copy.buffer);
  if (bytes === 4) view.setUint32(offset, Number(value));
  else view.setBigUint64(offset, BigInt(value));
  return copy;
}

const read = (file: Uint8Array) => readContainer(bufferReader(file));

describe('readContainer() on what is no share container', () => {
  it('rejects files too short for a version number as TRUNCATED', async () => {
    expect(await outcome(read(new Uint8Array(0)))).toBe('TRUNCATED');
    expect(await outcome(read(Uint8Array.of(0, 0, 2)))).toBe('TRUNCATED');
  });

  it('rejects unknown immutable versions and unknown magic as UNKNOWN_CONTAINER', async () => {
    for (const version of [0, 3, 0xffff_ffff]) {
      const file = patched(immutableFile(10, 1), 0, version, 4);
      expect(await outcome(read(file))).toBe('UNKNOWN_CONTAINER');
      expect(await outcome(readImmutableContainer(bufferReader(file)))).toBe('UNKNOWN_CONTAINER');
    }
    const v3 = mutableFile(10, 1);
    v3.set(new TextEncoder().encode('Tahoe mutable container v3\n'), 0);
    expect(await outcome(read(v3))).toBe('UNKNOWN_CONTAINER');
    const wrongTail = mutableFile(10, 1);
    wrongTail[31] = (wrongTail[31] as number) ^ 1;
    expect(await outcome(read(wrongTail))).toBe('UNKNOWN_CONTAINER');
    expect(await outcome(read(new TextEncoder().encode('hello, world\n')))).toBe(
      'UNKNOWN_CONTAINER',
    );
  });

  it('readMutableContainer() rejects an immutable container and readImmutableContainer() a mutable one', async () => {
    expect(await outcome(readMutableContainer(bufferReader(immutableFile(100, 1))))).toBe(
      'UNKNOWN_CONTAINER',
    );
    expect(await outcome(readImmutableContainer(bufferReader(mutableFile(100, 1))))).toBe(
      'UNKNOWN_CONTAINER',
    );
  });
});

describe('readImmutableContainer() on malformed containers', () => {
  it('rejects a file shorter than the 12-byte header as TRUNCATED', async () => {
    const file = immutableFile(0, 0);
    expect(await outcome(readImmutableContainer(bufferReader(file.subarray(0, 11))))).toBe(
      'TRUNCATED',
    );
    expect(await outcome(readImmutableContainer(bufferReader(file)))).toBe('resolved');
  });

  it('rejects a lease count whose records do not fit in the file as INCONSISTENT', async () => {
    const file = immutableFile(10, 1); // 12 + 10 + 72 = 94 bytes
    expect(await outcome(read(patched(file, 8, 2, 4)))).toBe('INCONSISTENT');
    expect(await outcome(read(patched(file, 8, 0xffff_ffff, 4)))).toBe('INCONSISTENT');
    // Cut inside the lease: 12 + 72 = 84 bytes still fit, so only a cut below 84 is detectable.
    expect(await outcome(read(file.subarray(0, 83)))).toBe('INCONSISTENT');
    expect(await outcome(read(file.subarray(0, 84)))).toBe('resolved');
  });
});

describe('readMutableContainer() on malformed containers', () => {
  it('rejects a file that ends inside the 468-byte header as TRUNCATED', async () => {
    const file = mutableFile(0, 1);
    for (const size of [31, 32, 100, 467]) {
      expect(await outcome(read(file.subarray(0, size)))).toBe(
        size < 32 ? 'UNKNOWN_CONTAINER' : 'TRUNCATED',
      );
      expect(await outcome(readMutableContainer(bufferReader(file.subarray(0, size))))).toBe(
        'TRUNCATED',
      );
    }
  });

  it('rejects an extra-lease offset beyond the file as TRUNCATED', async () => {
    const file = mutableFile(50, 1); // extra-lease offset 518, file 522 bytes
    expect(await outcome(read(file))).toBe('resolved');
    expect(await outcome(read(patched(file, 92, 519, 8)))).toBe('TRUNCATED');
    expect(await outcome(read(patched(file, 92, 10_000, 8)))).toBe('TRUNCATED');
    expect(await outcome(read(patched(file, 92, 2n ** 64n - 1n, 8)))).toBe('TRUNCATED');
    // The extra-lease count itself is missing.
    expect(await outcome(read(file.subarray(0, file.length - 1)))).toBe('TRUNCATED');
    expect(await outcome(read(file.subarray(0, 468 + 50)))).toBe('TRUNCATED');
  });

  it('rejects an extra-lease count whose records are not all there as TRUNCATED', async () => {
    const file = mutableFile(50, 6); // two extra leases
    expect(await outcome(read(file))).toBe('resolved');
    expect(await outcome(read(file.subarray(0, file.length - 1)))).toBe('TRUNCATED');
    expect(await outcome(read(patched(file, 518, 3, 4)))).toBe('TRUNCATED');
    expect(await outcome(read(patched(file, 518, 0xffff_ffff, 4)))).toBe('TRUNCATED');
  });

  it('rejects data that runs past the extra-lease offset as INCONSISTENT', async () => {
    const file = mutableFile(50, 1);
    expect(await outcome(read(patched(file, 84, 51, 8)))).toBe('INCONSISTENT');
    expect(await outcome(read(patched(file, 84, 2n ** 64n - 1n, 8)))).toBe('INCONSISTENT');
    // An extra-lease offset pointing into the header.
    expect(await outcome(read(patched(patched(file, 84, 0, 8), 92, 100, 8)))).toBe('INCONSISTENT');
  });

  it('accepts what Tahoe accepts: slack before the extra leases, bytes after them', async () => {
    const header = encodeMutableHeader({
      version: 1,
      writeEnablerNodeId: new Uint8Array(20),
      writeEnabler: new Uint8Array(32),
      dataLength: 10,
      extraLeaseOffset: 468 + 40,
      leases: [undefined, lease(3)],
    });
    const file = new Uint8Array(468 + 40 + 4 + 92 + 17);
    file.set(header, 0);
    file.set(encodeMutableExtraLeases([lease(4)]), 468 + 40);
    const container = await readMutableContainer(bufferReader(file));
    expect(container.version).toBe(1);
    expect(container.leases.map((l) => l.ownerNum)).toEqual([3, 4]);
    expect(container.extraLeaseEnd).toBe(file.length - 17);
  });
});

describe('readers', () => {
  it('a reader that returns fewer bytes than asked makes the parse fail as TRUNCATED', async () => {
    const file = mutableFile(10, 1);
    const short: ContainerReader = {
      size: file.length,
      read: async (offset, length) => file.subarray(offset, offset + length - 1),
    };
    expect(await outcome(readContainer(short))).toBe('TRUNCATED');
    expect(await outcome(readMutableContainer(short))).toBe('TRUNCATED');
    expect(await outcome(readImmutableContainer({ ...short, size: 3 }))).toBe('TRUNCATED');
  });

  it('fileReader(handle, size) rejects as TRUNCATED when the file shrank after its size was taken', async () => {
    const path = join(await tempDir(), '0');
    await writeFile(path, mutableFile(100, 6));
    const handle = await open(path, 'r');
    try {
      const reader = fileReader(handle, (await handle.stat()).size);
      expect(await outcome(readContainer(reader))).toBe('resolved');
      await truncate(path, 600);
      expect(await outcome(readContainer(reader))).toBe('TRUNCATED');
    } finally {
      await handle.close();
    }
  });

  it('bufferReader(bytes).read() past the end rejects as TRUNCATED, a negative offset throws RangeError', async () => {
    const reader = bufferReader(new Uint8Array(10));
    expect(await outcome(reader.read(5, 6))).toBe('TRUNCATED');
    expect(await outcome(reader.read(-1, 2))).toBe('RangeError');
    expect(await outcome(reader.read(0.5, 2))).toBe('TypeError');
    expect((await reader.read(10, 0)).length).toBe(0);
  });
});

describe('readContainer() on arbitrary bytes', () => {
  it('resolves or rejects with a ContainerFormatError, never anything else', async () => {
    const valid = [
      immutableFile(40, 2, 1),
      immutableFile(0, 0),
      mutableFile(30, 5, 1),
      mutableFile(0, 0),
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 700 }),
          // Valid containers, cut and with a few bytes changed.
          fc
            .tuple(
              fc.constantFrom(...valid),
              fc.nat(),
              fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
            )
            .map(([file, cut, changes]) => {
              const copy = file.slice(0, cut % (file.length + 1));
              for (const [at, value] of changes)
                if (copy.length > 0) copy[at % copy.length] = value;
              return copy;
            }),
        ),
        async (file) => {
          expect(['resolved', 'TRUNCATED', 'INCONSISTENT', 'UNKNOWN_CONTAINER']).toContain(
            await outcome(read(file)),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('mutableMagic() opens the containers the mutable tests build', () => {
    expect(mutableFile(0, 0, 1).subarray(0, 32)).toEqual(mutableMagic(1));
    expect(mutableFile(0, 0, 2).subarray(0, 32)).toEqual(mutableMagic(2));
  });
});
