import { sha256 } from '@noble/hashes/sha2.js';
import { assertBytes, assertSize, assertU32, concatBytes, equalBytes, viewOf } from './bytes.js';
import { ContainerFormatError } from './errors.js';
import {
  type ContainerLease,
  decodeMutableLease,
  encodeMutableLease,
  MUTABLE_LEASE_BYTES,
  NODE_ID_BYTES,
} from './lease-record.js';
import { assertReader, type ContainerReader, readExactly } from './reader.js';
import {
  assertContainerVersion,
  CONTAINER_VERSIONS,
  type ContainerVersion,
  NEWEST_CONTAINER_VERSION,
} from './version.js';

// Mutable container (`mutable.py`, `mutable_schema.py`), big-endian:
//
//   0     32 B   magic (see mutableMagic)
//   32    20 B   write enabler's node id
//   52    32 B   write enabler (plain: the server compares it with what clients present)
//   84    u64    data length
//   92    u64    extra-lease offset (468 in a new container)
//   100   4×92   lease slots; owner_num 0 marks an empty slot
//   468   data
//   extra-lease offset: u32 count k, then k lease records
//
// The extra-lease block always exists: a new container is the 468-byte header followed by a
// zero count, and writes past it move the block further out (`_change_container_size`). The
// container never shrinks, so the extra-lease offset may lie beyond 468 + data length.

/** Bytes of the magic at the start of a mutable container. */
export const MUTABLE_MAGIC_BYTES = 32;
/** Lease slots in a mutable header. */
export const MUTABLE_LEASE_SLOTS = 4;
/** Bytes of the mutable header including its lease slots, and so the offset of the data. */
export const MUTABLE_DATA_OFFSET = 100 + MUTABLE_LEASE_SLOTS * MUTABLE_LEASE_BYTES;
/** Bytes of a write enabler. */
export const WRITE_ENABLER_BYTES = 32;
/** Bytes of the extra-lease count that opens the extra-lease block. */
export const EXTRA_LEASE_COUNT_BYTES = 4;

const MAGICS: ReadonlyMap<ContainerVersion, Uint8Array> = new Map(
  CONTAINER_VERSIONS.map((version) => [version, computeMagic(version)]),
);

// `mutable_schema._magic`: a readable line, then 5 bytes to make accidental matches unlikely.
// v1's bytes are historical constants; later versions take the first 5 bytes of
// tagged_hash("allmydata_mutable_container_header", line) (`util/hashutil.py`), where
// tagged_hash(tag, v) = SHA-256(SHA-256(netstring(tag) ‖ v)) and netstring(x) = "<len>:x,".
function computeMagic(version: ContainerVersion): Uint8Array {
  const encoder = new TextEncoder();
  const line = encoder.encode(`Tahoe mutable container v${version}\n`);
  let tail: Uint8Array;
  if (version === 1) {
    tail = Uint8Array.of(0x75, 0x09, 0x44, 0x03, 0x8e);
  } else {
    const tag = encoder.encode('allmydata_mutable_container_header');
    const netstring = concatBytes([encoder.encode(`${tag.length}:`), tag, encoder.encode(',')]);
    tail = sha256(sha256(concatBytes([netstring, line]))).slice(0, 5);
  }
  return concatBytes([line, tail]);
}

/** The 32 bytes that open a mutable container of `version`. */
export function mutableMagic(version: ContainerVersion): Uint8Array {
  assertContainerVersion(version);
  return (MAGICS.get(version) as Uint8Array).slice();
}

/**
 * The version whose magic opens `bytes`, or undefined. Tahoe compares the magic as a prefix
 * (`_Schema.magic_matches`), so anything may follow it.
 */
export function mutableMagicVersion(bytes: Uint8Array): ContainerVersion | undefined {
  if (bytes.length < MUTABLE_MAGIC_BYTES) return undefined;
  const candidate = bytes.subarray(0, MUTABLE_MAGIC_BYTES);
  for (const [version, magic] of MAGICS) if (equalBytes(candidate, magic)) return version;
  return undefined;
}

/** A parsed mutable container. Offsets and lengths are in bytes from the start of the file. */
export interface MutableContainer {
  readonly kind: 'mutable';
  readonly version: ContainerVersion;
  /** Node id stored with the write enabler (20 bytes): the server that created the share. */
  readonly writeEnablerNodeId: Uint8Array;
  /** The write enabler (32 bytes, plain in both versions). */
  readonly writeEnabler: Uint8Array;
  /** Where the share data starts (always 468). */
  readonly dataOffset: number;
  /** Share data bytes, from the header. */
  readonly dataLength: number;
  /** Where the extra-lease block (count, then records) starts; ≥ dataOffset + dataLength. */
  readonly extraLeaseOffset: number;
  /** Where the extra-lease block ends; Tahoe ignores anything after it, and so do we. */
  readonly extraLeaseEnd: number;
  /** The four slot records as stored, owner 0 (all zeros, as Tahoe writes them) = empty. */
  readonly leaseSlots: readonly ContainerLease[];
  /** The extra-lease records as stored; a cancelled one stays behind as an owner-0 record. */
  readonly extraLeases: readonly ContainerLease[];
  /** The live leases: records with owner ≠ 0, slots in order, then extra leases in order. */
  readonly leases: readonly ContainerLease[];
}

