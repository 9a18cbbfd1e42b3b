import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  copyTahoeFixtureTo,
  readTahoeManifest,
  suiteTempDir,
  type TahoeManifestShare,
} from '@ostrom/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  detectContainer,
  encodeImmutableHeader,
  encodeImmutableLeases,
  encodeMutableExtraLeases,
  encodeMutableHeader,
  fileReader,
  type ImmutableContainer,
  immutableContainerLayout,
  MUTABLE_DATA_OFFSET,
  type MutableContainer,
  mutableContainerLayout,
  mutableMagic,
  readContainer,
  readImmutableContainer,
  readMutableContainer,
  type ShareContainer,
} from '../src/container/index.js';

// A storage directory written by Tahoe-LAFS 1.20 itself (see fixtures/README.md); its
// manifest.json was produced by Tahoe's own share parsers and is the ground truth here.

interface FixtureShare {
  path: string;
  storageIndex: string;
  shnum: number;
}

let root: string;
let removeRoot: () => Promise<void>;
let manifest: TahoeManifestShare[];
let shares: FixtureShare[];

/** Every final share under shares/<pp>/<SI>/<shnum>, as Tahoe lays them out. */
async function listShares(storageDir: string): Promise<FixtureShare[]> {
  const found: FixtureShare[] = [];
  const sharesDir = join(storageDir, 'shares');
  for (const prefix of await readdir(sharesDir)) {
    if (prefix === 'incoming') continue;
    for (const storageIndex of await readdir(join(sharesDir, prefix))) {
      expect(storageIndex.slice(0, 2)).toBe(prefix);
      for (const name of await readdir(join(sharesDir, prefix, storageIndex))) {
        expect(name).toMatch(/^[0-9]+$/);
        found.push({
          path: join(sharesDir, prefix, storageIndex, name),
          storageIndex,
          shnum: Number(name),
        });
      }
    }
  }
  return found;
}

/** Parses one share file the way the disk backend will: detect, then the kind's reader. */
async function parseShare(path: string): Promise<{ size: number; container: ShareContainer }> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const reader = fileReader(handle, size);
    const detected = detectContainer(await reader.read(0, Math.min(size, 32)));
    if (detected === undefined) throw new Error(`${path}: not a share container`);
    const container =
      detected.kind === 'mutable'
        ? await readMutableContainer(reader)
        : await readImmutableContainer(reader);
    expect(container.version).toBe(detected.version);
    return { size, container };
  } finally {
    await handle.close();
  }
}

/** The first offset where `actual` and `expected` differ, or undefined when they are equal. */
function firstDifference(actual: Uint8Array, expected: Uint8Array): number | undefined {
  const length = Math.min(actual.length, expected.length);
  for (let i = 0; i < length; i++) if (actual[i] !== expected[i]) return i;
  return actual.length === expected.length ? undefined : length;
}

function byShare(a: { storage_index: string; shnum: number }, b: typeof a): number {
  return a.storage_index < b.storage_index
    ? -1
    : a.storage_index > b.storage_index
      ? 1
      : a.shnum - b.shnum;
}

beforeAll(async () => {
  ({ dir: root, remove: removeRoot } = await suiteTempDir('ostrom-container-fixture-'));
  await copyTahoeFixtureTo(join(root, 'storage'));
  manifest = await readTahoeManifest(join(root, 'storage'));
  shares = await listShares(join(root, 'storage'));
});

afterAll(async () => {
  await removeRoot();
});

