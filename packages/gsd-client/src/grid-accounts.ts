import {
  type AccountInfo,
  type AccountingClient,
  createStorageClient,
  parseNurl,
  type SignedAccountRequest,
  StorageClientError,
  signAccountRequest,
} from '@ostrom/protocol';
import type { GridServer } from './gsd-client.js';
import { SLOT_REQUEST_TIMEOUT_MS } from './https-slot-server.js';
import type { ServersYamlEntry } from './servers-yaml.js';

// A client's accounts across a grid: one signed account request to every server the directory
// lists, the same key everywhere (so the client is one identity across the grid, and each
// server's account NURL names that key's account), and what each server answered. From the
// answers come the NURLs a Tahoe-LAFS client should use (`gridServersYamlEntries`), the client's
// usage on every server (`gridUsage`) and its lease duration asked everywhere
// (`setGridLeaseDuration`). Nothing here keeps state: the caller saves the answers it wants to
// remember (the `ostrom grid` commands keep them beside the directory's state).

/**
 * What a server said to the client's account request:
 * - `active`: the account exists and may be used (its NURL is `accountNurl`; a frozen account
 *   is active too, and reads still work);
 * - `pending`: the server's operator approves accounts by hand and has not yet (ask again after
 *   `retryAt`);
 * - `refused`: the operator refused or disabled the account (`reason` is the server's words);
 * - `no-accounting`: the server grants no accounts (mode `disabled`, or a Tahoe-LAFS server
 *   without Ostrom's accounting extension): the anonymous NURL is the only one;
 * - `unreachable`: no answer (down, wrong key, timeout) or no usable answer (an error status).
 */
export type GridAccountStatus = 'active' | 'pending' | 'refused' | 'no-accounting' | 'unreachable';

/** One server's answer to the client's account request. */
export interface GridAccount {
  /** The server id of its announcement (the key of Tahoe's servers.yaml). */
  readonly serverId: string;
  /** The directory's name for the server. */
  readonly petname: string;
  readonly status: GridAccountStatus;
  /** With `active`: the account's NURL, which carries the account's swissnum (a secret). */
  readonly accountNurl?: string;
  /** With `active`: the account's id on that server. */
  readonly accountId?: number;
  /**
   * Unless `active`: why, in words a person can act on. With `active`: set when the server did
   * not answer this time and the account is kept from before (see `settleGridAccounts`).
   */
  readonly reason?: string;
  /** With `pending`: when the server asks to be asked again (Unix seconds). */
  readonly retryAt?: number;
  /** When the server was asked (Unix seconds). */
  readonly askedAt: number;
}

