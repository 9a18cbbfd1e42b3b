/** One thing the watchdog does, in order, when the run dies. */
export type WatchdogStep =
  /** Runs a command; when it fails and `elseKill` is given, stops that PID instead. */
  | { run: string[]; elseKill?: number }
  /** Sends `signal` (default SIGTERM), then SIGKILL if the process outlives 3 s. */
  | { kill: number; signal?: NodeJS.Signals }
  /** Removes a file or directory tree. */
  | { remove: string };

export interface WatchdogPlan {
  steps: WatchdogStep[];
  /** Printed on the watchdog's stderr after the steps (when it has one). */
  note?: string;
}

export interface Watchdog {
  readonly pid: number | undefined;
  /** The service was stopped the ordinary way: the watchdog exits and does nothing. */
  disarm(): void;
}

/**
 * Starts a detached watchdog that carries out `plan` if this process ends (however it ends)
 * before `disarm()` is called. `stderr` is the watchdog's stderr (default: ignored).
 */
export function armWatchdog(
  plan: WatchdogPlan,
  options?: { stderr?: 'ignore' | 'inherit' },
): Watchdog;