/**
 * Parses a mutable container's header, lease slots and extra leases (the data is not read).
 * Throws {@link ContainerFormatError}: `UNKNOWN_CONTAINER` without a known magic, `TRUNCATED`
 * when the file ends inside the header or before the extra-lease block it points to ends,
 * `INCONSISTENT` when the data would run past the extra-lease offset.
 */
export async function readMutableContainer(reader: ContainerReader): Promise<MutableContainer> {
  assertReader(reader);
  const { size } = reader;
  if (size < MUTABLE_MAGIC_BYTES) throw truncated('the magic', MUTABLE_MAGIC_BYTES, size);
  const header = await readExactly(reader, 0, Math.min(size, MUTABLE_DATA_OFFSET));
  const version = mutableMagicVersion(header);
  if (version === undefined) {
    throw new ContainerFormatError('UNKNOWN_CONTAINER', 'no known mutable container magic');
  }
  if (size < MUTABLE_DATA_OFFSET) throw truncated('the header', MUTABLE_DATA_OFFSET, size);
  const view = viewOf(header);
  const dataLength = view.getBigUint64(84);
  const extraLeaseOffset = view.getBigUint64(92);
  if (BigInt(MUTABLE_DATA_OFFSET) + dataLength > extraLeaseOffset) {
    throw new ContainerFormatError(
      'INCONSISTENT',
      `data of ${dataLength} bytes at ${MUTABLE_DATA_OFFSET} runs past the extra-lease offset ${extraLeaseOffset}`,
      { details: { size, dataLength, extraLeaseOffset } },
    );
  }
  if (extraLeaseOffset + BigInt(EXTRA_LEASE_COUNT_BYTES) > BigInt(size)) {
    throw truncated(
      'the extra-lease count',
      extraLeaseOffset + BigInt(EXTRA_LEASE_COUNT_BYTES),
      size,
    );
  }
  // Both fit in the file now, so they are safe integers.
  const extraOffset = Number(extraLeaseOffset);
  const extraCount = viewOf(
    await readExactly(reader, extraOffset, EXTRA_LEASE_COUNT_BYTES),
  ).getUint32(0);
  const recordsOffset = extraOffset + EXTRA_LEASE_COUNT_BYTES;
  const extraLeaseEnd = recordsOffset + extraCount * MUTABLE_LEASE_BYTES;
  if (extraLeaseEnd > size) throw truncated(`${extraCount} extra leases`, extraLeaseEnd, size);

  const leaseSlots: ContainerLease[] = [];
  for (let slot = 0; slot < MUTABLE_LEASE_SLOTS; slot++) {
    const at = 100 + slot * MUTABLE_LEASE_BYTES;
    leaseSlots.push(decodeMutableLease(header.subarray(at, at + MUTABLE_LEASE_BYTES)));
  }
  const extraLeases: ContainerLease[] = [];
  if (extraCount > 0) {
    const records = await readExactly(reader, recordsOffset, extraLeaseEnd - recordsOffset);
    for (let at = 0; at < records.length; at += MUTABLE_LEASE_BYTES) {
      extraLeases.push(decodeMutableLease(records.subarray(at, at + MUTABLE_LEASE_BYTES)));
    }
  }
  return {
    kind: 'mutable',
    version,
    writeEnablerNodeId: header.slice(32, 52),
    writeEnabler: header.slice(52, 84),
    dataOffset: MUTABLE_DATA_OFFSET,
    dataLength: Number(dataLength),
    extraLeaseOffset: extraOffset,
    extraLeaseEnd,
    leaseSlots,
    extraLeases,
    // `_read_lease_record` treats owner 0 as "no lease here" in slots and extra records alike.
    leases: [...leaseSlots, ...extraLeases].filter((lease) => lease.ownerNum !== 0),
  };
}

function truncated(what: string, needed: number | bigint, size: number): ContainerFormatError {
  return new ContainerFormatError(
    'TRUNCATED',
    `the file (${size} bytes) ends before ${what} (${needed} bytes needed)`,
    { details: { size, needed: typeof needed === 'bigint' ? needed.toString() : needed } },
  );
}

