// The harness's watchdog: a small detached process that stops a service when the test run that
// started it dies without stopping it (a cancelled turbo run, Ctrl-C, a crash, SIGKILL), so no
// throwaway PostgreSQL or S3 server outlives its run.
//
// Plain JavaScript on purpose: it runs under bare `node`, with nothing to compile, and the test
// that kills its parent process imports it from a bare `node` process too. Types: watchdog.d.mts.
//
// How it knows: the run holds the write end of the watchdog's stdin. A process's pipes close when
// it ends, however it ends, so end-of-file without the word "disarm" first means the run died.
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const PROGRAM = fileURLToPath(import.meta.url);

/**
 * Starts a watchdog that carries out `plan` if this process ends before `disarm()` is called.
 * Call `disarm()` once the service has been stopped the ordinary way.
 */
export function armWatchdog(plan, options = {}) {
  const child = spawn(process.execPath, [PROGRAM, JSON.stringify(plan)], {
    // Its own process group: a Ctrl-C or a group kill aimed at the run must not reach it.
    detached: true,
    stdio: ['pipe', 'ignore', options.stderr ?? 'ignore'],
  });
  // Neither the watchdog nor the pipe may keep the run's event loop alive.
  child.unref();
  child.stdin.unref();
  child.stdin.on('error', () => {});
  return {
    pid: child.pid,
    disarm() {
      if (child.stdin.writable) child.stdin.end('disarm\n');
    },
  };
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

function signal(pid, name) {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** Sends `name`, then SIGKILL if the process is still there after `graceMs`. */
async function stopProcess(pid, name, graceMs) {
  signal(pid, name);
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await delay(50);
  if (alive(pid)) signal(pid, 'SIGKILL');
}

async function carryOut(plan) {
  for (const step of plan.steps) {
    if (step.run) {
      const result = spawnSync(step.run[0], step.run.slice(1), { stdio: 'ignore' });
      if (result.status !== 0 && step.elseKill) await stopProcess(step.elseKill, 'SIGQUIT', 3000);
    } else if (step.kill) {
      await stopProcess(step.kill, step.signal ?? 'SIGTERM', 3000);
    } else if (step.remove) {
      rmSync(step.remove, { recursive: true, force: true });
    }
  }
}

if (process.argv[1] === PROGRAM) {
  const plan = JSON.parse(process.argv[2] ?? '{"steps":[]}');
  let disarmed = false;
  let received = '';
  process.stdin.on('data', (chunk) => {
    received += chunk.toString();
    if (received.includes('disarm')) disarmed = true;
  });
  let done = false;
  const runEnded = async () => {
    if (done || disarmed) return;
    done = true;
    await carryOut(plan);
    if (plan.note) console.error(plan.note);
  };
  process.stdin.on('end', runEnded);
  process.stdin.on('error', runEnded);
  process.stdin.resume();
}
