import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import {
  assertNotRunning,
  PID_FILE,
  pidFileHost,
  removePidFile,
  runningPid,
  writePidFile,
} from '../src/pid-file.js';

// `ostrom.pid` tells operator commands that the node runs. A live pid counts only when the file
// was written on this machine since its last boot: a node directory copied from another machine
// (a second process of one node) or a file left from before a reboot names no process here.

describe('the pid file', () => {
  it('names this process, host and boot; counts while it lives; is removed by its writer', async () => {
    const dir = await tempDir();
    await writePidFile(dir);
    const text = await readFile(join(dir, PID_FILE), 'utf8');
    const { host, boot } = pidFileHost();
    expect(text.split('\n')[0]).toBe(String(process.pid));
    expect(text).toContain(`host=${host}\n`);
    if (boot) expect(text).toContain(`boot=${boot}\n`);
    expect(await runningPid(dir)).toBe(process.pid);
    await expect(assertNotRunning(dir, 'restoring')).rejects.toMatchObject({
      code: 'NODE_RUNNING',
    });
    await removePidFile(dir);
    expect(await runningPid(dir)).toBeUndefined();
  });

  it('a file copied from another machine, or from before this boot, is ignored though its pid lives here', async () => {
    const dir = await tempDir();
    const live = process.pid;
    const { host, boot } = pidFileHost();
    await writeFile(join(dir, PID_FILE), `${live}\nhost=node-b.example\nboot=${boot ?? 'x'}\n`);
    expect(await runningPid(dir)).toBeUndefined();
    await assertNotRunning(dir, 'restoring');
    if (boot) {
      await writeFile(join(dir, PID_FILE), `${live}\nhost=${host}\nboot=0-before-reboot\n`);
      expect(await runningPid(dir)).toBeUndefined();
    }
    // Another machine's file is not this process's to remove.
    await removePidFile(dir);
    expect(await readFile(join(dir, PID_FILE), 'utf8')).toContain(String(live));
  });

  it('a file of the older form (the pid alone) still counts; a dead pid or garbage does not', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, PID_FILE), `${process.pid}\n`);
    expect(await runningPid(dir)).toBe(process.pid);
    for (const text of ['2147483646\n', 'not a pid\n', '\n', '-5\n']) {
      await writeFile(join(dir, PID_FILE), text);
      expect(await runningPid(dir), JSON.stringify(text)).toBeUndefined();
    }
  });
});