describe('the Tahoe-LAFS 1.20 fixture', () => {
  it('detectContainer() + read*Container() yield exactly the shares, sizes and leases of manifest.json', async () => {
    const parsed: TahoeManifestShare[] = [];
    for (const share of shares) {
      const { size, container } = await parseShare(share.path);
      parsed.push({
        storage_index: share.storageIndex,
        shnum: share.shnum,
        sharetype: container.kind,
        container_version: container.version,
        file_size: size,
        data_length: container.dataLength,
        leases: container.leases.map((lease) => ({
          owner_num: lease.ownerNum,
          expiration_time: lease.expiresAt,
        })),
      });
    }
    expect(parsed.length).toBe(20);
    expect(parsed.sort(byShare)).toEqual([...manifest].sort(byShare));
  });

  it('readContainer() agrees with the kind-specific readers', async () => {
    for (const share of shares) {
      const handle = await open(share.path, 'r');
      try {
        const reader = fileReader(handle, (await handle.stat()).size);
        expect(await readContainer(reader)).toEqual((await parseShare(share.path)).container);
      } finally {
        await handle.close();
      }
    }
  });

  it('mutableMagic(2) is the magic that opens every mutable share', async () => {
    let mutables = 0;
    for (const share of shares) {
      const bytes = new Uint8Array(await readFile(share.path));
      if (detectContainer(bytes.subarray(0, 32))?.kind !== 'mutable') continue;
      mutables += 1;
      expect(bytes.subarray(0, 32)).toEqual(mutableMagic(2));
    }
    expect(mutables).toBe(12);
  });

  it('holds what Tahoe writes: legacy max size = data length, compact mutable containers, v2 lease hashes', async () => {
    for (const share of shares) {
      const { size, container } = await parseShare(share.path);
      expect(container.version).toBe(2);
      if (container.kind === 'immutable') {
        expect(container.legacyMaxSize).toBe(container.dataLength);
      } else {
        expect(container.extraLeaseOffset).toBe(MUTABLE_DATA_OFFSET + container.dataLength);
        expect(container.extraLeaseEnd).toBe(size);
        expect(container.extraLeases).toEqual([]);
        expect(container.leaseSlots.slice(1).every((slot) => slot.ownerNum === 0)).toBe(true);
        for (const lease of container.leases) {
          expect(lease.nodeId).toEqual(container.writeEnablerNodeId);
        }
      }
      for (const lease of container.leases) {
        // Stored hashes, never zeros or a repeat of one another.
        expect(lease.renewSecret.some((byte) => byte !== 0)).toBe(true);
        expect(lease.renewSecret).not.toEqual(lease.cancelSecret);
      }
    }
  });
});

describe('re-encoding the fixture', () => {
  it('encodeImmutableHeader() and encodeImmutableLeases() reproduce each immutable file around its data', async () => {
    let checked = 0;
    for (const share of shares) {
      const bytes = new Uint8Array(await readFile(share.path));
      const { container } = await parseShare(share.path);
      if (container.kind !== 'immutable') continue;
      const immutable: ImmutableContainer = container;
      checked += 1;
      expect(
        encodeImmutableHeader({
          version: immutable.version,
          dataLength: immutable.dataLength,
          leaseCount: immutable.leases.length,
        }),
      ).toEqual(bytes.subarray(0, immutable.dataOffset));
      expect(encodeImmutableLeases(immutable.leases)).toEqual(
        bytes.subarray(immutable.leaseOffset),
      );

      const layout = immutableContainerLayout({
        version: immutable.version,
        dataLength: immutable.dataLength,
        leases: immutable.leases,
      });
      const rebuilt = new Uint8Array(layout.fileSize);
      rebuilt.set(layout.header, 0);
      rebuilt.set(bytes.subarray(immutable.dataOffset, immutable.leaseOffset), layout.dataOffset);
      rebuilt.set(layout.leaseRecords, layout.leaseOffset);
      expect(firstDifference(rebuilt, bytes)).toBeUndefined();
    }
    expect(checked).toBe(8);
  });

  it('encodeMutableHeader() and encodeMutableExtraLeases() reproduce each mutable file around its data', async () => {
    let checked = 0;
    for (const share of shares) {
      const bytes = new Uint8Array(await readFile(share.path));
      const { container } = await parseShare(share.path);
      if (container.kind !== 'mutable') continue;
      const mutable: MutableContainer = container;
      checked += 1;
      expect(
        encodeMutableHeader({
          version: mutable.version,
          writeEnablerNodeId: mutable.writeEnablerNodeId,
          writeEnabler: mutable.writeEnabler,
          dataLength: mutable.dataLength,
          extraLeaseOffset: mutable.extraLeaseOffset,
          leases: mutable.leaseSlots,
        }),
      ).toEqual(bytes.subarray(0, mutable.dataOffset));
      expect(encodeMutableExtraLeases(mutable.extraLeases)).toEqual(
        bytes.subarray(mutable.extraLeaseOffset, mutable.extraLeaseEnd),
      );

      const layout = mutableContainerLayout({
        version: mutable.version,
        writeEnablerNodeId: mutable.writeEnablerNodeId,
        writeEnabler: mutable.writeEnabler,
        dataLength: mutable.dataLength,
        leases: mutable.leases,
      });
      const rebuilt = new Uint8Array(layout.fileSize);
      rebuilt.set(layout.header, 0);
      rebuilt.set(
        bytes.subarray(mutable.dataOffset, mutable.dataOffset + mutable.dataLength),
        layout.dataOffset,
      );
      rebuilt.set(layout.extraLeaseBlock, layout.extraLeaseOffset);
      expect(firstDifference(rebuilt, bytes)).toBeUndefined();
    }
    expect(checked).toBe(12);
  });
});
