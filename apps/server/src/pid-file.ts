import { readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { NodeError } from './errors.js';

// How an operator command tells that the node is running: `ostrom.pid` in the node directory,
// written once the node listens and removed when it stops. A pid file left by a crash names a
// process that is gone (`kill(pid, 0)` fails with ESRCH) and is ignored. Chosen over probing the
// listener (the port in the config may be overridden, or the admin listener disabled) and over
// the database's process table (a crash leaves a row that looks alive for three minutes, and a
// damaged database cannot be read at all). The file also names the machine and its boot: a node
// directory copied to another machine (a second process of one node), or a file left from before
// a reboot, names a pid that means nothing here, and possibly some other live process.

/** The pid file's name inside a node directory. */
export const PID_FILE = 'ostrom.pid';

/** This machine and its current boot, as a pid file names them. */
export function pidFileHost(): { host: string; boot: string | undefined } {
  let boot: string | undefined;
  try {
    // Linux: a new random id every boot.
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    boot = undefined;
  }
  return { host: hostname(), boot };
}

/** Records that this process serves the node in `dir`. */
export async function writePidFile(dir: string): Promise<void> {
  const { host, boot } = pidFileHost();
  const lines = [String(process.pid), `host=${host}`, ...(boot ? [`boot=${boot}`] : [])];
  await writeFile(join(dir, PID_FILE), `${lines.join('\n')}\n`, { mode: 0o644 });
}

/** Removes the pid file if it names this process (another process's is left alone). */
export async function removePidFile(dir: string): Promise<void> {
  if ((await readPid(dir)) === process.pid) await rm(join(dir, PID_FILE), { force: true });
}

async function readPid(dir: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, PID_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const [first = '', ...rest] = text.trim().split('\n');
  const pid = Number(first.trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  // Written on another machine, or before this machine's last boot: not a process here.
  const fields = new Map(rest.map((line) => line.split('=', 2) as [string, string]));
  const here = pidFileHost();
  if (fields.has('host') && fields.get('host') !== here.host) return undefined;
  if (fields.has('boot') && here.boot !== undefined && fields.get('boot') !== here.boot) {
    return undefined;
  }
  return pid;
}

/** The pid of the live process serving the node in `dir`, or undefined. */
export async function runningPid(dir: string): Promise<number | undefined> {
  const pid = await readPid(dir);
  if (pid === undefined) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    // EPERM: alive, but another user's.
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/** NodeError `NODE_RUNNING` when the node in `dir` is running: `what` needs it stopped. */
export async function assertNotRunning(dir: string, what: string): Promise<void> {
  const pid = await runningPid(dir);
  if (pid !== undefined) {
    throw new NodeError(
      'NODE_RUNNING',
      `the node is running (pid ${pid}, ${join(dir, PID_FILE)}): stop it before ${what}`,
    );
  }
}
