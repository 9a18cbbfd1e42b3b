import { assertSize } from './bytes.js';
import { ContainerFormatError } from './errors.js';

/**
 * Random access to the bytes of one share container. The codec reads headers and lease regions
 * through it and never the share data, so a 2 GiB share costs a few small reads.
 */
export interface ContainerReader {
  /** Size of the container in bytes (for a file: its size when it was opened). */
  readonly size: number;
  /**
   * Exactly `length` bytes starting at `offset`. Rejects with a {@link ContainerFormatError}
   * `TRUNCATED` when the range reaches past `size` or the bytes are no longer there.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** What a {@link fileReader} reads through: a `FileHandle` from node:fs/promises is one. */
export interface ReadableFileHandle {
  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
}

/**
 * A reader over bytes in memory. Reads return views into `bytes` (no copy); the codec copies
 * whatever it keeps.
 */
export function bufferReader(bytes: Uint8Array): ContainerReader {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bufferReader needs a Uint8Array');
  const size = bytes.length;
  return {
    size,
    read(offset, length) {
      try {
        assertInRange(size, offset, length);
      } catch (error) {
        return Promise.reject(error);
      }
      return Promise.resolve(bytes.subarray(offset, offset + length));
    },
  };
}

/**
 * A reader over an open file. `size` is the file's size as the caller saw it (`handle.stat()`),
 * so one parse sees one consistent length even if the file grows meanwhile; the handle stays
 * the caller's to close.
 */
export function fileReader(handle: ReadableFileHandle, size: number): ContainerReader {
  if (handle === null || typeof handle !== 'object' || typeof handle.read !== 'function') {
    throw new TypeError('fileReader needs a FileHandle or another object with read()');
  }
  assertSize('size', size);
  return {
    size,
    async read(offset, length) {
      assertInRange(size, offset, length);
      const buffer = new Uint8Array(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await handle.read(buffer, filled, length - filled, offset + filled);
        if (bytesRead === 0) {
          // The file shrank after its size was taken (a lease cancelled, a share deleted).
          throw new ContainerFormatError('TRUNCATED', `file ended at ${offset + filled} bytes`, {
            details: { offset, length, size, available: offset + filled },
          });
        }
        filled += bytesRead;
      }
      return buffer;
    },
  };
}

/**
 * Reads through any {@link ContainerReader}, including callers' own, and makes sure the answer
 * has the length asked for: a short answer is a truncated container, never an out-of-bounds
 * DataView.
 */
export async function readExactly(
  reader: ContainerReader,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  assertInRange(reader.size, offset, length);
  const bytes = await reader.read(offset, length);
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new ContainerFormatError('TRUNCATED', `expected ${length} bytes at offset ${offset}`, {
      details: { offset, length, size: reader.size },
    });
  }
  return bytes;
}

function assertInRange(size: number, offset: number, length: number): void {
  assertSize('offset', offset);
  assertSize('length', length);
  if (offset + length > size) {
    throw new ContainerFormatError(
      'TRUNCATED',
      `a read of ${length} bytes at offset ${offset} passes the end (${size} bytes)`,
      { details: { offset, length, size } },
    );
  }
}

/** Throws unless `reader` looks like a {@link ContainerReader}. */
export function assertReader(reader: unknown): asserts reader is ContainerReader {
  const candidate = reader as Partial<ContainerReader> | null;
  if (
    candidate === null ||
    typeof candidate !== 'object' ||
    typeof candidate.read !== 'function' ||
    !Number.isSafeInteger(candidate.size) ||
    (candidate.size as number) < 0
  ) {
    throw new TypeError('expected a ContainerReader ({ size, read(offset, length) })');
  }
}
