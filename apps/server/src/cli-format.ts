import Table from 'cli-table3';

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
