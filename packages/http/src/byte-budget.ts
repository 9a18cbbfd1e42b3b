/**
 * A node-wide allowance of bytes (request bodies held in memory, or spooled to disk) shared by
 * every request: what one takes, it gives back when done. Takers are served in order of arrival,
 * so a large one is not starved by a stream of small ones.
 */
export interface ByteBudget {
  /** Bytes the budget holds in all. */
  readonly capacity: number;
  /** Bytes taken and not given back. */
  held(): number;
  /**
   * Takes `bytes` now if they fit and nobody waits before, returning the function that gives
   * them back (once; later calls do nothing); undefined otherwise, with nothing taken.
   */
  tryTake(bytes: number): (() => void) | undefined;
  /**
   * Takes `bytes` once they fit, in turn; rejects with `onTimeout()` if that takes longer than
   * `waitMs`. More than the whole capacity fits only when nothing else is held: such a taker waits
   * for the budget to empty and then holds all of it (one at a time).
   */
  take(bytes: number, waitMs: number, onTimeout: () => Error): Promise<() => void>;
}

interface Waiter {
  readonly bytes: number;
  readonly grant: () => void;
}

/** A {@link ByteBudget} of `capacity` bytes. */
export function createByteBudget(capacity: number): ByteBudget {
  if (!Number.isSafeInteger(capacity) || capacity <= 0) {
    throw new RangeError('a byte budget holds a positive number of bytes');
  }
  let held = 0;
  const queue: Waiter[] = [];

  const fits = (bytes: number) => held === 0 || held + bytes <= capacity;

  const giver = (bytes: number) => {
    let given = false;
    return () => {
      if (given) return;
      given = true;
      held -= bytes;
      // Serve waiters in order while the first one fits; a large first waiter holds the line.
      while (queue.length > 0 && fits(queue[0]!.bytes)) queue.shift()!.grant();
    };
  };

  const checkBytes = (bytes: number) => {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new RangeError('bytes must be a non-negative integer');
    }
  };

  return {
    capacity,
    held: () => held,
    tryTake(bytes) {
      checkBytes(bytes);
      if (queue.length > 0 || !fits(bytes)) return undefined;
      held += bytes;
      return giver(bytes);
    },
    take(bytes, waitMs, onTimeout) {
      checkBytes(bytes);
      if (queue.length === 0 && fits(bytes)) {
        held += bytes;
        return Promise.resolve(giver(bytes));
      }
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          bytes,
          grant: () => {
            clearTimeout(timer);
            held += bytes;
            resolve(giver(bytes));
          },
        };
        const timer = setTimeout(() => {
          const at = queue.indexOf(waiter);
          if (at < 0) return;
          queue.splice(at, 1);
          // The one leaving may have held up those behind it.
          while (queue.length > 0 && fits(queue[0]!.bytes)) queue.shift()!.grant();
          reject(onTimeout());
        }, waitMs);
        timer.unref();
        queue.push(waiter);
      });
    },
  };
}