/** The fields of a mutable header (the 468 bytes before the data). */
export interface MutableHeaderFields {
  readonly version: ContainerVersion;
  /** 20 bytes. */
  readonly writeEnablerNodeId: Uint8Array;
  /** 32 bytes. */
  readonly writeEnabler: Uint8Array;
  /** Share data bytes. */
  readonly dataLength: number;
  /** Where the extra-lease block starts; at least, and by default, 468 + dataLength. */
  readonly extraLeaseOffset?: number;
  /**
   * Up to four slot leases, in slot order, each with a `nodeId`; `undefined` (or a missing
   * entry) leaves the slot empty (zeros).
   */
  readonly leases: readonly (ContainerLease | undefined)[];
}

/** The 468-byte mutable header: magic, write enabler, lengths and the four lease slots. */
export function encodeMutableHeader(fields: MutableHeaderFields): Uint8Array {
  assertContainerVersion(fields.version);
  assertBytes('writeEnablerNodeId', fields.writeEnablerNodeId, NODE_ID_BYTES);
  assertBytes('writeEnabler', fields.writeEnabler, WRITE_ENABLER_BYTES);
  assertSize('dataLength', fields.dataLength);
  const extraLeaseOffset = fields.extraLeaseOffset ?? MUTABLE_DATA_OFFSET + fields.dataLength;
  assertSize('extraLeaseOffset', extraLeaseOffset);
  if (extraLeaseOffset < MUTABLE_DATA_OFFSET + fields.dataLength) {
    throw new RangeError('extraLeaseOffset must be at least 468 + dataLength');
  }
  if (!Array.isArray(fields.leases)) throw new TypeError('leases must be an array');
  if (fields.leases.length > MUTABLE_LEASE_SLOTS) {
    throw new RangeError(`a mutable header has ${MUTABLE_LEASE_SLOTS} lease slots`);
  }
  const header = new Uint8Array(MUTABLE_DATA_OFFSET);
  const view = viewOf(header);
  header.set(MAGICS.get(fields.version) as Uint8Array, 0);
  header.set(fields.writeEnablerNodeId, 32);
  header.set(fields.writeEnabler, 52);
  view.setBigUint64(84, BigInt(fields.dataLength));
  view.setBigUint64(92, BigInt(extraLeaseOffset));
  fields.leases.forEach((lease, slot) => {
    if (lease !== undefined)
      header.set(encodeMutableLease(lease), 100 + slot * MUTABLE_LEASE_BYTES);
  });
  return header;
}

/** The extra-lease block: a u32 count, then the 92-byte records of `leases` in order. */
export function encodeMutableExtraLeases(leases: readonly ContainerLease[]): Uint8Array {
  if (!Array.isArray(leases)) throw new TypeError('leases must be an array');
  assertU32('extra lease count', leases.length);
  const count = new Uint8Array(EXTRA_LEASE_COUNT_BYTES);
  viewOf(count).setUint32(0, leases.length);
  return concatBytes([count, ...leases.map(encodeMutableLease)]);
}

/** What to write, and where, for a mutable container: header ‖ data ‖ extra-lease block. */
export interface MutableContainerLayout {
  /** The 468 bytes at offset 0, lease slots included. */
  readonly header: Uint8Array;
  /** Where the share data goes (468). */
  readonly dataOffset: number;
  /** Where the extra-lease block goes: 468 + dataLength. */
  readonly extraLeaseOffset: number;
  /** The extra-lease block: count, then the leases past the fourth. */
  readonly extraLeaseBlock: Uint8Array;
  /** Size of the finished file. */
  readonly fileSize: number;
}

/**
 * The byte layout of a compact mutable container holding `dataLength` bytes of share data and
 * `leases` (each with a `nodeId`; secrets as stored, so hashed for v2): the first four fill the
 * slots, the rest go to the extra-lease block right after the data. Version 2, what Tahoe
 * writes for new shares, unless `version` says otherwise.
 */
export function mutableContainerLayout(options: {
  readonly version?: ContainerVersion;
  readonly writeEnablerNodeId: Uint8Array;
  readonly writeEnabler: Uint8Array;
  readonly dataLength: number;
  readonly leases: readonly ContainerLease[];
}): MutableContainerLayout {
  if (!Array.isArray(options.leases)) throw new TypeError('leases must be an array');
  const header = encodeMutableHeader({
    version: options.version ?? NEWEST_CONTAINER_VERSION,
    writeEnablerNodeId: options.writeEnablerNodeId,
    writeEnabler: options.writeEnabler,
    dataLength: options.dataLength,
    leases: options.leases.slice(0, MUTABLE_LEASE_SLOTS),
  });
  const extraLeaseBlock = encodeMutableExtraLeases(options.leases.slice(MUTABLE_LEASE_SLOTS));
  const extraLeaseOffset = MUTABLE_DATA_OFFSET + options.dataLength;
  const fileSize = extraLeaseOffset + extraLeaseBlock.length;
  if (!Number.isSafeInteger(fileSize)) throw new RangeError('the container would be too large');
  return {
    header,
    dataOffset: MUTABLE_DATA_OFFSET,
    extraLeaseOffset,
    extraLeaseBlock,
    fileSize,
  };
}
