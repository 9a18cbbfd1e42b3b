import { formatSize, type HealthReport } from '@ostrom/accountant';
import type { NodeCrawlerStatus } from '@ostrom/crawler';
import type { NodeGsdStatus } from '../node-gsd.js';

// What the overview opens with: the node's state and each thing an operator should look at now,
// worked out from what the overview's route gathered. Pure, so each rule is tested on its own.

export interface Alert {
  /** `error`: something is failing now; `warning`: something needs a look before it does. */
  readonly level: 'error' | 'warning';
  /** Stable, for tests and for telling alerts apart (`backup-stale`, `grid-server-down`...). */
  readonly key: string;
  readonly text: string;
  /** Where to look further, on the panel. */
  readonly href?: string;
}

export interface AlertInput {
  readonly now: number;
  /** When this process started (Unix seconds): a node younger than a backup interval has none yet. */
  readonly startedAt: number;
  readonly health: HealthReport | null;
  readonly crawler: NodeCrawlerStatus | null;
  /** The newest `backup-made` event, when the node makes backups. */
  readonly lastBackupAt: number | null;
  readonly gsd: NodeGsdStatus | null;
  readonly storedBytes: number;
  readonly availableSpace: number | null;
  /** Accounts holding at least their hard quota: how many, and the first few. */
  readonly atHardQuota: {
    readonly total: number;
    readonly accounts: readonly { readonly id: number; readonly nickname: string }[];
  };
  /**
   * Accounts that had writes refused (quota, status, mode) in the last hour. Accounts, not
   * refusals: the events are rate-limited, so counting them would undercount the refusals.
   */
  readonly refusedAccountsLastHour: number;
  /** Account requests waiting for the operator (mode `required` or manual approval). */
  readonly pendingRequests: number;
}

/** Disk use past this share of the capacity is a warning; past {@link DISK_ERROR}, an error. */
export const DISK_WARNING = 0.9;
const DISK_ERROR = 0.98;

/** A backup older than this many intervals is stale. */
const BACKUP_STALE_INTERVALS = 2;

/** Grid servers named one by one before the rest are counted. */
const GRID_SERVERS_NAMED = 3;

const HOUR = 3600;

function age(seconds: number): string {
  if (seconds < 2 * HOUR) return `${Math.max(1, Math.round(seconds / 60))} min`;
  if (seconds < 2 * 86_400) return `${Math.round(seconds / HOUR)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}

/** Every alert the node has now, errors first. */
export function nodeAlerts(input: AlertInput): Alert[] {
  const alerts: Alert[] = [];
  const add = (alert: Alert) => alerts.push(alert);

  const health = input.health;
  if (health && !health.database.up) {
    add({
      level: 'error',
      key: 'database-down',
      text: `The lease database is unavailable: ${health.database.error ?? 'no answer'}. Clients get 503.`,
    });
  }
  if (health && !health.store.up) {
    add({
      level: 'error',
      key: 'store-down',
      text: `The share store is unavailable: ${health.store.error ?? 'no answer'}. Clients get 503.`,
    });
  }

  const c = input.crawler;
  if (c?.databaseFile === 'missing' || c?.databaseFile === 'replaced') {
    add({
      level: 'error',
      key: 'database-file',
      text: `The SQLite database file was ${c.databaseFile === 'missing' ? 'deleted' : 'replaced'} under the running node: restart it to recover.`,
    });
  }
  if (c?.backups?.lastError) {
    add({
      level: 'error',
      key: 'backup-failed',
      text: `The last database backup failed: ${c.backups.lastError}`,
    });
  }
  if (c?.backups && c.backups.intervalSeconds > 0) {
    const interval = c.backups.intervalSeconds;
    const since = input.lastBackupAt ?? input.startedAt;
    if (input.now - since > BACKUP_STALE_INTERVALS * interval) {
      add({
        level: 'warning',
        key: 'backup-stale',
        text:
          input.lastBackupAt === null
            ? `No database backup has been made in ${age(input.now - since)} (one is due every ${age(interval)}).`
            : `The last database backup is ${age(input.now - since)} old (one is due every ${age(interval)}).`,
      });
    }
  }
  if (c?.background.lastError) {
    add({
      level: 'error',
      key: 'crawler-failed',
      text: `The crawler's last cycle failed (it is tried again): ${c.background.lastError}`,
    });
  }
  if (c?.deletionHold && c.deletionHold.until > input.now) {
    add({
      level: 'warning',
      key: 'deletion-held',
      text: `Shares left without a lease are not deleted until ${new Date(c.deletionHold.until * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC: the database was restored (${c.deletionHold.reason}), so leases renewed since its backup are unknown.`,
    });
  }

  if (input.availableSpace !== null) {
    const capacity = input.storedBytes + input.availableSpace;
    const used = capacity === 0 ? 0 : input.storedBytes / capacity;
    if (used >= DISK_WARNING) {
      add({
        level: used >= DISK_ERROR ? 'error' : 'warning',
        key: 'disk-full',
        text: `The store is ${Math.floor(used * 100)}% full: ${formatSize(input.availableSpace)} left.`,
      });
    }
  }

  const gsd = input.gsd;
  const silent = gsd?.directory?.servers.filter((s) => s.answering === false) ?? [];
  if (silent.length > 0) {
    const named = silent.slice(0, GRID_SERVERS_NAMED).map((s) => s.petname);
    const rest = silent.length - named.length;
    add({
      level: 'warning',
      key: 'grid-server-down',
      text: `${silent.length === 1 ? 'A grid server does' : `${silent.length} grid servers do`} not answer: ${named.join(', ')}${rest > 0 ? ` and ${rest} more` : ''}.`,
      href: '/grid',
    });
  }
  if (gsd?.enabled && gsd.lastError) {
    add({
      level: 'warning',
      key: 'grid-check-failed',
      text: `The last check of the grid service directory failed: ${gsd.lastError}`,
      href: '/grid',
    });
  }

  const full = input.atHardQuota;
  if (full.total > 0) {
    const names = full.accounts.map((a) => a.nickname).join(', ');
    add({
      level: 'warning',
      key: 'hard-quota',
      text: `${full.total === 1 ? 'One account is' : `${full.total} accounts are`} at the hard quota and can store nothing more: ${names}${full.total > full.accounts.length ? ` and ${full.total - full.accounts.length} more` : ''}.`,
      href: '/accounts?near=1',
    });
  }
  const refused = input.refusedAccountsLastHour;
  if (refused > 0) {
    add({
      level: 'warning',
      key: 'writes-refused',
      text: `${refused === 1 ? 'One account' : `${refused} accounts`} had writes refused in the last hour (quota, account status or mode).`,
      href: '/activity?kind=write-refused',
    });
  }
  const pending = input.pendingRequests;
  if (pending > 0) {
    add({
      level: 'warning',
      key: 'requests-pending',
      text: `${pending === 1 ? 'One account request waits' : `${pending} account requests wait`} for your approval or refusal.`,
      href: '/accounts?status=pending',
    });
  }
  return [
    ...alerts.filter((a) => a.level === 'error'),
    ...alerts.filter((a) => a.level === 'warning'),
  ];
}
