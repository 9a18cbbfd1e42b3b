import type { ActivityEvent, LeaseDbOperations } from '@ostrom/leasedb';

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
   * 3.5 GB", most notable first.
   */
  readonly lines: readonly string[];
  /** Every account active in the period or holding data, by usage, largest first. */
  readonly accounts: readonly DigestAccount[];
}

const STATUS_VERBS: Record<string, string> = {
  frozen: 'froze',
  disabled: 'disabled',
  deleted: 'deleted',
  normal: 'restored',
};

/** Bytes the way people say them: decimal units, two significant figures under ten. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  const shown = value < 10 && unit > 0 ? value.toFixed(1).replace(/\.0$/, '') : Math.round(value);
  return `${shown} ${units[unit]}`;
}

/**
 * Summarises the activity log between `since` and `until` (Unix seconds): who stored how much,
 * operators' actions on accounts, quota warnings, and who uses the most now.
 */
export async function buildDigest(
  db: Pick<LeaseDbOperations, 'listEvents' | 'listAccounts' | 'getAccount'>,
  range: { readonly since: number; readonly until: number; readonly topAccounts?: number },
): Promise<Digest> {
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

  const uploaded = new Map<number, number>();
  const actions: string[] = [];
  for (const event of events) {
    if (event.kind === 'share-stored' && event.accountId !== null) {
      const bytes = Number(event.data.bytes ?? 0);
      uploaded.set(event.accountId, (uploaded.get(event.accountId) ?? 0) + bytes);
    } else if (event.kind === 'account-status-changed' && event.accountId !== null) {
      const verb = STATUS_VERBS[String(event.data.to)] ?? `set the status of`;
      const who = event.actor ?? 'the server';
      const reason = typeof event.data.reason === 'string' ? event.data.reason : '';
      actions.push(`${who} ${verb} ${await nameOf(event.accountId)}${reason ? `: ${reason}` : ''}`);
    } else if (event.kind === 'quota-warning' && event.accountId !== null) {
      actions.push(
        `${await nameOf(event.accountId)} reached ${event.data.percent}% of the soft quota`,
      );
    } else if (event.kind === 'account-created' && event.accountId !== null) {
      actions.push(`${await nameOf(event.accountId)} joined`);
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
  for (const [accountId, bytes] of uploaded) {
    if (accounts.has(accountId)) continue;
    const account = await db.getAccount(accountId);
    accounts.set(accountId, {
      accountId,
      nickname: account?.nickname ?? `account ${accountId}`,
      uploadedBytes: bytes,
      usageBytes: 0,
      shares: 0,
    });
  }

  const lines: string[] = [];
  for (const [accountId, bytes] of [...uploaded].sort((a, b) => b[1] - a[1])) {
    lines.push(`${await nameOf(accountId)} uploaded ${formatBytes(bytes)}`);
  }
  lines.push(...actions);
  for (const account of top.accounts) {
    if (account.usage.bytes > 0) {
      lines.push(`${account.nickname} is using ${formatBytes(account.usage.bytes)}`);
    }
  }
  return {
    since: range.since,
    until: range.until,
    lines,
    accounts: [...accounts.values()].sort((a, b) => b.usageBytes - a.usageBytes),
  };
}
