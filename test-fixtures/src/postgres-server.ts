import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findBinary, subdirs } from './find-binary.js';
import { freePort } from './free-port.js';
import { armWatchdog } from './watchdog.mjs';

const run = promisify(execFile);

/** A throwaway PostgreSQL cluster on a loopback port, owned by the test run. */
export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`, trust authentication. */
  readonly url: string;
  /** The postmaster's pid (a new one after `startAgain`). */
  readonly pid: number;
  /**
   * `pg_ctl stop -m fast`: what an operator's restart does. Every session is terminated
   * (clients see 57P01 `terminating connection due to administrator command`) and new
   * connections are refused until `startAgain`.
   */
  shutDown(): Promise<void>;
  /** `pg_ctl start` again on the same port and data, after `shutDown`. */
  startAgain(): Promise<void>;
  stop(): Promise<void>;
}

function postgresBinDir(): string | undefined {
  const pgCtl = findBinary(
    'pg_ctl',
    [
      ...(process.env.OSTROM_PG_BIN ? [join(process.env.OSTROM_PG_BIN, 'pg_ctl')] : []),
      '/usr/lib/postgresql/15/bin/pg_ctl',
      ...subdirs('/usr/lib/postgresql').map((dir) => join(dir, 'bin', 'pg_ctl')),
    ],
    'OSTROM_PG_CTL',
  );
  return pgCtl ? join(pgCtl, '..') : undefined;
}

/**
 * Starts a fresh cluster in a temp dir (initdb + pg_ctl, fsync off: it holds test data only;
 * `durable` keeps PostgreSQL's own default, fsync on, for benchmarks).
 * PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user.
 */
export async function startPostgres(
  options: { readonly durable?: boolean } = {},
): Promise<PostgresServer> {
  const binDir = postgresBinDir();
  if (!binDir)
    throw new Error('PostgreSQL binaries not found (set OSTROM_PG_BIN to their directory)');
  const dir = mkdtempSync(join(tmpdir(), 'ostrom-pg-'));
  const dataDir = join(dir, 'data');
  const asRoot = userInfo().uid === 0;
  let prefix: string[] = [];
  if (asRoot) {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    chownSync(dir, uid, gid);
    prefix = ['runuser', '-u', 'postgres', '--'];
  }
  const command = (binary: string, args: string[]) => [...prefix, join(binDir, binary), ...args];
  const exec = (binary: string, args: string[]) => {
    const argv = command(binary, args);
    return run(argv[0]!, argv.slice(1), { cwd: dir });
  };
  const stopCommand = command('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
  // Armed before initdb: if the run dies at any point from here on (a cancelled turbo run,
  // Ctrl-C, a crash), the watchdog stops the cluster and removes its directory.
  const watchdog = armWatchdog({
    steps: [{ run: stopCommand }, { remove: dir }],
    note: `[ostrom] the test run ended without stopping PostgreSQL in ${dir}; stopped it`,
  });
  try {
    await exec('initdb', [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '-A',
      'trust',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    const port = await freePort();
    const serverOptions = [
      `-p ${port}`,
      `-k ${dir}`,
      '-c listen_addresses=127.0.0.1',
      // Tests keep no data worth flushing; a benchmark (`durable`) flushes as production does.
      ...(options.durable ? [] : ['-c fsync=off', '-c full_page_writes=off']),
      '-c max_connections=200',
    ].join(' ');
    const start = () =>
      exec('pg_ctl', ['-D', dataDir, '-w', '-l', join(dir, 'log'), '-o', serverOptions, 'start']);
    const postmasterPid = () =>
      Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    await start();
    let pid = postmasterPid();
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      get pid() {
        return pid;
      },
      async shutDown() {
        await exec('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
      },
      async startAgain() {
        await start();
        pid = postmasterPid();
      },
      async stop() {
        try {
          await run(stopCommand[0]!, stopCommand.slice(1), { cwd: dir });
        } catch {
          try {
            process.kill(pid, 'SIGQUIT');
          } catch {
            // already gone
          }
        }
        rmSync(dir, { recursive: true, force: true });
        watchdog.disarm();
      },
    };
  } catch (error) {
    await run(stopCommand[0]!, stopCommand.slice(1), { cwd: dir }).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    watchdog.disarm();
    throw error;
  }
}
