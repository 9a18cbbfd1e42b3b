import type { AccountRow, AccountWithUsage, LeaseDb } from '@ostrom/leasedb';

// Usage reports as an operator reads them (`ostrom usage`, `GET /admin/v1/usage`): one account's
// usage beside its quotas, and the node's total with its largest accounts.

/** One account's usage and quotas: as `ostrom usage ID` prints it. */
export async function accountUsageReport(leaseDb: LeaseDb, account: AccountRow) {
  const usage = (await leaseDb.getAccountUsage(account.id)) ?? { shares: 0, bytes: 0 };
  return {
    accountId: account.id,
    nickname: account.nickname,
    status: account.status,
    ...usage,
    hardQuotaBytes: account.hardQuotaBytes,
    softQuotaBytes: account.softQuotaBytes,
  };
}

/** An account's line in the server's usage report. */
export function usageRow(a: AccountWithUsage) {
  return {
    id: a.id,
    nickname: a.nickname,
    status: a.status,
    ...a.usage,
    hardQuotaBytes: a.hardQuotaBytes,
    softQuotaBytes: a.softQuotaBytes,
  };
}

/**
 * The server's usage and its `limit` largest accounts, with how many accounts there are:
 * as `ostrom usage` prints it.
 */
export async function serverUsageReport(leaseDb: LeaseDb, limit: number) {
  const server = await leaseDb.getServerUsage();
  const page = await leaseDb.listAccounts({ orderBy: 'bytes', direction: 'desc', limit });
  return { server, accounts: page.accounts.map(usageRow), totalAccounts: page.total };
}
