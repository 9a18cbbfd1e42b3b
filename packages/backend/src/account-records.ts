import { BackendError } from './errors.js';
import type { ShareBackend } from './types.js';

// Each account, kept beside the shares as a small sealed blob (docs/ARCHITECTURE.md, "Owner
// records and sealed state blobs"). A swissnum names an account by its id, so the id is the
// account's identity on the wire: when the lease database is lost, or restored from a backup
// older than some accounts, these records give every account back under the id its NURL names,
// with its key, nickname, status, quotas and attributes, including accounts that hold no share.
// A deleted account keeps its record (status `deleted`) so that its id stays taken. The writer
// holds the account's row locked and writes the row as it stands, so the last record written is
// the row as the last change left it.

/** Account statuses as the lease database knows them (see `ACCOUNT_STATUSES` there). */
export const ACCOUNT_RECORD_STATUSES = [
  'pending',
  'normal',
  'frozen',
  'disabled',
  'deleted',
] as const;
export type AccountRecordStatus = (typeof ACCOUNT_RECORD_STATUSES)[number];

/** One account as written beside the shares: everything needed to make it again. */
export interface AccountRecord {
  readonly accountId: number;
  /** Ed25519 public key (64 hex digits); null for the built-in accounts 0 and 1. */
  readonly publicKey: string | null;
  readonly nickname: string;
  readonly status: AccountRecordStatus;
  readonly hardQuotaBytes: number | null;
  readonly softQuotaBytes: number | null;
  /** Unix seconds. */
  readonly createdAt: number;
  /** Free-form attributes (`lease-duration-seconds`, `deleted-at`, ...), all of them. */
  readonly attributes: Readonly<Record<string, string>>;
}

/** The fields of an account row a record copies (a lease database `Account` has them). */
export interface AccountRecordRow {
  readonly id: number;
  readonly publicKey: string | null;
  readonly nickname: string;
  readonly status: AccountRecordStatus;
  readonly hardQuotaBytes: number | null;
  readonly softQuotaBytes: number | null;
  readonly createdAt: number;
}

const ACCOUNTS = 'accounts/';
const MAX_ACCOUNT_ID = Number.MAX_SAFE_INTEGER;

/** The blob-name prefix of every account record. */
export const ACCOUNT_RECORD_PREFIX = ACCOUNTS;

/** The blob name of an account's record: `accounts/<id>`. */
export function accountRecordName(accountId: number): string {
  if (!Number.isSafeInteger(accountId) || accountId < 0) {
    throw new RangeError('an account id is a non-negative integer');
  }
  return `${ACCOUNTS}${accountId}`;
}

/** The account id of an account record's blob name, or undefined for another blob. */
export function parseAccountRecordName(name: string): number | undefined {
  const match = /^accounts\/(0|[1-9][0-9]{0,15})$/.exec(name);
  if (!match) return undefined;
  const id = Number(match[1]);
  return id <= MAX_ACCOUNT_ID ? id : undefined;
}

/** The record of an account row and its attributes. */
export function accountRecordOf(
  row: AccountRecordRow,
  attributes: Readonly<Record<string, string>>,
): AccountRecord {
  return {
    accountId: row.id,
    publicKey: row.publicKey,
    nickname: row.nickname,
    status: row.status,
    hardQuotaBytes: row.hardQuotaBytes,
    softQuotaBytes: row.softQuotaBytes,
    createdAt: row.createdAt,
    attributes: sortedAttributes(attributes),
  };
}

function sortedAttributes(attributes: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/** Whether two records describe the same account state (attributes compared as sets). */
export function sameAccountRecord(a: AccountRecord, b: AccountRecord): boolean {
  const canonical = (r: AccountRecord) => JSON.stringify(accountRecordOf(rowOf(r), r.attributes));
  return canonical(a) === canonical(b);
}

function rowOf(record: AccountRecord): AccountRecordRow {
  return {
    id: record.accountId,
    publicKey: record.publicKey,
    nickname: record.nickname,
    status: record.status,
    hardQuotaBytes: record.hardQuotaBytes,
    softQuotaBytes: record.softQuotaBytes,
    createdAt: record.createdAt,
  };
}

export function encodeAccountRecord(record: AccountRecord): Uint8Array {
  checkAccountRecord(record);
  const canonical = accountRecordOf(rowOf(record), record.attributes);
  return new TextEncoder().encode(JSON.stringify({ v: 1, ...canonical }));
}

/** Decodes and checks a record; CORRUPT when it is not one. */
export function decodeAccountRecord(bytes: Uint8Array): AccountRecord {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new BackendError('CORRUPT', 'an account record is not JSON', { cause });
  }
  try {
    if ((value as { v?: unknown } | null)?.v !== 1) {
      throw new TypeError('unknown account record version');
    }
    checkAccountRecord(value);
  } catch (cause) {
    throw new BackendError('CORRUPT', `malformed account record: ${(cause as Error).message}`, {
      cause,
    });
  }
  const r = value;
  return accountRecordOf(rowOf(r), r.attributes);
}

