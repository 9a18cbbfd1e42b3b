import type { Accountant } from '@ostrom/accountant';
import type { Account, LeaseDb } from '@ostrom/leasedb';
import { base32Decode } from '@ostrom/protocol';
import { isNickname, NICKNAME_RULE } from './names.js';

// Account lists (allow-lists of keys and nicknames) and public keys as operators write them:
// read by `ostrom accounts import|add`, `POST /admin/v1/accounts[/import]` and the panel.

/** Largest account list taken at once (the admin API's body, the panel's form): some 10,000 lines. */
export const MAX_ACCOUNT_LIST_BYTES = 1024 * 1024;

/**
 * An Ed25519 public key given as 64 hex digits (the database's form) or 52 base32 characters,
 * as lowercase hex; undefined when it is neither. `ostrom accounts add --pubkey`, the import
 * list and `POST /admin/v1/accounts` all read keys with this.
 */
export function parsePublicKey(text: string): string | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return text.toLowerCase();
  const bytes = base32Decode(text.toLowerCase());
  return bytes?.length === 32 ? Buffer.from(bytes).toString('hex') : undefined;
}

/** What {@link parsePublicKey} takes, for messages. */
export const PUBLIC_KEY_FORMS = '64 hex digits or 52 base32 characters';

/** One entry of an account list: a key (lowercase hex) and a nickname, and its line. */
export interface AccountListEntry {
  readonly line: number;
  readonly publicKey: string;
  readonly nickname: string;
}

/** An account list with bad lines: each named with its number and what is wrong. */
export class AccountListError extends Error {
  override readonly name = 'AccountListError';
  readonly problems: readonly { readonly line: number; readonly problem: string }[];

  constructor(where: string, problems: { line: number; problem: string }[]) {
    const shown = problems.slice(0, 5).map((p) => `line ${p.line}: ${p.problem}`);
    if (problems.length > 5) shown.push(`and ${problems.length - 5} more bad lines`);
    super(`${where}, ${shown.join('; ')}`);
    this.problems = problems;
  }
}

/**
 * Reads an account list (an allow-list, as Tahoe's planned storage-accounts.txt): one
 * `<public key> <nickname>` a line, the nickname the rest of the line, `#` starting a comment,
 * blank lines skipped. Every line is checked before anything is added, so one typo adds nothing:
 * a malformed line, a bad key or nickname, or a key listed twice throws an
 * {@link AccountListError} naming every bad line, `where` naming the list (a file, a field).
 * `ostrom accounts import` and `POST /admin/v1/accounts/import` both read lists with this.
 */
export function parseAccountList(text: string, where: string): AccountListEntry[] {
  const entries: AccountListEntry[] = [];
  const problems: { line: number; problem: string }[] = [];
  const lineOfKey = new Map<string, number>();
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = index + 1;
    const content = raw.replace(/#.*$/, '').trim();
    if (content === '') continue;
    const read = readListLine(content, lineOfKey);
    if (typeof read === 'string') {
      problems.push({ line, problem: read });
    } else {
      lineOfKey.set(read.publicKey, line);
      entries.push({ line, ...read });
    }
  }
  if (problems.length > 0) throw new AccountListError(where, problems);
  return entries;
}

/** One line of an account list without its comment: the entry, or what is wrong with it. */
function readListLine(
  content: string,
  lineOfKey: ReadonlyMap<string, number>,
): { publicKey: string; nickname: string } | string {
  const m = /^(\S+)\s+(.+)$/.exec(content);
  if (!m) return 'expected "<public key> <nickname>"';
  const publicKey = parsePublicKey(m[1]!);
  if (publicKey === undefined) return `the public key must be ${PUBLIC_KEY_FORMS}`;
  const nickname = m[2]!;
  if (!isNickname(nickname)) return `the nickname must be ${NICKNAME_RULE}`;
  const first = lineOfKey.get(publicKey);
  if (first !== undefined) return `the same key as line ${first}`;
  return { publicKey, nickname };
}

/**
 * Adds an active account (default quotas) for each entry whose key has none, in list order;
 * keys with an account are left as they are and answered under `existing`. Importing the same
 * list again is harmless, so a run cut short (a database failure) is finished by running it
 * again.
 */
export async function importAccounts(
  accountant: Accountant,
  leaseDb: LeaseDb,
  entries: readonly AccountListEntry[],
  actor: string,
): Promise<{ added: Account[]; existing: Account[] }> {
  const added: Account[] = [];
  const existing: Account[] = [];
  for (const { publicKey, nickname } of entries) {
    const known = await leaseDb.getAccountByPublicKey(publicKey);
    if (known) existing.push(known);
    else added.push(await accountant.addAccount({ publicKey, nickname }, { actor }));
  }
  return { added, existing };
}
