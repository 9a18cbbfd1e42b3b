/** Runs async functions one at a time per key; different keys run concurrently. */
export interface KeyedLock {
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

export function createKeyedLock(): KeyedLock {
  const tails = new Map<string, Promise<unknown>>();
  return {
    async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
      const previous = tails.get(key) ?? Promise.resolve();
      const current = previous.then(fn, fn);
      const tail = current.catch(() => undefined);
      tails.set(key, tail);
      try {
        return await current;
      } finally {
        // The last waiter cleans up, so the map holds only keys with work queued.
        if (tails.get(key) === tail) tails.delete(key);
      }
    },
  };
}