function nullableSize(name: string, value: unknown): void {
  if (value !== null && !(Number.isSafeInteger(value) && (value as number) >= 0)) {
    throw new TypeError(`${name} must be a non-negative integer or null`);
  }
}

function checkAccountRecord(value: unknown): asserts value is AccountRecord {
  const r = value as Partial<AccountRecord> | null;
  if (typeof r !== 'object' || r === null) throw new TypeError('an account record is an object');
  if (!Number.isSafeInteger(r.accountId) || (r.accountId as number) < 0) {
    throw new TypeError('accountId must be a non-negative integer');
  }
  if (
    r.publicKey !== null &&
    !(typeof r.publicKey === 'string' && /^[0-9a-f]{64}$/.test(r.publicKey))
  ) {
    throw new TypeError('publicKey must be 64 lowercase hex digits or null');
  }
  if (typeof r.nickname !== 'string' || r.nickname.length === 0 || r.nickname.length > 256) {
    throw new TypeError('nickname must be a string of 1 to 256 characters');
  }
  if (!ACCOUNT_RECORD_STATUSES.includes(r.status as AccountRecordStatus)) {
    throw new TypeError(`status must be one of ${ACCOUNT_RECORD_STATUSES.join(', ')}`);
  }
  nullableSize('hardQuotaBytes', r.hardQuotaBytes);
  nullableSize('softQuotaBytes', r.softQuotaBytes);
  if (!Number.isSafeInteger(r.createdAt) || (r.createdAt as number) < 0) {
    throw new TypeError('createdAt must be Unix seconds');
  }
  const attributes = r.attributes as unknown;
  if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes)) {
    throw new TypeError('attributes must be an object');
  }
  for (const [name, text] of Object.entries(attributes)) {
    if (
      !/^[a-z0-9][a-z0-9_.-]{0,63}$/.test(name) ||
      typeof text !== 'string' ||
      text.length > 4096
    ) {
      throw new TypeError(`attribute ${JSON.stringify(name)} is malformed`);
    }
  }
}

/** Writes an account's record (sealed with `key`), replacing the one before. */
export async function writeAccountRecord(
  backend: ShareBackend,
  key: Uint8Array,
  record: AccountRecord,
): Promise<void> {
  await backend.putBlob(accountRecordName(record.accountId), encodeAccountRecord(record), key);
}

/** An account's record, or undefined; CORRUPT when it fails authentication or decoding. */
export async function readAccountRecord(
  backend: ShareBackend,
  key: Uint8Array,
  accountId: number,
): Promise<AccountRecord | undefined> {
  const name = accountRecordName(accountId);
  const bytes = await backend.getBlob(name, key);
  if (bytes === undefined) return undefined;
  const record = decodeAccountRecord(bytes);
  // The name is sealed in as associated data; the id inside must agree with it too.
  if (record.accountId !== accountId) {
    throw new BackendError('CORRUPT', `${name} holds the record of account ${record.accountId}`, {
      details: { name },
    });
  }
  return record;
}

/** The ids of every account with a record, ascending (names only: one listing). */
export async function listAccountRecordIds(backend: ShareBackend): Promise<number[]> {
  const ids: number[] = [];
  for (const name of await backend.listBlobs(ACCOUNTS)) {
    const id = parseAccountRecordName(name);
    if (id !== undefined) ids.push(id);
  }
  return ids.sort((a, b) => a - b);
}

/** Deletes an account's record; false if there was none. */
export async function deleteAccountRecord(
  backend: ShareBackend,
  accountId: number,
): Promise<boolean> {
  return await backend.deleteBlob(accountRecordName(accountId));
}
