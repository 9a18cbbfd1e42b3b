import { type FileHandle, open } from 'node:fs/promises';
import { ContainerFormatError, type ContainerHeader } from './container/index.js';
import { stat } from './fs-calls.js';
import { errnoOf } from './fs-errors.js';
import { type DiskLayout, sharePath } from './layout.js';
import { corrupt, openIfExists, readHeader } from './share-files.js';

// What the backend remembers of complete shares between calls: open handles of immutable shares
// for reads, and parsed headers for listings. Whatever changes or removes a share file drops its
// entries here first.

// Reads reuse open handles of immutable shares (they never change in place, only get deleted),
// so a 1 MiB ranged read is one pread, as a raw reader holding the file open would do. Mutable
// shares are replaced by rename and always opened afresh.
const OPEN_SHARE_LIMIT = 64;
// Listings validate a remembered header with one stat instead of opening and reading the file.
const HEADER_CACHE_LIMIT = 200_000;

/** A complete share opened for reads (see `openForRead`); immutable ones are kept open. */
export interface OpenShare {
  readonly handle: FileHandle;
  readonly header: ContainerHeader;
  users: number;
  evicted: boolean;
}

/** What a share file's header says, remembered with the stat that validates it. */
interface CachedHeader {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly header: ContainerHeader;
}

export interface ShareCache {
  /** The header of a share file, from the cache when a stat shows the file unchanged. */
  headerOf(
    storageIndex: string,
    shnum: number,
  ): Promise<{ header: ContainerHeader; size: number } | undefined>;
  /**
   * A share opened for reading, with its header; the caller must `release` it. Immutable shares
   * stay open for the next read (up to OPEN_SHARE_LIMIT, least recently used closed first).
   */
  openForRead(storageIndex: string, shnum: number): Promise<OpenShare | undefined>;
  /** Ends a use of a share that `openForRead` gave. */
  release(entry: OpenShare): void;
  /** Forgets a share's cached header and handle; the handle closes once no read uses it. */
  evict(path: string): Promise<void>;
  /** Forgets a share's cached header only (a mutable share, whose handle is never kept). */
  forgetHeader(path: string): void;
  /** Evicts every share and forgets every header. */
  close(): Promise<void>;
}

export function createShareCache(layout: DiskLayout): ShareCache {
  const openShares = new Map<string, OpenShare>();
  const headers = new Map<string, CachedHeader>();

  async function headerOf(
    storageIndex: string,
    shnum: number,
  ): Promise<{ header: ContainerHeader; size: number } | undefined> {
    const path = sharePath(layout, storageIndex, shnum);
    let stats: import('node:fs').Stats;
    try {
      stats = await stat(path);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return undefined;
      throw error;
    }
    const cached = headers.get(path);
    if (
      cached &&
      cached.ino === stats.ino &&
      cached.size === stats.size &&
      cached.mtimeMs === stats.mtimeMs
    ) {
      return { header: cached.header, size: stats.size };
    }
    const handle = await open(path, 'r');
    try {
      const header = await readHeader(handle, stats.size);
      if (headers.size >= HEADER_CACHE_LIMIT) headers.delete(headers.keys().next().value!);
      headers.set(path, { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs, header });
      return { header, size: stats.size };
    } catch (error) {
      if (error instanceof ContainerFormatError) throw corrupt(storageIndex, shnum, error);
      throw error;
    } finally {
      await handle.close();
    }
  }

  function release(entry: OpenShare): void {
    entry.users -= 1;
    if (entry.evicted && entry.users === 0) void entry.handle.close().catch(() => undefined);
  }

  function evict(path: string): Promise<void> {
    headers.delete(path);
    const entry = openShares.get(path);
    if (!entry) return Promise.resolve();
    openShares.delete(path);
    entry.evicted = true;
    return entry.users === 0 ? entry.handle.close().catch(() => undefined) : Promise.resolve();
  }

  async function openForRead(storageIndex: string, shnum: number): Promise<OpenShare | undefined> {
    const path = sharePath(layout, storageIndex, shnum);
    const cached = openShares.get(path);
    if (cached) {
      openShares.delete(path); // re-insert: Map order is the recency order
      openShares.set(path, cached);
      cached.users += 1;
      return cached;
    }
    const handle = await openIfExists(path);
    if (!handle) return undefined;
    let header: ContainerHeader;
    try {
      header = await readHeader(handle, (await handle.stat()).size);
    } catch (error) {
      await handle.close();
      if (error instanceof ContainerFormatError) throw corrupt(storageIndex, shnum, error);
      throw error;
    }
    const entry: OpenShare = { handle, header, users: 1, evicted: header.kind === 'mutable' };
    if (header.kind === 'mutable') return entry; // closed by release
    const raced = openShares.get(path);
    if (raced) {
      await handle.close();
      raced.users += 1;
      return raced;
    }
    openShares.set(path, entry);
    for (const [key, other] of openShares) {
      if (openShares.size <= OPEN_SHARE_LIMIT) break;
      if (other.users === 0) void evict(key);
    }
    return entry;
  }

  return {
    headerOf,
    openForRead,
    release,
    evict,
    forgetHeader(path) {
      headers.delete(path);
    },
    async close() {
      await Promise.all([...openShares.keys()].map(evict));
      headers.clear();
    },
  };
}
