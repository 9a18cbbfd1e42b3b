import { createHmac, timingSafeEqual } from 'node:crypto';
import { ANONYMOUS_ACCOUNT_ID } from '@ostrom/leasedb';
import { base32 } from '@scure/base';

// Each account reaches the server through its own swissnum, so its NURL is a capability for
// that account alone and a stock Tahoe client configured with it is accounted with no change
// (Tahoe's old-accounts-introducer.txt planned `"%d-%s" % (account, b2a(hash(S+account)))`).
// The anonymous swissnum is a bare 32-character one like Tahoe's own; an account's is
// `<id>-<32 characters>`, so the id is found without a table and the MAC checked in constant time.

const MAC_CHARS = 32; // 20 bytes of base32, the length of a Tahoe swissnum

function mac(serverSecret: Uint8Array, accountId: number): string {
  const label = accountId === ANONYMOUS_ACCOUNT_ID ? 'anonymous' : `account:${accountId}`;
  const digest = createHmac('sha256', serverSecret).update(`ostrom-swissnum-v1\0${label}`).digest();
  return base32.encode(digest.subarray(0, 20)).toLowerCase().slice(0, MAC_CHARS);
}

/** The swissnum of an account's NURL. */
export function swissnumFor(serverSecret: Uint8Array, accountId: number): string {
  const code = mac(serverSecret, accountId);
  return accountId === ANONYMOUS_ACCOUNT_ID ? code : `${accountId}-${code}`;
}

/** The account a swissnum belongs to, or undefined when it is not one this server issued. */
export function accountIdForSwissnum(
  serverSecret: Uint8Array,
  swissnum: string,
): number | undefined {
  return accountIdFrom(swissnum, (accountId) => swissnumFor(serverSecret, accountId));
}

function accountIdFrom(
  swissnum: string,
  expectedFor: (accountId: number) => string,
): number | undefined {
  const dash = swissnum.indexOf('-');
  const idText = dash === -1 ? undefined : swissnum.slice(0, dash);
  if (idText !== undefined && !/^[1-9][0-9]{0,14}$/.test(idText)) return undefined;
  const accountId = idText === undefined ? ANONYMOUS_ACCOUNT_ID : Number(idText);
  const expected = Buffer.from(expectedFor(accountId));
  const given = Buffer.from(swissnum);
  return given.length === expected.length && timingSafeEqual(given, expected)
    ? accountId
    : undefined;
}

/**
 * swissnumFor and accountIdForSwissnum with the swissnums kept: every request names its account
 * by swissnum, and an HMAC computed afresh cost about 16 µs of its CPU (a tenth of a lease
 * renewal's). At most `limit` are kept; past it the oldest kept goes, so a client naming ids at
 * random costs memory no more than that (the ids are the client's to choose).
 */
export class SwissnumBook {
  readonly #serverSecret: Uint8Array;
  readonly #limit: number;
  readonly #kept = new Map<number, string>();

  constructor(serverSecret: Uint8Array, limit = 10_000) {
    this.#serverSecret = serverSecret;
    this.#limit = limit;
  }

  swissnumFor(accountId: number): string {
    let swissnum = this.#kept.get(accountId);
    if (swissnum === undefined) {
      swissnum = swissnumFor(this.#serverSecret, accountId);
      if (this.#kept.size >= this.#limit) this.#kept.delete(this.#kept.keys().next().value!);
      this.#kept.set(accountId, swissnum);
    }
    return swissnum;
  }

  accountIdFor(swissnum: string): number | undefined {
    return accountIdFrom(swissnum, (accountId) => this.swissnumFor(accountId));
  }

  /** How many swissnums are kept (for tests). */
  get size(): number {
    return this.#kept.size;
  }
}