/** The client's Ed25519 key: the account it names is the same on every server. */
export interface GridAccountKey {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** How the calls below reach one server. */
export interface GridAccountsTransport {
  /** The accounting calls through `nurl` (pinned to its key); `close` ends its connections. */
  connect(nurl: string): { accounting: AccountingClient; close(): void };
}

/** HTTPS with the slot calls' timeout: one server that hangs must not hang a command. */
export const HTTPS_ACCOUNTS_TRANSPORT: GridAccountsTransport = {
  connect: (nurl) =>
    createStorageClient({ nurl: parseNurl(nurl), timeoutMs: SLOT_REQUEST_TIMEOUT_MS }),
};

/** Options of {@link requestGridAccounts}. */
export interface RequestGridAccountsOptions {
  /** The grid's servers (a `GsdClient`'s `servers`), asked in this order, all at once. */
  readonly servers: readonly GridServer[];
  readonly key: GridAccountKey;
  /** How each operator sees the client (1..64 characters, no control characters). */
  readonly nickname: string;
  /** Unix seconds. */
  readonly now: () => number;
  readonly transport?: GridAccountsTransport;
  /**
   * An invitation code's parts (`parseInvitation`): its secret goes with the request to the
   * server its NURL names (by pinned key), and to no other.
   */
  readonly invitation?: { readonly secret: Uint8Array; readonly nurl: string };
  /** A grid invitation's bytes (`parseGridInvitationCode(code).bytes`), sent to every server. */
  readonly gridInvitation?: Uint8Array;
  /** A member's invitation's bytes (`parseMemberInvitationCode(code).bytes`), sent to every server. */
  readonly memberInvitation?: Uint8Array;
}

/** Whether an invitation is for the server at `nurl` (the same pinned key). */
export function invitationIsFor(invitation: { readonly nurl: string }, nurl: string): boolean {
  return parseNurl(invitation.nurl).spkiHash === parseNurl(nurl).spkiHash;
}

/** The answer of a call, or the failure as a {@link GridAccount} that is not active. */
async function withServer<T>(
  transport: GridAccountsTransport,
  nurl: string,
  call: (accounting: AccountingClient) => Promise<T>,
): Promise<T> {
  const client = transport.connect(nurl);
  try {
    return await call(client.accounting);
  } finally {
    client.close();
  }
}

/** A failed call in words (the server's own reason where it gave one). */
export function failureReason(error: unknown): string {
  if (!(error instanceof StorageClientError)) {
    return error instanceof Error ? error.message : String(error);
  }
  switch (error.code) {
    case 'HTTP_STATUS': {
      const body = serverWords(error.body ?? '');
      return `it answered ${error.status}${body === '' ? '' : `: ${body}`}`;
    }
    case 'PIN_MISMATCH':
      return 'its TLS key is not the one its NURL names';
    case 'NETWORK': {
      const cause = error.cause instanceof Error ? error.cause.message : error.message;
      return `cannot reach it: ${cause}`;
    }
    case 'TIMEOUT':
      return `cannot reach it: ${error.message}`;
    case 'BAD_RESPONSE':
      return `it sent something unexpected: ${error.message}`;
  }
}

/** Most characters kept of what a server says (a reason, an error body). */
const MAX_SERVER_WORDS = 200;

/** Text from a server, safe to print and to keep: control characters as spaces, and short. */
function serverWords(text: string): string {
  return text
    .replace(/\p{Cc}/gu, ' ')
    .trim()
    .slice(0, MAX_SERVER_WORDS);
}

/** Why `accountNurl` cannot be the account NURL of the server at `askedNurl`, if it cannot. */
function accountNurlProblem(accountNurl: string, askedNurl: string): string | undefined {
  let parsed: ReturnType<typeof parseNurl>;
  try {
    parsed = parseNurl(accountNurl);
  } catch {
    return 'it answered an account NURL that is not a NURL';
  }
  if (accountNurl.length > 1024) return 'it answered an account NURL over 1024 characters';
  if (parsed.spkiHash !== parseNurl(askedNurl).spkiHash) {
    return "it answered an account NURL of another server (another TLS key than its NURL's)";
  }
  return undefined;
}

/** Whether a call failed with this HTTP status. */
export const isStatus = (error: unknown, status: number): boolean =>
  error instanceof StorageClientError && error.code === 'HTTP_STATUS' && error.status === status;

/** Asks one server for the key's account. */
async function requestOne(
  server: GridServer,
  options: RequestGridAccountsOptions,
): Promise<GridAccount> {
  const { transport = HTTPS_ACCOUNTS_TRANSPORT, now } = options;
  const base = { serverId: server.announcement.serverId, petname: server.petname };
  const nurl = server.announcement.nurls[0];
  const askedAt = now();
  if (nurl === undefined) {
    return { ...base, status: 'unreachable', reason: 'it announces no NURL', askedAt };
  }
  try {
    return await withServer(transport, nurl, async (accounting) => {
      // The policy first: a server without accounting (404 from Tahoe, or mode disabled) is
      // told apart from one that refuses this key, and is not sent a request it cannot grant.
      let mode: string;
      try {
        mode = (await accounting.getServer()).accountingMode;
      } catch (error) {
        if (isStatus(error, 404)) {
          return { ...base, status: 'no-accounting', reason: 'it has no accounting', askedAt };
        }
        throw error;
      }
      if (mode === 'disabled') {
        return {
          ...base,
          status: 'no-accounting',
          reason: 'its accounting is disabled',
          askedAt,
        } as const;
      }
      const signed: SignedAccountRequest = signAccountRequest(
        {
          // The server's id in a request is its TLS key's pin (packages/protocol README).
          serverId: parseNurl(nurl).spkiHash,
          publicKey: options.key.publicKey,
          nickname: options.nickname,
          timestamp: now(),
          nonce: crypto.getRandomValues(new Uint8Array(16)),
        },
        options.key.privateKey,
      );
      const { invitation } = options;
      const answer = await accounting.requestAccount(signed, {
        ...(invitation && invitationIsFor(invitation, nurl)
          ? { invitation: invitation.secret }
          : {}),
        ...(options.gridInvitation ? { gridInvitation: options.gridInvitation } : {}),
        ...(options.memberInvitation ? { memberInvitation: options.memberInvitation } : {}),
      });
      switch (answer.status) {
        case 'active': {
          // The server's word, checked: an account NURL is a NURL of the same server (the same
          // key pinned), or the client would send its uploads wherever a server pointed it.
          const problem = accountNurlProblem(answer.nurl, nurl);
          if (problem !== undefined) {
            return { ...base, status: 'unreachable', reason: problem, askedAt };
          }
          return {
            ...base,
            status: 'active',
            accountNurl: answer.nurl,
            accountId: answer.accountId,
            askedAt,
          };
        }
        case 'pending':
          return {
            ...base,
            status: 'pending',
            reason: "waiting for the operator's approval",
            retryAt: askedAt + answer.retryAfterSeconds,
            askedAt,
          };
        case 'refused':
          return { ...base, status: 'refused', reason: serverWords(answer.reason), askedAt };
      }
    });
  } catch (error) {
    return { ...base, status: 'unreachable', reason: failureReason(error), askedAt };
  }
}

/**
 * Sends the key's signed account request to every server at once (one request each; a server
 * grants the same account to the same key every time, so asking again is how a pending
 * account is seen approved). Never rejects for one server's failure: that server's answer says
 * what went wrong.
 */
export async function requestGridAccounts(
  options: RequestGridAccountsOptions,
): Promise<GridAccount[]> {
  if (options.key.publicKey.length !== 32 || options.key.privateKey.length !== 32) {
    throw new RangeError('an account key is 32 bytes of private key and 32 of public key');
  }
  return await Promise.all(options.servers.map((server) => requestOne(server, options)));
}

/**
 * What to write in Tahoe's servers.yaml for these servers: each server's account NURL where its
 * account is active, else its announced (anonymous) NURLs.
 */
export function gridServersYamlEntries(
  servers: readonly GridServer[],
  accounts: readonly GridAccount[],
): ServersYamlEntry[] {
  const byServer = new Map(accounts.map((a) => [a.serverId, a]));
  return servers.map((server) => {
    const account = byServer.get(server.announcement.serverId);
    return {
      announcement: server.announcement,
      reachable: server.reachable,
      ...(account?.status === 'active' && account.accountNurl !== undefined
        ? { nurls: [account.accountNurl] }
        : {}),
    };
  });
}

/** One server's row of {@link gridUsage}. */
export type GridUsageRow =
  | (Pick<GridAccount, 'serverId' | 'petname'> & {
      readonly status: 'read';
      readonly account: AccountInfo;
    })
  | (Pick<GridAccount, 'serverId' | 'petname'> & {
      /** Why no usage was read: the account is not active, or the server did not answer. */
      readonly status: GridAccountStatus;
      readonly reason: string;
    });

/** The client's usage across the grid. */
export interface GridUsage {
  readonly servers: readonly GridUsageRow[];
  /** Sums over the servers whose account was read (never the anonymous account's). */
  readonly total: { readonly servers: number; readonly shares: number; readonly bytes: number };
}

/**
 * Reads the client's own account on every server where it is active, through its account NURL
 * (`GET /accounting/v1/account`): what each server holds of the client's, and the sum.
 */
export async function gridUsage(
  accounts: readonly GridAccount[],
  options: { transport?: GridAccountsTransport } = {},
): Promise<GridUsage> {
  const transport = options.transport ?? HTTPS_ACCOUNTS_TRANSPORT;
  const rows = await Promise.all(
    accounts.map(async (a): Promise<GridUsageRow> => {
      const base = { serverId: a.serverId, petname: a.petname };
      if (a.status !== 'active' || a.accountNurl === undefined) {
        return { ...base, status: a.status, reason: a.reason ?? 'no account' };
      }
      try {
        const account = await withServer(transport, a.accountNurl, (c) => c.getAccount());
        return { ...base, status: 'read', account };
      } catch (error) {
        return { ...base, status: 'unreachable', reason: failureReason(error) };
      }
    }),
  );
  const read = rows.flatMap((r) => (r.status === 'read' ? [r.account] : []));
  return {
    servers: rows,
    total: {
      servers: read.length,
      shares: read.reduce((sum, a) => sum + a.shares, 0),
      bytes: read.reduce((sum, a) => sum + a.bytes, 0),
    },
  };
}

/** One server's answer to {@link setGridLeaseDuration}. */
export type GridLeaseDurationAnswer = Pick<GridAccount, 'serverId' | 'petname'> &
  (
    | {
        /** `granted`: as asked; `clamped`: the server's bounds changed it. */
        readonly outcome: 'granted' | 'clamped';
        readonly leaseDurationSeconds: number;
      }
    | {
        /** `refused`: the server said no; `skipped`: no active account to ask through. */
        readonly outcome: 'refused' | 'skipped';
        readonly reason: string;
      }
  );

/**
 * Asks every server where the client's account is active for this lease duration
 * (`PUT /accounting/v1/lease-duration`): the duration its new leases get.
 */
export async function setGridLeaseDuration(
  accounts: readonly GridAccount[],
  seconds: number,
  options: { transport?: GridAccountsTransport } = {},
): Promise<GridLeaseDurationAnswer[]> {
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new RangeError('a lease duration is a positive whole number of seconds');
  }
  const transport = options.transport ?? HTTPS_ACCOUNTS_TRANSPORT;
  return await Promise.all(
    accounts.map(async (a): Promise<GridLeaseDurationAnswer> => {
      const base = { serverId: a.serverId, petname: a.petname };
      if (a.status !== 'active' || a.accountNurl === undefined) {
        return { ...base, outcome: 'skipped', reason: a.reason ?? 'no account' };
      }
      try {
        const granted = await withServer(transport, a.accountNurl, (c) =>
          c.setLeaseDuration(seconds),
        );
        return {
          ...base,
          outcome: granted === seconds ? 'granted' : 'clamped',
          leaseDurationSeconds: granted,
        };
      } catch (error) {
        return { ...base, outcome: 'refused', reason: failureReason(error) };
      }
    }),
  );
}

/**
 * This round's answers, settled against the last round's: an account that was active stays in
 * use while its server does not answer (a server down for an hour does not take the client's
 * account NURL out of its configuration; `reason` says it did not answer). Servers no longer in
 * `fresh` are gone.
 */
export function settleGridAccounts(
  previous: readonly GridAccount[],
  fresh: readonly GridAccount[],
): GridAccount[] {
  const before = new Map(previous.map((a) => [a.serverId, a]));
  return fresh.map((answer) => {
    const last = before.get(answer.serverId);
    if (answer.status !== 'unreachable' || last?.status !== 'active') return answer;
    return {
      ...last,
      petname: answer.petname,
      reason: `did not answer this time (${answer.reason ?? 'no reason'}); its account NURL is kept`,
      askedAt: answer.askedAt,
    };
  });
}
