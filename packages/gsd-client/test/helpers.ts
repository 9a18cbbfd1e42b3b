import { randomBytes } from 'node:crypto';
import { base32Encode, formatFurl } from '@ostrom/protocol';
import type { AnnouncementBody, MemorySlotServer } from '../src/index.js';
import { memorySlotServer } from '../src/index.js';

/** `n` fresh memory servers. */
export function memoryServers(n: number): MemorySlotServer[] {
  return Array.from({ length: n }, () => memorySlotServer());
}

/** A valid announcement for a server reached at `nurls`. */
export function announcementFor(
  nurls: readonly string[],
  overrides: Partial<AnnouncementBody> = {},
): AnnouncementBody {
  return {
    nickname: 'node',
    serverId: `v0-${base32Encode(randomBytes(32))}`,
    nurls: [...nurls],
    anonymousStorageFurl: formatFurl({
      tubId: base32Encode(randomBytes(20)),
      hints: ['tcp:127.0.0.1:1'],
      swissnum: base32Encode(randomBytes(20)),
    }),
    permutationSeed: base32Encode(randomBytes(32)),
    availableSpace: 1_000_000,
    version: 'ostrom/0.1.0',
    ...overrides,
  };
}

/** Timers a test fires by hand. */
export function manualTimers() {
  const pending = new Map<number, { callback: () => void; ms: number }>();
  let next = 1;
  return {
    pending,
    setTimeout(callback: () => void, ms: number): unknown {
      const id = next++;
      pending.set(id, { callback, ms });
      return id;
    },
    clearTimeout(handle: unknown): void {
      pending.delete(handle as number);
    },
    /** Fires every pending timer once. */
    fireAll(): number {
      const due = [...pending.entries()];
      pending.clear();
      for (const [, t] of due) t.callback();
      return due.length;
    },
  };
}
