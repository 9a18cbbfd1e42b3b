import type { ActivityEvent, LeaseDbOperations } from '@ostrom/leasedb';
import {
  INVITATION_ACTOR,
  INVITED_BY_ACCOUNT,
  INVITED_BY_GRID_INVITATION,
  INVITED_BY_INVITATION,
} from './invitations.js';
import { formatSize } from './size.js';

/** What a digest reads from the lease database. */
export type DigestDb = Pick<
  LeaseDbOperations,
  | 'listEvents'
  | 'listAccounts'
  | 'getAccount'
  | 'getAccountUsage'
  | 'getAccountAttributes'
  | 'getInvitation'
>;

/** One account's line in a digest. */
export interface DigestAccount {
  readonly accountId: number;
  readonly nickname: string;
  /** Bytes of shares the account stored in the period. */
  readonly uploadedBytes: number;
  /** Its total now. */
  readonly usageBytes: number;
  readonly shares: number;
}

/** A summary of a period for people: the panel's daily digest and the public feed. */
export interface Digest {
  readonly since: number;
  readonly until: number;
  /**
   * Sentences such as "bob uploaded 62 MB", "carol froze dave: over quota" and "alice is using
   * 3.5 GB", most notable first; past the lines a kind may name, one sums up the rest ("9980
   * other accounts uploaded 1.2 GB", "35 more status changes").
   */
  readonly lines: readonly string[];
  /** The accounts using the most, and every account that uploaded in the period, by usage. */
  readonly accounts: readonly DigestAccount[];
}

/** The verb of a status change, by where it went and (for a return to normal) where it was. */
function statusVerb(from: unknown, to: unknown): string {
  if (from === 'pending') {
    if (to === 'normal') return 'approved';
    if (to === 'disabled') return 'refused the request of';
  }
  switch (to) {
    case 'frozen':
      return 'froze';
    case 'disabled':
      return 'disabled';
    case 'deleted':
      return 'deleted';
    case 'normal':
      return from === 'frozen' ? 'thawed' : from === 'disabled' ? 'enabled' : 'restored';
    default:
      return 'set the status of';
  }
}

/** Lines of one kind a digest names one by one before it sums up the rest in one line. */
export const DIGEST_LINES_PER_KIND = 20;

/** "1 account", "3 accounts". */
function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * Summarises the activity log between `since` and `until` (Unix seconds): who stored how much,
 * operators' actions on accounts, invitations (who invited whom, who joined with one, which were
 * refused and why), quota warnings, and who uses the most now. Each kind of line (uploads, joins,
 * status changes, invitations, quota warnings) names at most `linesPerKind` (default
 * {@link DIGEST_LINES_PER_KIND}) and sums up the rest in one more line, so a busy day on a
 * large node still reads as a summary.
 */
