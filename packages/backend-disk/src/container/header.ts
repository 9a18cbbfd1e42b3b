import { detectContainer } from './detect.js';
import { ContainerFormatError } from './errors.js';
import { IMMUTABLE_HEADER_BYTES } from './immutable.js';
import { IMMUTABLE_LEASE_BYTES } from './lease-record.js';
import { MUTABLE_DATA_OFFSET } from './mutable.js';
import type { ContainerVersion } from './version.js';

/** Bytes that hold everything `parseContainerHeader` needs, for either kind. */
export const CONTAINER_HEADER_PROBE_BYTES = 100;

/** Where a share's data lies, without its leases: what listings and reads need. */
export interface ContainerHeader {
  readonly kind: 'immutable' | 'mutable';
  readonly version: ContainerVersion;
  readonly dataOffset: number;
  readonly dataLength: number;
}

/**
 * Reads the kind, version and data region from the first bytes of a share file of `fileSize`
 * bytes (at least the first 100, or the whole file if shorter). One small read instead of the
 * full parse (which also decodes every lease): immutable data length = size − 12 − 72·N,
 * mutable data length is in the header at 84.
 */
export function parseContainerHeader(head: Uint8Array, fileSize: number): ContainerHeader {
  const detected = detectContainer(head.subarray(0, 32));
  if (!detected)
    throw new ContainerFormatError(
      'UNKNOWN_CONTAINER',
      'neither a mutable nor an immutable container',
    );
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (detected.kind === 'immutable') {
    if (head.length < IMMUTABLE_HEADER_BYTES) {
      throw new ContainerFormatError('TRUNCATED', 'an immutable container has a 12-byte header');
    }
    const leases = view.getUint32(8);
    const dataLength = fileSize - IMMUTABLE_HEADER_BYTES - IMMUTABLE_LEASE_BYTES * leases;
    if (dataLength < 0) {
      throw new ContainerFormatError(
        'INCONSISTENT',
        `${leases} lease records do not fit in ${fileSize} bytes`,
      );
    }
    return {
      kind: 'immutable',
      version: detected.version,
      dataOffset: IMMUTABLE_HEADER_BYTES,
      dataLength,
    };
  }
  if (head.length < 100)
    throw new ContainerFormatError('TRUNCATED', 'a mutable container has a 468-byte header');
  const dataLength = Number(view.getBigUint64(84));
  if (!Number.isSafeInteger(dataLength) || MUTABLE_DATA_OFFSET + dataLength > fileSize) {
    throw new ContainerFormatError('INCONSISTENT', 'the data length runs past the end of the file');
  }
  return {
    kind: 'mutable',
    version: detected.version,
    dataOffset: MUTABLE_DATA_OFFSET,
    dataLength,
  };
}
