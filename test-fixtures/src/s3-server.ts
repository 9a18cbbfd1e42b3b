import { type ChildProcess, spawn } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { findBinary, subdirs } from './find-binary.js';
import { freePort } from './free-port.js';
import { armWatchdog } from './watchdog.mjs';

/** A throwaway S3-compatible server (moto) on a loopback port, owned by the test run. */
export interface S3Server {
  /** `http://127.0.0.1:PORT`; any access key works. */
  readonly endpoint: string;
  readonly pid: number;
  stop(): Promise<void>;
}

function motoBinary(): string | undefined {
  const pyenvRoot = process.env.PYENV_ROOT ?? join(homedir(), '.pyenv');
  return findBinary(
    'moto_server',
    subdirs(join(pyenvRoot, 'versions')).map((dir) => join(dir, 'bin', 'moto_server')),
    'OSTROM_MOTO_SERVER',
  );
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Starts moto_server and waits (up to 20 s) until it answers HTTP. */
export async function startS3(): Promise<S3Server> {
  const binary = motoBinary();
  if (!binary) throw new Error('moto_server not found (set OSTROM_MOTO_SERVER to its path)');
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(binary, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Stops moto if the run dies without stopping it (a cancelled turbo run, Ctrl-C, a crash).
  const watchdog = armWatchdog({
    steps: child.pid ? [{ kill: child.pid }] : [],
    note: `[ostrom] the test run ended without stopping moto_server on ${endpoint}; stopped it`,
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited(child);
      clearTimeout(timer);
    }
    watchdog.disarm();
  };
  // Polling a server's readiness is the harness's job, not a test's: tests themselves never wait.
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await answers(`${endpoint}/moto-api/`)) {
      return { endpoint, pid: child.pid ?? -1, stop };
    }
    await delay(100);
  }
  await stop();
  throw new Error(`moto_server did not start on ${endpoint}: ${stderr.trim() || 'no output'}`);
}
