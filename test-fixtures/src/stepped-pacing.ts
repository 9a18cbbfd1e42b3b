/**
 * Pacing for a background crawl (the shape of @ostrom/crawler's `PacingClock`) whose every sleep
 * lasts until the test ends it: each sleep is recorded, `asleep()` resolves once the crawl sleeps
 * (at once if it does), `wake()` ends the sleep in progress. Monotonic time stands still, so the
 * crawl never rests between prefixes, only between cycles and while it waits for its turn; the
 * test sees each wait and decides when it ends. No real time passes.
 */
export interface SteppedPacing {
  monotonicMs(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** Every sleep asked for, in ms. */
  readonly sleeps: number[];
  asleep(): Promise<void>;
  wake(): void;
}

export function steppedPacing(): SteppedPacing {
  const sleeps: number[] = [];
  let current: (() => void) | undefined;
  let waiters: (() => void)[] = [];
  return {
    sleeps,
    monotonicMs: () => 0,
    sleep: (ms, signal) =>
      new Promise<void>((resolve) => {
        sleeps.push(ms);
        if (signal.aborted) return resolve();
        const done = () => {
          if (current === done) current = undefined;
          signal.removeEventListener('abort', done);
          resolve();
        };
        current = done;
        signal.addEventListener('abort', done, { once: true });
        const woken = waiters;
        waiters = [];
        for (const waiter of woken) waiter();
      }),
    asleep: () =>
      current
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            waiters.push(resolve);
          }),
    wake: () => current?.(),
  };
}
