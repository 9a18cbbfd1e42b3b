import type { HealthReport } from '@ostrom/accountant';
import type { NodeCrawlerStatus } from '@ostrom/crawler';
import { describe, expect, it } from 'vitest';
import type { NodeGsdStatus } from '../src/node-gsd.js';
import { type AlertInput, nodeAlerts } from '../src/panel/alerts.js';

// Each rule of the overview's alerts, on its own: what an operator must see first.

const NOW = 1_800_000_000;
const HOUR = 3600;

const up = { up: true, since: 0, checkedAt: 0 };
const healthy: HealthReport = { database: up, store: up, ok: true };

function crawler(change: Partial<NodeCrawlerStatus> = {}): NodeCrawlerStatus {
  return {
    background: { enabled: true, running: true, processId: 'p', holding: true, lastError: null },
    backups: { intervalSeconds: HOUR, kept: 24, last: null, lastError: null },
    databaseFile: 'ok',
    deletionHold: null,
    ...change,
  } as unknown as NodeCrawlerStatus;
}

function input(change: Partial<AlertInput> = {}): AlertInput {
  return {
    now: NOW,
    startedAt: NOW - 10 * 60,
    health: healthy,
    crawler: crawler(),
    lastBackupAt: NOW - 30 * 60,
    gsd: null,
    storedBytes: 1000,
    availableSpace: 9000,
    atHardQuota: { total: 0, accounts: [] },
    refusedAccountsLastHour: 0,
    pendingRequests: 0,
    ...change,
  };
}

const keys = (change: Partial<AlertInput>) => nodeAlerts(input(change)).map((a) => a.key);

describe('the overview alerts', () => {
  it('a healthy node has none', () => {
    expect(nodeAlerts(input())).toEqual([]);
  });

  it('a service away is an error naming its cause', () => {
    const alerts = nodeAlerts(
      input({
        health: {
          ok: false,
          database: up,
          store: { up: false, since: 0, checkedAt: 0, error: 'connect ECONNREFUSED' },
        },
      }),
    );
    expect(alerts).toEqual([expect.objectContaining({ level: 'error', key: 'store-down' })]);
    expect(alerts[0]!.text).toContain('connect ECONNREFUSED');
  });

  it('a backup older than two intervals is stale; none yet only once the node is old enough', () => {
    expect(keys({ lastBackupAt: NOW - 2 * HOUR - 1 })).toEqual(['backup-stale']);
    expect(keys({ lastBackupAt: NOW - 2 * HOUR })).toEqual([]);
    expect(keys({ lastBackupAt: null })).toEqual([]);
    expect(keys({ lastBackupAt: null, startedAt: NOW - 3 * HOUR })).toEqual(['backup-stale']);
    // No backups made by the node (PostgreSQL, or turned off): nothing to be stale.
    expect(keys({ lastBackupAt: null, startedAt: 0, crawler: crawler({ backups: null }) })).toEqual(
      [],
    );
  });

  it('a failed backup, a failed crawler cycle and a replaced database file are errors; a deletion hold a warning', () => {
    const alerts = nodeAlerts(
      input({
        crawler: crawler({
          backups: { intervalSeconds: HOUR, kept: 24, last: null, lastError: 'disk full' },
          background: {
            enabled: true,
            running: true,
            processId: 'p',
            holding: true,
            lastError: 'the store is away',
          },
          databaseFile: 'replaced',
          deletionHold: { until: NOW + 86_400, restoredAt: NOW, reason: 'rebuild', backup: null },
        }),
      }),
    );
    expect(alerts.map((a) => [a.level, a.key])).toEqual([
      ['error', 'database-file'],
      ['error', 'backup-failed'],
      ['error', 'crawler-failed'],
      ['warning', 'deletion-held'],
    ]);
    // A hold that has ended says nothing.
    expect(
      keys({
        crawler: crawler({
          deletionHold: { until: NOW - 1, restoredAt: 0, reason: 'rebuild', backup: null },
        }),
      }),
    ).toEqual([]);
  });

  it('a store 90% full is a warning, 98% an error', () => {
    expect(keys({ storedBytes: 89, availableSpace: 11 })).toEqual([]);
    expect(nodeAlerts(input({ storedBytes: 90, availableSpace: 10 }))).toEqual([
      expect.objectContaining({
        level: 'warning',
        key: 'disk-full',
        text: expect.stringContaining('90% full'),
      }),
    ]);
    expect(nodeAlerts(input({ storedBytes: 98, availableSpace: 2 }))[0]?.level).toBe('error');
    expect(keys({ availableSpace: null })).toEqual([]);
  });

  it('grid servers that do not answer are named, the rest counted', () => {
    const servers = ['a', 'b', 'c', 'd', 'e'].map((petname, i) => ({
      petname,
      answering: i === 0 ? true : i === 4 ? null : false,
    }));
    const gsd = {
      enabled: true,
      lastError: null,
      directory: { servers },
    } as unknown as NodeGsdStatus;
    expect(nodeAlerts(input({ gsd }))).toEqual([
      expect.objectContaining({
        key: 'grid-server-down',
        text: '3 grid servers do not answer: b, c, d.',
      }),
    ]);
  });

  it('accounts at their hard quota and refused writes are warnings with where to look', () => {
    const alerts = nodeAlerts(
      input({
        atHardQuota: { total: 7, accounts: [{ id: 3, nickname: 'dave' }] },
        refusedAccountsLastHour: 12,
      }),
    );
    expect(alerts.map((a) => [a.key, a.href])).toEqual([
      ['hard-quota', '/accounts?near=1'],
      ['writes-refused', '/activity?kind=write-refused'],
    ]);
    expect(alerts[0]!.text).toBe(
      '7 accounts are at the hard quota and can store nothing more: dave and 6 more.',
    );
    expect(alerts[1]!.text).toContain('12 accounts had writes refused in the last hour');
  });

  it('account requests waiting for the operator are a warning leading to them', () => {
    expect(nodeAlerts(input({ pendingRequests: 1 }))).toEqual([
      {
        level: 'warning',
        key: 'requests-pending',
        text: 'One account request waits for your approval or refusal.',
        href: '/accounts?status=pending',
      },
    ]);
    expect(nodeAlerts(input({ pendingRequests: 4 }))[0]!.text).toBe(
      '4 account requests wait for your approval or refusal.',
    );
  });
});
