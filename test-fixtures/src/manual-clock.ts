/** A clock tests move by hand (Unix seconds): no test ever waits for real time. */
export interface ManualClock {
  readonly now: () => number;
  advance(seconds: number): void;
  set(at: number): void;
}

export function manualClock(start = 1_700_000_000): ManualClock {
  let current = start;
  return {
    now: () => current,
    advance: (seconds) => {
      current += seconds;
    },
    set: (at) => {
      current = at;
    },
  };
}
