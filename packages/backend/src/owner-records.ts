import { isShareNumber, isStorageIndex, sharePrefixOf } from '@ostrom/protocol/facts';
import { BackendError } from './errors.js';
import { SHARE_TYPES, type ShareBackend, type ShareType } from './types.js';
import { checkShnum, checkStorageIndex } from './validate.js';

// Who stored each share, kept beside the shares as a small sealed blob written when the share is
// allocated (immutable) or created (mutable). The lease database is the authority while it
// exists; these make ownership recoverable when it is lost, even for shares newer than its last
// backup (the crawler reads them when it adopts a share).

/** The owner of one share, as written beside it. */
export interface OwnerRecord {
  /** The account's id in the lease database that wrote the record. */
  readonly accountId: number;
  /** The account's Ed25519 public key (64 hex digits); null for the built-in accounts. */
  readonly publicKey: string | null;
  readonly nickname: string;
  readonly sharetype: ShareType;
  /** Unix seconds. */
  readonly createdAt: number;
}

const OWNERS = 'owners';

/** The blob name of a share's owner record: `owners/<prefix>/<storage index>/<shnum>`. */
export function ownerRecordName(storageIndex: string, shnum: number): string {
  checkStorageIndex(storageIndex);
  checkShnum(shnum);
  return `${OWNERS}/${sharePrefixOf(storageIndex)}/${storageIndex}/${shnum}`;
}

/** The blob-name prefix of every owner record under a two-character prefix. */
export function ownerRecordPrefix(prefix: string): string {
  return `${OWNERS}/${prefix}/`;
}

/** Storage index and share number of an owner record's blob name, or undefined for another blob. */
export function parseOwnerRecordName(
  name: string,
): { storageIndex: string; shnum: number } | undefined {
  const match = /^owners\/([a-z2-7]{2})\/([a-z2-7]{26})\/(\d{1,3})$/.exec(name);
  const storageIndex = match?.[2];
  if (!isStorageIndex(storageIndex) || sharePrefixOf(storageIndex) !== match?.[1]) return undefined;
  const shnum = Number(match[3]);
  if (!isShareNumber(shnum) || String(shnum) !== match[3]) return undefined;
  return { storageIndex, shnum };
}

export function encodeOwnerRecord(record: OwnerRecord): Uint8Array {
  checkOwnerRecord(record);
  return new TextEncoder().encode(JSON.stringify(record));
}

/** Decodes and checks a record; CORRUPT when it is not one. */
export function decodeOwnerRecord(bytes: Uint8Array): OwnerRecord {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new BackendError('CORRUPT', 'an owner record is not JSON', { cause });
  }
  try {
    checkOwnerRecord(value);
  } catch (cause) {
    throw new BackendError('CORRUPT', `malformed owner record: ${(cause as Error).message}`, {
      cause,
    });
  }
  const { accountId, publicKey, nickname, sharetype, createdAt } = value;
  return { accountId, publicKey, nickname, sharetype, createdAt };
}

function checkOwnerRecord(value: unknown): asserts value is OwnerRecord {
  const r = value as Partial<OwnerRecord> | null;
  if (typeof r !== 'object' || r === null) throw new TypeError('an owner record is an object');
  if (!Number.isSafeInteger(r.accountId) || (r.accountId as number) < 0) {
    throw new TypeError('accountId must be a non-negative integer');
  }
  if (
    r.publicKey !== null &&
    !(typeof r.publicKey === 'string' && /^[0-9a-f]{64}$/.test(r.publicKey))
  ) {
    throw new TypeError('publicKey must be 64 lowercase hex digits or null');
  }
  if (typeof r.nickname !== 'string' || r.nickname.length > 256) {
    throw new TypeError('nickname must be a string of at most 256 characters');
  }
  if (!SHARE_TYPES.includes(r.sharetype as ShareType)) {
    throw new TypeError(`sharetype must be one of ${SHARE_TYPES.join(', ')}`);
  }
  if (!Number.isSafeInteger(r.createdAt) || (r.createdAt as number) < 0) {
    throw new TypeError('createdAt must be Unix seconds');
  }
}

/** Writes the owner record of each share (sealed with `key`), in parallel. */
export async function writeOwnerRecords(
  backend: ShareBackend,
  key: Uint8Array,
  storageIndex: string,
  shnums: readonly number[],
  record: OwnerRecord,
): Promise<void> {
  const bytes = encodeOwnerRecord(record);
  await Promise.all(
    shnums.map((shnum) => backend.putBlob(ownerRecordName(storageIndex, shnum), bytes, key)),
  );
}

/** A share's owner record, or undefined; CORRUPT when it fails authentication or decoding. */
export async function readOwnerRecord(
  backend: ShareBackend,
  key: Uint8Array,
  storageIndex: string,
  shnum: number,
): Promise<OwnerRecord | undefined> {
  const bytes = await backend.getBlob(ownerRecordName(storageIndex, shnum), key);
  return bytes === undefined ? undefined : decodeOwnerRecord(bytes);
}

/** Deletes the owner records of these shares (those missing are fine). */
export async function deleteOwnerRecords(
  backend: ShareBackend,
  storageIndex: string,
  shnums: readonly number[],
): Promise<void> {
  await Promise.all(
    shnums.map((shnum) => backend.deleteBlob(ownerRecordName(storageIndex, shnum))),
  );
}
