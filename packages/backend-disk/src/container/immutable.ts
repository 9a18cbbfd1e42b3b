import { assertSize, assertU32, concatBytes, U32_MAX, viewOf } from './bytes.js';
import { ContainerFormatError } from './errors.js';
import {
  type ContainerLease,
  decodeImmutableLease,
  encodeImmutableLease,
  IMMUTABLE_LEASE_BYTES,
} from './lease-record.js';
import { assertReader, type ContainerReader, readExactly } from './reader.js';
import {
  assertContainerVersion,
  type ContainerVersion,
  isContainerVersion,
  NEWEST_CONTAINER_VERSION,
} from './version.js';

// Immutable container (`immutable.py`, `immutable_schema.py`), big-endian:
//
//   0x00  u32  version (1 or 2)
//   0x04  u32  min(2^32 − 1, allocated size): unused since Tahoe 1.3.0, still written so an
//              older server could read the share (it saturates instead of wrapping)
//   0x08  u32  lease count N
//   0x0c       share data
//   end − 72·N N lease records
//
// Nothing records where the data ends: Tahoe derives it from the file size, data length =
// file size − 12 − 72·N (`ShareFile.__init__`). The file is created with its first lease at
// 12 + allocated size, so a finished upload's data length is its allocated size.

/** Bytes of the immutable header, and so the offset of the share data. */
export const IMMUTABLE_HEADER_BYTES = 12;

/** A parsed immutable container. Offsets and lengths are in bytes from the start of the file. */
export interface ImmutableContainer {
  readonly kind: 'immutable';
  readonly version: ContainerVersion;
  /** The header's 0x04 field: the allocated size, saturated at 2^32 − 1. Tahoe ignores it. */
  readonly legacyMaxSize: number;
  /** Where the share data starts (always 12). */
  readonly dataOffset: number;
  /** Share data bytes: file size − 12 − 72·N. */
  readonly dataLength: number;
  /** Where the lease records start: dataOffset + dataLength. */
  readonly leaseOffset: number;
  /** The N lease records in file order. */
  readonly leases: readonly ContainerLease[];
}

/**
 * Parses an immutable container's header and leases (the data is not read). Throws
 * {@link ContainerFormatError}: `TRUNCATED` below 12 bytes, `UNKNOWN_CONTAINER` for a version
 * other than 1 or 2, `INCONSISTENT` when N lease records do not fit in the file.
 */
export async function readImmutableContainer(reader: ContainerReader): Promise<ImmutableContainer> {
  assertReader(reader);
  const { size } = reader;
  if (size < IMMUTABLE_HEADER_BYTES) {
    throw new ContainerFormatError(
      'TRUNCATED',
      `an immutable container has a ${IMMUTABLE_HEADER_BYTES}-byte header, the file has ${size} bytes`,
      { details: { size } },
    );
  }
  const header = viewOf(await readExactly(reader, 0, IMMUTABLE_HEADER_BYTES));
  const version = header.getUint32(0);
  if (!isContainerVersion(version)) {
    throw new ContainerFormatError(
      'UNKNOWN_CONTAINER',
      `unknown immutable container version ${version}`,
      { details: { version } },
    );
  }
  const legacyMaxSize = header.getUint32(4);
  const leaseCount = header.getUint32(8);
  const leaseBytes = leaseCount * IMMUTABLE_LEASE_BYTES; // ≤ 3.1e11: exact in a double
  if (IMMUTABLE_HEADER_BYTES + leaseBytes > size) {
    // Tahoe would compute a negative data length here and misread every lease.
    throw new ContainerFormatError(
      'INCONSISTENT',
      `${leaseCount} leases (${leaseBytes} bytes) do not fit in a ${size}-byte immutable container`,
      { details: { size, leaseCount } },
    );
  }
  const leaseOffset = size - leaseBytes;
  const leases: ContainerLease[] = [];
  if (leaseCount > 0) {
    const records = await readExactly(reader, leaseOffset, leaseBytes);
    for (let at = 0; at < leaseBytes; at += IMMUTABLE_LEASE_BYTES) {
      leases.push(decodeImmutableLease(records.subarray(at, at + IMMUTABLE_LEASE_BYTES)));
    }
  }
  return {
    kind: 'immutable',
    version,
    legacyMaxSize,
    dataOffset: IMMUTABLE_HEADER_BYTES,
    dataLength: leaseOffset - IMMUTABLE_HEADER_BYTES,
    leaseOffset,
    leases,
  };
}

/** The fields of an immutable header. */
export interface ImmutableHeaderFields {
  readonly version: ContainerVersion;
  /** Share data bytes (the allocated size); the header stores min(2^32 − 1, dataLength). */
  readonly dataLength: number;
  /** Number of lease records that follow the data (u32). */
  readonly leaseCount: number;
}

/** The 12-byte immutable header. */
export function encodeImmutableHeader(fields: ImmutableHeaderFields): Uint8Array {
  assertContainerVersion(fields.version);
  assertSize('dataLength', fields.dataLength);
  assertU32('leaseCount', fields.leaseCount);
  const header = new Uint8Array(IMMUTABLE_HEADER_BYTES);
  const view = viewOf(header);
  view.setUint32(0, fields.version);
  view.setUint32(4, Math.min(U32_MAX, fields.dataLength));
  view.setUint32(8, fields.leaseCount);
  return header;
}

/** The lease region: the 72-byte records of `leases`, in order. */
export function encodeImmutableLeases(leases: readonly ContainerLease[]): Uint8Array {
  if (!Array.isArray(leases)) throw new TypeError('leases must be an array');
  assertU32('lease count', leases.length);
  return concatBytes(leases.map(encodeImmutableLease));
}

/** What to write, and where, for an immutable container: header ‖ data ‖ lease records. */
export interface ImmutableContainerLayout {
  /** The 12 bytes at offset 0. */
  readonly header: Uint8Array;
  /** Where the share data goes (12). */
  readonly dataOffset: number;
  /** Where the lease records go: 12 + dataLength. */
  readonly leaseOffset: number;
  /** The lease records, 72 bytes each. */
  readonly leaseRecords: Uint8Array;
  /** Size of the finished file. */
  readonly fileSize: number;
}

/**
 * The byte layout of an immutable container holding `dataLength` bytes of share data and
 * `leases` (lease secrets as stored: hash them with `storedLeaseSecret` for v2). Version 2,
 * what Tahoe writes for new shares, unless `version` says otherwise.
 */
export function immutableContainerLayout(options: {
  readonly version?: ContainerVersion;
  readonly dataLength: number;
  readonly leases: readonly ContainerLease[];
}): ImmutableContainerLayout {
  const version = options.version ?? NEWEST_CONTAINER_VERSION;
  const leaseRecords = encodeImmutableLeases(options.leases);
  const header = encodeImmutableHeader({
    version,
    dataLength: options.dataLength,
    leaseCount: options.leases.length,
  });
  const leaseOffset = IMMUTABLE_HEADER_BYTES + options.dataLength;
  const fileSize = leaseOffset + leaseRecords.length;
  if (!Number.isSafeInteger(fileSize)) throw new RangeError('the container would be too large');
  return {
    header,
    dataOffset: IMMUTABLE_HEADER_BYTES,
    leaseOffset,
    leaseRecords,
    fileSize,
  };
}
