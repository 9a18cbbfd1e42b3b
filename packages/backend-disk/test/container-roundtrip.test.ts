import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bufferReader,
  type ContainerLease,
  detectContainer,
  encodeImmutableHeader,
  encodeImmutableLeases,
  encodeMutableExtraLeases,
  encodeMutableHeader,
  immutableContainerLayout,
  MUTABLE_DATA_OFFSET,
  MUTABLE_LEASE_SLOTS,
  mutableContainerLayout,
  readContainer,
  readImmutableContainer,
  readMutableContainer,
} from '../src/container/index.js';

const U32_MAX = 0xffff_ffff;

const u32 = fc.integer({ min: 0, max: U32_MAX });
const version = fc.constantFrom(1 as const, 2 as const);
const bytes = (length: number) => fc.uint8Array({ minLength: length, maxLength: length });
const shareData = fc.uint8Array({ maxLength: 600 });
// Owner 0 is common in real files (allocation leases, empty mutable slots), so draw it often.
const ownerNum = fc.oneof(fc.constant(0), fc.constant(1), u32);

const immutableLease: fc.Arbitrary<ContainerLease> = fc.record({
  ownerNum,
  renewSecret: bytes(32),
  cancelSecret: bytes(32),
  expiresAt: u32,
});

const mutableLease: fc.Arbitrary<ContainerLease> = fc.record({
  ownerNum,
  renewSecret: bytes(32),
  cancelSecret: bytes(32),
  expiresAt: u32,
  nodeId: bytes(20),
});

const BLANK_MUTABLE_LEASE: ContainerLease = {
  ownerNum: 0,
  renewSecret: new Uint8Array(32),
  cancelSecret: new Uint8Array(32),
  expiresAt: 0,
  nodeId: new Uint8Array(20),
};

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

describe('immutable containers', () => {
  it('readImmutableContainer(bufferReader(header ‖ data ‖ leases)) gives back what was encoded', async () => {
    await fc.assert(
      fc.asyncProperty(
        version,
        shareData,
        fc.array(immutableLease, { maxLength: 6 }),
        async (v, data, leases) => {
          const layout = immutableContainerLayout({ version: v, dataLength: data.length, leases });
          const file = concat(layout.header, data, layout.leaseRecords);
          expect(file.length).toBe(layout.fileSize);
          expect(layout.leaseOffset).toBe(12 + data.length);
          expect(detectContainer(file.subarray(0, 32))).toEqual({ kind: 'immutable', version: v });

          const container = await readImmutableContainer(bufferReader(file));
          expect(container).toEqual({
            kind: 'immutable',
            version: v,
            legacyMaxSize: data.length,
            dataOffset: 12,
            dataLength: data.length,
            leaseOffset: 12 + data.length,
            leases,
          });
          expect(await readContainer(bufferReader(file))).toEqual(container);
          expect(file.subarray(container.dataOffset, container.leaseOffset)).toEqual(data);
          // And the parts re-encode to the same bytes.
          expect(
            concat(
              encodeImmutableHeader({
                version: container.version,
                dataLength: container.dataLength,
                leaseCount: container.leases.length,
              }),
              data,
              encodeImmutableLeases(container.leases),
            ),
          ).toEqual(file);
        },
      ),
    );
  });

  it('immutableContainerLayout() writes version 2 unless told otherwise', () => {
    const layout = immutableContainerLayout({ dataLength: 5, leases: [] });
    expect([...layout.header]).toEqual([0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0]);
    expect(layout.fileSize).toBe(17);
  });
});

describe('mutable containers', () => {
  it('readMutableContainer(bufferReader(header ‖ data ‖ slack ‖ extra leases)) gives back what was encoded', async () => {
    await fc.assert(
      fc.asyncProperty(
        version,
        bytes(20),
        bytes(32),
        shareData,
        // 0–4 slot leases, any slot may stay empty.
        fc.array(fc.option(mutableLease, { nil: undefined }), { maxLength: MUTABLE_LEASE_SLOTS }),
        fc.array(mutableLease, { maxLength: 3 }),
        // Bytes between the data and the extra-lease block: a container that never shrank.
        fc.uint8Array({ maxLength: 200 }),
        async (v, nodeId, writeEnabler, data, slots, extras, slack) => {
          const extraLeaseOffset = MUTABLE_DATA_OFFSET + data.length + slack.length;
          const header = encodeMutableHeader({
            version: v,
            writeEnablerNodeId: nodeId,
            writeEnabler,
            dataLength: data.length,
            extraLeaseOffset,
            leases: slots,
          });
          expect(header.length).toBe(468);
          const extraBlock = encodeMutableExtraLeases(extras);
          expect(extraBlock.length).toBe(4 + 92 * extras.length);
          const file = concat(header, data, slack, extraBlock);
          expect(detectContainer(file.subarray(0, 32))).toEqual({ kind: 'mutable', version: v });

          const leaseSlots = Array.from(
            { length: MUTABLE_LEASE_SLOTS },
            (_, slot) => slots[slot] ?? BLANK_MUTABLE_LEASE,
          );
          const container = await readMutableContainer(bufferReader(file));
          expect(container).toEqual({
            kind: 'mutable',
            version: v,
            writeEnablerNodeId: nodeId,
            writeEnabler,
            dataOffset: 468,
            dataLength: data.length,
            extraLeaseOffset,
            extraLeaseEnd: file.length,
            leaseSlots,
            extraLeases: extras,
            leases: [...leaseSlots, ...extras].filter((lease) => lease.ownerNum !== 0),
          });
          expect(await readContainer(bufferReader(file))).toEqual(container);
          expect(file.subarray(468, 468 + container.dataLength)).toEqual(data);
          // And the parts re-encode to the same bytes.
          expect(
            concat(
              encodeMutableHeader({ ...container, leases: container.leaseSlots }),
              data,
              slack,
              encodeMutableExtraLeases(container.extraLeases),
            ),
          ).toEqual(file);
        },
      ),
    );
  });

  it('mutableContainerLayout() puts four leases in the slots and the rest right after the data', async () => {
    await fc.assert(
      fc.asyncProperty(
        version,
        bytes(20),
        bytes(32),
        shareData,
        fc.array(
          mutableLease.filter((lease) => lease.ownerNum !== 0),
          { maxLength: 7 },
        ),
        async (v, nodeId, writeEnabler, data, leases) => {
          const layout = mutableContainerLayout({
            version: v,
            writeEnablerNodeId: nodeId,
            writeEnabler,
            dataLength: data.length,
            leases,
          });
          expect(layout.extraLeaseOffset).toBe(468 + data.length);
          const file = concat(layout.header, data, layout.extraLeaseBlock);
          expect(file.length).toBe(layout.fileSize);
          const container = await readMutableContainer(bufferReader(file));
          expect(container.leases).toEqual(leases);
          expect(container.extraLeases).toEqual(leases.slice(4));
          expect(container.extraLeaseOffset).toBe(468 + data.length);
        },
      ),
    );
  });
});
