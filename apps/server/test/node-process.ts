import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// `ostrom run DIR` in a process of its own, as an operator starts it: for tests that need the
// node's own memory and descriptors, its exit, or several processes of one node.

const APP = fileURLToPath(new URL('..', import.meta.url));

/** One line of the node's JSON log. */
export interface LogLine {
  readonly level: number;
  readonly msg?: string;
  readonly [key: string]: unknown;
}

export interface NodeProcess {
  readonly pid: number;
  /** The anonymous NURL the process logged when it started listening. */
  readonly nurl: string;
  /** Whether the process has ended (a crash, or `stop`). */
  readonly exited: boolean;
  /** Lines the node logged, parsed. */
  logged(): LogLine[];
  /** The last 8,000 characters the process wrote to stderr. */
  stderr(): string;
  /** SIGTERM, and SIGKILL if it has not ended 20 s later. */
  stop(): Promise<void>;
  /** SIGKILL at once (a crash: nothing is flushed or closed), resolved once it has ended. */
  kill(): Promise<void>;
}

/** Starts `ostrom run DIR --json-logs` and resolves once it listens (rejects if it exits). */
export async function runNodeProcess(dir: string): Promise<NodeProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--conditions=@ostrom/source', '--import', 'tsx', 'src/cli.ts', 'run', dir, '--json-logs'],
    { cwd: APP, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exit;
      clearTimeout(timer);
    }
  };
  const logged = () =>
    stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);
  const nurl = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const line = logged().find((entry) => entry.msg === 'listening');
      if (line) {
        child.stdout?.off('data', onData);
        resolve(String(line.nurl));
      }
    };
    child.stdout?.on('data', onData);
    void exit.then(() => reject(new Error(`the node exited before listening: ${stderr}`)));
  });
  return {
    pid: child.pid as number,
    nurl,
    get exited() {
      return exited;
    },
    logged,
    stderr: () => stderr,
    stop,
    async kill() {
      if (!exited) child.kill('SIGKILL');
      await exit;
    },
  };
}