export async function buildDigest(
  db: DigestDb,
  range: {
    readonly since: number;
    readonly until: number;
    readonly topAccounts?: number;
    readonly linesPerKind?: number;
  },
): Promise<Digest> {
  const perKind = Math.max(range.linesPerKind ?? DIGEST_LINES_PER_KIND, 1);
  const events: ActivityEvent[] = [];
  for (let afterId: number | undefined; ; ) {
    const page = await db.listEvents({
      since: range.since,
      until: range.until,
      limit: 10_000,
      ...(afterId === undefined ? {} : { afterId }),
    });
    events.push(...page);
    if (page.length < 10_000) break;
    afterId = page[page.length - 1]?.id;
  }

  const names = new Map<number, string>();
  async function nameOf(accountId: number | null): Promise<string> {
    if (accountId === null) return 'someone';
    let name = names.get(accountId);
    if (name === undefined) {
      name = (await db.getAccount(accountId))?.nickname ?? `account ${accountId}`;
      names.set(accountId, name);
    }
    return name;
  }

  // Actions keep the log's order; past `perKind` of a kind they are only counted.
  const uploaded = new Map<number, number>();
  const actions: string[] = [];
  const unnamed = { joined: 0, statusChanges: 0, quotaWarnings: 0, invitations: 0 };
  const named = { joined: 0, statusChanges: 0, quotaWarnings: 0, invitations: 0 };
  // Who issued each invitation, by id (an invitation the database no longer has: "someone").
  const issuers = new Map<number, string>();
  async function issuerOf(invitationId: unknown): Promise<string> {
    const id = Number(invitationId);
    if (!Number.isSafeInteger(id)) return 'someone';
    let issuer = issuers.get(id);
    if (issuer === undefined) {
      issuer = (await db.getInvitation(id))?.createdBy ?? 'someone';
      issuers.set(id, issuer);
    }
    return issuer;
  }
  /** Where the invitation an account came with was from: its issuer, or the grid. */
  async function invitedBy(accountId: number): Promise<string> {
    const attributes = await db.getAccountAttributes(accountId);
    if (attributes[INVITED_BY_GRID_INVITATION] !== undefined) return 'the grid';
    const inviter = Number(attributes[INVITED_BY_ACCOUNT]);
    if (Number.isSafeInteger(inviter)) return await nameOf(inviter);
    return await issuerOf(attributes[INVITED_BY_INVITATION]);
  }
  const action = async (kind: keyof typeof named, line: () => Promise<string>) => {
    if (named[kind] < perKind) {
      named[kind]++;
      actions.push(await line());
    } else {
      unnamed[kind]++;
    }
  };
  for (const event of events) {
    const { accountId } = event;
    if (event.kind === 'invitation-created') {
      await action('invitations', async () => {
        const who = event.actor ?? 'the server';
        const nickname = event.data.nickname;
        return typeof nickname === 'string'
          ? `${who} invited ${nickname}`
          : `${who} issued an invitation`;
      });
      continue;
    }
    if (event.kind === 'invitation-refused') {
      await action('invitations', async () => {
        if (event.data.grid !== undefined) {
          return `a grid invitation was refused: ${String(event.data.reason)}`;
        }
        if (event.data.member !== undefined) {
          const inviter = event.data.inviter;
          const from = typeof inviter === 'number' ? await nameOf(inviter) : 'someone unknown here';
          return `an invitation from ${from} was refused: ${String(event.data.reason)}`;
        }
        return event.data.invitationId === null || event.data.invitationId === undefined
          ? 'an invitation code that is not one of this server’s was refused'
          : `an invitation from ${await issuerOf(event.data.invitationId)} was refused: ${String(event.data.reason)}`;
      });
      continue;
    }
    if (accountId === null) continue;
    if (event.kind === 'share-stored') {
      const bytes = Number(event.data.bytes ?? 0);
      uploaded.set(accountId, (uploaded.get(accountId) ?? 0) + bytes);
    } else if (event.kind === 'account-status-changed' && event.actor === INVITATION_ACTOR) {
      // A pending account let in by an invitation: a join, as the operator who issued it did.
      await action(
        'joined',
        async () =>
          `${await nameOf(accountId)} joined with an invitation from ${await invitedBy(accountId)}`,
      );
    } else if (event.kind === 'account-status-changed') {
      await action('statusChanges', async () => {
        const verb = statusVerb(event.data.from, event.data.to);
        const who = event.actor ?? 'the server';
        const reason = typeof event.data.reason === 'string' ? event.data.reason : '';
        return `${who} ${verb} ${await nameOf(accountId)}${reason ? `: ${reason}` : ''}`;
      });
    } else if (event.kind === 'quota-warning') {
      await action(
        'quotaWarnings',
        async () => `${await nameOf(accountId)} reached ${event.data.percent}% of the soft quota`,
      );
    } else if (event.kind === 'account-created') {
      await action('joined', async () =>
        event.actor === INVITATION_ACTOR
          ? `${await nameOf(accountId)} joined with an invitation from ${await invitedBy(accountId)}`
          : `${await nameOf(accountId)} joined`,
      );
    }
  }

  const top = await db.listAccounts({
    orderBy: 'bytes',
    direction: 'desc',
    limit: Math.max(range.topAccounts ?? 10, 1),
  });
  const accounts = new Map<number, DigestAccount>();
  for (const account of top.accounts) {
    names.set(account.id, account.nickname);
    if (account.usage.bytes === 0 && !uploaded.has(account.id)) continue;
    accounts.set(account.id, {
      accountId: account.id,
      nickname: account.nickname,
      uploadedBytes: uploaded.get(account.id) ?? 0,
      usageBytes: account.usage.bytes,
      shares: account.usage.shares,
    });
  }
  // Uploaders outside the top: their own totals (a deleted account's are gone: zero).
  for (const [accountId, bytes] of uploaded) {
    if (accounts.has(accountId)) continue;
    const usage = await db.getAccountUsage(accountId);
    accounts.set(accountId, {
      accountId,
      nickname: await nameOf(accountId),
      uploadedBytes: bytes,
      usageBytes: usage?.bytes ?? 0,
      shares: usage?.shares ?? 0,
    });
  }

  const lines: string[] = [];
  const uploads = [...uploaded].sort((a, b) => b[1] - a[1]);
  for (const [accountId, bytes] of uploads.slice(0, perKind)) {
    lines.push(`${await nameOf(accountId)} uploaded ${formatSize(bytes)}`);
  }
  const rest = uploads.slice(perKind);
  if (rest.length > 0) {
    const bytes = rest.reduce((sum, [, b]) => sum + b, 0);
    lines.push(
      `${count(rest.length, 'other account', 'other accounts')} uploaded ${formatSize(bytes)}`,
    );
  }
  lines.push(...actions);
  if (unnamed.joined > 0) {
    lines.push(`${count(unnamed.joined, 'more account', 'more accounts')} joined`);
  }
  if (unnamed.statusChanges > 0) {
    lines.push(count(unnamed.statusChanges, 'more status change', 'more status changes'));
  }
  if (unnamed.invitations > 0) {
    lines.push(count(unnamed.invitations, 'more invitation event', 'more invitation events'));
  }
  if (unnamed.quotaWarnings > 0) {
    lines.push(count(unnamed.quotaWarnings, 'more quota warning', 'more quota warnings'));
  }
  for (const account of top.accounts) {
    if (account.usage.bytes > 0) {
      lines.push(`${account.nickname} is using ${formatSize(account.usage.bytes)}`);
    }
  }
  return {
    since: range.since,
    until: range.until,
    lines,
    accounts: [...accounts.values()].sort((a, b) => b.usageBytes - a.usageBytes),
  };
}
