import { BackendError, type EmbeddedLease } from '@ostrom/backend';

// What an S3 object carries besides its bytes. User metadata (x-amz-meta-*) is ASCII and at most
// 2 KB per object on AWS, so immutable shares keep their few allocation leases there in a compact
// form; a mutable share's manifest is a JSON body with no such limit.

export const META_SHARETYPE = 'ostrom-sharetype';
export const META_LENGTH = 'ostrom-length';
export const META_USED = 'ostrom-used';
export const META_LEASES = 'ostrom-leases';
export const META_UPLOAD = 'ostrom-upload';

/** Keeps the whole metadata of an immutable share well under AWS's 2 KB. */
export const MAX_LEASE_METADATA_CHARS = 1600;

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

function unb64(text: unknown, length: number, what: string): Uint8Array {
  if (typeof text !== 'string') throw new Error(`${what} is missing`);
  const bytes = new Uint8Array(Buffer.from(text, 'base64url'));
  if (bytes.length !== length) throw new Error(`${what} is not ${length} bytes`);
  return bytes;
}

/** `owner.hashed.expiresAt.renew.cancel` per lease, comma-separated. */
export function encodeLeaseMetadata(leases: readonly EmbeddedLease[]): string {
  return leases
    .map(
      (lease) =>
        `${lease.ownerNum}.${lease.secretsHashed ? 1 : 0}.${lease.expiresAt}.${b64(lease.renewSecret)}.${b64(lease.cancelSecret)}`,
    )
    .join(',');
}

export function decodeLeaseMetadata(text: string | undefined, where: string): EmbeddedLease[] {
  if (!text) return [];
  try {
    return text.split(',').map((item) => {
      const [owner, hashed, expires, renew, cancel] = item.split('.');
      const ownerNum = Number(owner);
      const expiresAt = Number(expires);
      if (!Number.isSafeInteger(ownerNum) || !Number.isSafeInteger(expiresAt))
        throw new Error('bad lease numbers');
      return {
        ownerNum,
        renewSecret: unb64(renew, 32, 'renew secret'),
        cancelSecret: unb64(cancel, 32, 'cancel secret'),
        secretsHashed: hashed === '1',
        expiresAt,
      };
    });
  } catch (error) {
    throw new BackendError('CORRUPT', `the leases of ${where} cannot be read`, { cause: error });
  }
}

/**
 * A mutable share: its length and which object holds each chunk. Chunk `i` covers bytes
 * [i * chunkBytes, (i + 1) * chunkBytes) of the share; `chunks[i]` is `[generation, storedBytes]`,
 * the object `<shnum>.<generation>.<i>` holding the chunk's first `storedBytes` bytes (the rest
 * reads as zeros). Generation 0 is a chunk never written: zeros, no object.
 */
export interface Manifest {
  readonly length: number;
  readonly chunkBytes: number;
  readonly generation: number;
  readonly chunks: ReadonlyArray<readonly [number, number]>;
  readonly writeEnabler: Uint8Array;
  readonly writeEnablerNodeId?: Uint8Array;
  readonly leases: readonly EmbeddedLease[];
}

const MANIFEST_FORMAT = 'ostrom-mutable-manifest-v1';

export function encodeManifest(manifest: Manifest): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      format: MANIFEST_FORMAT,
      length: manifest.length,
      chunkBytes: manifest.chunkBytes,
      generation: manifest.generation,
      chunks: manifest.chunks,
      writeEnabler: b64(manifest.writeEnabler),
      ...(manifest.writeEnablerNodeId
        ? { writeEnablerNodeId: b64(manifest.writeEnablerNodeId) }
        : {}),
      leases: encodeLeaseMetadata(manifest.leases),
    }),
    'utf8',
  );
}

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

export function decodeManifest(bytes: Uint8Array, where: string): Manifest {
  try {
    const raw = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
    if (raw.format !== MANIFEST_FORMAT) throw new Error('not a manifest');
    const { length, chunkBytes, generation, chunks } = raw;
    if (!isCount(length) || !isCount(chunkBytes) || chunkBytes === 0 || !isCount(generation))
      throw new Error('bad numbers');
    if (!Array.isArray(chunks) || chunks.length !== Math.ceil(length / chunkBytes))
      throw new Error('bad chunk table');
    for (const entry of chunks) {
      if (!Array.isArray(entry) || !isCount(entry[0]) || !isCount(entry[1]))
        throw new Error('bad chunk entry');
      if (entry[0] > generation || entry[1] > chunkBytes || (entry[0] === 0 && entry[1] !== 0))
        throw new Error('inconsistent chunk entry');
    }
    return {
      length,
      chunkBytes,
      generation,
      chunks: chunks as Array<[number, number]>,
      writeEnabler: unb64(raw.writeEnabler, 32, 'write enabler'),
      ...(raw.writeEnablerNodeId === undefined
        ? {}
        : { writeEnablerNodeId: unb64(raw.writeEnablerNodeId, 20, 'node id') }),
      leases: decodeLeaseMetadata(raw.leases as string | undefined, where),
    };
  } catch (error) {
    if (error instanceof BackendError) throw error;
    throw new BackendError('CORRUPT', `${where} is not a readable mutable manifest`, {
      cause: error,
    });
  }
}
