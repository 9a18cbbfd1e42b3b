import { type FileHandle, open } from 'node:fs/promises';
import { BackendError } from '@ostrom/backend';
import {
  CONTAINER_HEADER_PROBE_BYTES,
  ContainerFormatError,
  type ContainerHeader,
  type ContainerReader,
  fileReader,
  parseContainerHeader,
  readContainer,
  type ShareContainer,
} from './container/index.js';
import type { UploadFile } from './disk-backend.js';
import { FdFile } from './fd-file.js';
import { stat } from './fs-calls.js';
import { errnoOf } from './fs-errors.js';
import { type DiskLayout, sharePath } from './layout.js';

// Share files read directly, without the cache: whether one exists, the whole container parsed,
// its header, a region of its bytes. A file that is no readable container is CORRUPT.

export async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw error;
  }
}

export async function shareExists(
  layout: DiskLayout,
  storageIndex: string,
  shnum: number,
): Promise<boolean> {
  try {
    await stat(sharePath(layout, storageIndex, shnum));
    return true;
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return false;
    throw error;
  }
}

export function corrupt(
  storageIndex: string,
  shnum: number,
  error: ContainerFormatError,
): BackendError {
  return new BackendError('CORRUPT', `share ${storageIndex}/${shnum} is not a readable container`, {
    cause: error,
    details: { storageIndex, shnum, problem: error.code },
  });
}

/** Opens and parses a complete share; undefined if absent; CORRUPT if unreadable. */
export async function withShare<T>(
  layout: DiskLayout,
  storageIndex: string,
  shnum: number,
  fn: (container: ShareContainer, file: FdFile, size: number) => Promise<T>,
): Promise<T | undefined> {
  const file = await FdFile.openIfPresent(sharePath(layout, storageIndex, shnum));
  if (!file) return undefined;
  try {
    const size = await file.size();
    let container: ShareContainer;
    try {
      container = await readContainer(headedReader(file, size));
    } catch (error) {
      if (error instanceof ContainerFormatError) throw corrupt(storageIndex, shnum, error);
      throw error;
    }
    return await fn(container, file, size);
  } finally {
    await file.close();
  }
}

/** Bytes read at once from the start of a share file when its container is parsed. */
const HEAD_BYTES = 4096;

/**
 * A container reader that reads a file's first 4 KiB once and answers from them: parsing a
 * container reads its magic, its header and (for a small immutable share) its leases at the end,
 * three reads that one covers. Ranges past the head are read from the file.
 */
function headedReader(file: FdFile, size: number): ContainerReader {
  const fromFile = fileReader(file, size);
  let head: Promise<Uint8Array> | undefined;
  return {
    size,
    async read(offset, length) {
      head ??= readRegion(file, 0, Math.min(size, HEAD_BYTES));
      const bytes = await head;
      if (offset >= 0 && offset + length <= bytes.length) {
        return bytes.subarray(offset, offset + length);
      }
      return await fromFile.read(offset, length);
    },
  };
}

/** Bytes [position, position + length) of a file, fewer where it ends sooner. */
export async function readRegion(
  handle: Pick<UploadFile, 'read'>,
  position: number,
  length: number,
): Promise<Uint8Array> {
  // Every byte returned is read from the file; no need to zero the buffer first.
  const buffer = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.subarray(0, done);
}

export async function readHeader(handle: FileHandle, size: number): Promise<ContainerHeader> {
  const head = await readRegion(handle, 0, Math.min(size, CONTAINER_HEADER_PROBE_BYTES));
  return parseContainerHeader(head, size);
}
