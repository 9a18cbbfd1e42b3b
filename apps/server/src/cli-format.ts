import type { usageRow } from '@ostrom/accountant';
import Table from 'cli-table3';
import { formatSize } from './size.js';

// Output for people, shared by the CLI's command modules (--json output is the data itself).

/** Unix seconds as an ISO time without milliseconds: `2026-12-05T09:20:05Z`. */
export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/** A borderless table with a header row. */
export function table(head: string[], rows: (string | number)[][]): string {
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const row of rows) t.push(row.map(String));
  return `${t.toString()}\n`;
}

/** A borderless two-column table of names and values. */
export function keyValues(rows: [string, string | number][]): string {
  const t = new Table({ style: { head: [], border: [] } });
  for (const [k, v] of rows) t.push({ [k]: String(v) });
  return `${t.toString()}\n`;
}

/** Seconds for people: `45 s`, `12 min`, `3 h 10 min`, `2 d 4 h` (rounded to the unit shown). */
export function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  // Rounded before it is split, so that 59 min 50 s is "1 h 0 min", never "60 min".
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 24 * 60) return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  const hours = Math.round(s / 3600);
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** A quota for people: its size, or `none`. */
export function quotaText(bytes: number | null): string {
  return bytes === null ? 'none' : formatSize(bytes);
}

/** The columns `usage` and `accounts list` share, and their cells for one account. */
export const USAGE_HEAD: string[] = ['id', 'nickname', 'status', 'shares', 'used', 'hard quota'];
export function usageCells(row: ReturnType<typeof usageRow>): (string | number)[] {
  return [
    row.id,
    row.nickname,
    row.status,
    row.shares,
    formatSize(row.bytes),
    quotaText(row.hardQuotaBytes),
  ];
}
