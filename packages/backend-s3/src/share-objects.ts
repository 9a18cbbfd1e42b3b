import { BackendError, type ShareInfo, type ShareType } from '@ostrom/backend';
import { mapLimit, REQUEST_CONCURRENCY } from './concurrency.js';
import { type S3Context, shareName } from './context.js';
import {
  decodeManifest,
  type Manifest,
  META_LENGTH,
  META_SHARETYPE,
  META_USED,
} from './encoding.js';
import type { ObjectHead } from './object-store.js';

// What a complete share's objects say: its type and sizes from the share object's metadata, a
// mutable share's manifest, and the bytes of the chunks the manifest names.

const MANIFEST_PROBE_BYTES = 64 * 1024;

export function sharetypeOf(head: ObjectHead, storageIndex: string, shnum: number): ShareType {
  const type = head.metadata[META_SHARETYPE];
  if (type === 'immutable' || type === 'mutable') return type;
  throw new BackendError('CORRUPT', `${shareName(storageIndex, shnum)} has no share type`, {
    details: { storageIndex, shnum },
  });
}

export function infoOf(head: ObjectHead, storageIndex: string, shnum: number): ShareInfo {
  const sharetype = sharetypeOf(head, storageIndex, shnum);
  if (sharetype === 'immutable')
    return { shnum, sharetype, sizeBytes: head.sizeBytes, usedBytes: head.sizeBytes };
  const sizeBytes = Number(head.metadata[META_LENGTH]);
  const usedBytes = Number(head.metadata[META_USED]);
  if (!Number.isSafeInteger(sizeBytes) || !Number.isSafeInteger(usedBytes)) {
    throw new BackendError('CORRUPT', `${shareName(storageIndex, shnum)} has a bad length`, {
      details: { storageIndex, shnum },
    });
  }
  return { shnum, sharetype, sizeBytes, usedBytes };
}

export async function headShare(
  { store, layout }: S3Context,
  storageIndex: string,
  shnum: number,
): Promise<ObjectHead | undefined> {
  return store.head(layout.shareKey(storageIndex, shnum));
}

export async function readManifest(
  { store, layout }: S3Context,
  storageIndex: string,
  shnum: number,
): Promise<Manifest | undefined> {
  const body = await store.get(layout.shareKey(storageIndex, shnum));
  if (!body) return undefined;
  if (sharetypeOf(body, storageIndex, shnum) !== 'mutable')
    throw new BackendError('CONFLICT', `${shareName(storageIndex, shnum)} is immutable`);
  return decodeManifest(body.bytes, shareName(storageIndex, shnum));
}

/**
 * A share's object metadata and, for a mutable share, its manifest, in one request when the
 * manifest is small (it is: about 12 bytes per 512 KiB chunk). The first bytes of an immutable
 * share are fetched for nothing, but never more than MANIFEST_PROBE_BYTES.
 */
export async function probeShare(
  context: S3Context,
  storageIndex: string,
  shnum: number,
): Promise<{ head: ObjectHead; manifest?: Manifest } | undefined> {
  const body = await context.store.get(context.layout.shareKey(storageIndex, shnum), {
    begin: 0,
    end: MANIFEST_PROBE_BYTES,
  });
  if (!body) return undefined;
  if (sharetypeOf(body, storageIndex, shnum) === 'immutable') return { head: body };
  const manifest =
    body.bytes.length === body.sizeBytes
      ? decodeManifest(body.bytes, shareName(storageIndex, shnum))
      : await readManifest(context, storageIndex, shnum);
  return manifest && { head: body, manifest };
}

/** Bytes [begin, end) of chunk `index` as stored (zeros past the stored bytes). */
export async function readChunk(
  { store, layout }: S3Context,
  storageIndex: string,
  shnum: number,
  manifest: Manifest,
  index: number,
  begin: number,
  end: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(end - begin);
  const [generation, stored] = manifest.chunks[index] ?? [0, 0];
  const storedEnd = Math.min(end, stored);
  if (generation === 0 || storedEnd <= begin) return out;
  const key = layout.chunkKey(storageIndex, shnum, generation, index);
  const body = await store.get(key, { begin, end: storedEnd });
  if (!body || body.bytes.length !== storedEnd - begin) {
    throw new BackendError(
      'CORRUPT',
      `chunk ${index} of ${shareName(storageIndex, shnum)} is missing`,
      {
        details: { storageIndex, shnum, key, chunkMissing: true },
      },
    );
  }
  out.set(body.bytes);
  return out;
}

/** Bytes [offset, offset + length) of a mutable share's data, clipped to its length. */
export async function readMutable(
  context: S3Context,
  storageIndex: string,
  shnum: number,
  manifest: Manifest,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const begin = Math.min(offset, manifest.length);
  const end = Math.min(offset + length, manifest.length);
  const out = new Uint8Array(end - begin);
  const size = manifest.chunkBytes;
  const indexes: number[] = [];
  for (let i = Math.floor(begin / size); i * size < end; i++) indexes.push(i);
  await mapLimit(indexes, REQUEST_CONCURRENCY, async (i) => {
    const from = Math.max(begin, i * size);
    const to = Math.min(end, (i + 1) * size);
    out.set(
      await readChunk(context, storageIndex, shnum, manifest, i, from - i * size, to - i * size),
      from - begin,
    );
  });
  return out;
}
