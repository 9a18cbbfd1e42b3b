import { StorageClientError } from '@ostrom/protocol';
import { type CliIo, main } from '../src/cli.js';

/** What one in-process `ostrom` run printed and returned. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in this process with captured output. */
export async function ostrom(args: string[], io: Partial<CliIo> = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: {},
    ...io,
  });
  return { code, stdout, stderr };
}

/** Runs the CLI with `--json` and parses its output; fails the test on a non-zero exit. */
export async function ostromJson<T = unknown>(args: string[], io: Partial<CliIo> = {}): Promise<T> {
  const result = await ostrom([...args, '--json'], io);
  if (result.code !== 0)
    throw new Error(`ostrom ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** 'ok', or the HTTP status a storage call was refused with (other failures are thrown). */
export async function outcome(request: Promise<unknown>): Promise<'ok' | number> {
  try {
    await request;
    return 'ok';
  } catch (error) {
    if (error instanceof StorageClientError && error.status !== undefined) return error.status;
    throw error;
  }
}
