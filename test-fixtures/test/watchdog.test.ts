import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { postgresUrl, s3Endpoint } from '../src/index.js';
import { armWatchdog } from '../src/watchdog.mjs';

const hasPostgres = postgresUrl('test-fixtures: watchdog') !== undefined;
const hasS3 = s3Endpoint('test-fixtures: watchdog') !== undefined;

// Processes that are not this test's children can only be watched by asking the kernel.
const WAIT = { timeout: 20_000, interval: 100 } as const;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

describe('the service watchdog', () => {
  it.skipIf(!hasPostgres || !hasS3)(
    'a test run whose process group is killed (Ctrl-C, a cancelled turbo run) leaves no server running',
    async () => {
      const program = fileURLToPath(new URL('./programs/start-services.ts', import.meta.url));
      // A group of its own, as a terminal gives a command: killing the group kills the run and
      // every child it did not detach, as Ctrl-C does, but with SIGKILL, so no teardown runs.
      const run = spawn(process.execPath, ['--import', 'tsx', program], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        stdio: ['ignore', 'pipe', 'inherit'],
        detached: true,
      });
      children.push(run);
      const [line] = (await once(createInterface({ input: run.stdout! }), 'line')) as [string];
      const started = JSON.parse(line) as {
        postgresUrl: string;
        postgresPid: number;
        s3Pid: number;
      };
      const client = new pg.Client({ connectionString: started.postgresUrl });
      await client.connect();
      await client.end();
      expect(alive(started.postgresPid)).toBe(true);
      expect(alive(started.s3Pid)).toBe(true);

      process.kill(-run.pid!, 'SIGKILL');

      await expect.poll(() => alive(started.postgresPid), WAIT).toBe(false);
      await expect.poll(() => alive(started.s3Pid), WAIT).toBe(false);
      const late = new pg.Client({ connectionString: started.postgresUrl });
      await expect(late.connect()).rejects.toThrow();
    },
  );

  it('a disarmed watchdog leaves the service alone', async () => {
    const service = spawn('sleep', ['300'], { stdio: 'ignore' });
    children.push(service);
    const watchdog = armWatchdog({ steps: [{ kill: service.pid! }] });
    expect(alive(watchdog.pid!)).toBe(true);
    watchdog.disarm();
    // disarm() closes the pipe after its word, so the watchdog ends here, as it would when the run
    // ends after a clean teardown.
    await expect.poll(() => alive(watchdog.pid!), WAIT).toBe(false);
    expect(service.exitCode).toBeNull();
    expect(alive(service.pid!)).toBe(true);
  });
});
