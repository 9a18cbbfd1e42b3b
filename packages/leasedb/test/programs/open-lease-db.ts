// A process that opens lease databases on request, for concurrent-migrations.test.ts. Each line
// on stdin is the JSON options of openLeaseDb (where the database is, and `migrate`): it opens
// it (which migrates it, by default), closes it, and answers one JSON line, `{"ok":true}` or the
// error. It prints "ready" once loaded, so that a test can hand the same line to several of these
// at one moment, and exits 0 when stdin ends. Loading once and opening per line keeps rounds
// cheap: starting a process costs far more than opening a database.
import { createInterface } from 'node:readline';
import { LeaseDbError, type LeaseDbOptions, openLeaseDb } from '../../src/index.js';

async function openOnce(options: LeaseDbOptions): Promise<Record<string, unknown>> {
  try {
    const db = await openLeaseDb(options);
    await db.close();
    return { ok: true };
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    return {
      ok: false,
      code: error instanceof LeaseDbError ? error.code : undefined,
      message: String((error as Error).message),
      cause: cause instanceof Error ? cause.message : String(cause),
    };
  }
}

process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  const answer = await openOnce(JSON.parse(line) as LeaseDbOptions);
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
