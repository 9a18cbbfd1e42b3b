import { base32Decode } from '@ostrom/protocol';

// Names and keys as operators write them, and account lists (allow-lists of keys and
// nicknames): what `ostrom accounts import|add`, the admin API and the panel read, so an embedder
// that takes lists from its own operators reads them alike.

/** Whether the lease database takes this nickname (an account's, or an operator's name) (its rule: 1–64 characters, no controls). */
export function isNickname(text: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  return text.length >= 1 && text.length <= 64 && !/[\u0000-\u001f\u007f]/.test(text);
}

/** What {@link isNickname} takes, for messages. */
export const NICKNAME_RULE = '1–64 characters without control characters';

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
