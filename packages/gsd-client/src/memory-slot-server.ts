import { randomBytes } from 'node:crypto';
import { base32Encode, formatNurl, isStorageIndex, parseNurl } from '@ostrom/protocol';
import type { SlotSecrets } from './derive.js';
import { SLOT_HEADER_BYTES } from './slot.js';
import { type SlotServer, serverIdOf } from './slot-server.js';

/** A share of the memory server, as a test may inspect or plant it. */
export interface MemoryShare {
  data: Uint8Array;
  writeEnabler: Uint8Array;
  /** Lease renew secrets (hex) → how many times each was added or renewed. */
  leases: Map<string, number>;
}

/** An in-memory {@link SlotServer} with the knobs tests need. */
export interface MemorySlotServer extends SlotServer {
  /** While true every call fails as a network error would (and `reachable()` is false). */
  down: boolean;
  /** The slots, by storage index. */
  readonly shares: Map<string, MemoryShare>;
  /** Plants share data as a misbehaving server would (replay, corruption), write enabler kept. */
  plant(storageIndex: string, data: Uint8Array): void;
  /** Calls made, by method name (to check that a down server is not retried, etc.). */
  readonly calls: { read: number; testAndWrite: number; renewLease: number; reachable: number };
}

export interface MemorySlotServerOptions {
  /** Its NURL; a random one on 127.0.0.1 by default. Its SPKI hash becomes the server id. */
  nurl?: string;
}

function randomNurl(): string {
  return formatNurl({
    spkiHash: randomBytes(32).toString('base64url'),
    host: '127.0.0.1',
    port: 1024 + (randomBytes(2).readUInt16BE(0) % 60000),
    swissnum: base32Encode(randomBytes(20)),
  });
}

function checkSi(storageIndex: string): void {
  if (!isStorageIndex(storageIndex)) throw new TypeError('not a storage index');
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/**
 * A storage server in memory with Tahoe's read-test-write semantics (`storage/server.py`
 * `slot_testv_and_readv_and_writev`): the write enabler of an existing share must match, else
 * the call fails (HTTP 401) and nothing changes; a test on a missing share compares against
 * empty data; writes extend the share and a smaller `newLength` truncates it; every successful
 * write adds or renews the writer's lease.
 */
export function memorySlotServer(options: MemorySlotServerOptions = {}): MemorySlotServer {
  const nurl = options.nurl ?? randomNurl();
  let serverId: Uint8Array;
  try {
    serverId = serverIdOf(parseNurl(nurl));
  } catch (cause) {
    throw new TypeError('nurl must be a NURL', { cause });
  }
  const shares = new Map<string, MemoryShare>();
  const calls = { read: 0, testAndWrite: 0, renewLease: 0, reachable: 0 };

  const server: MemorySlotServer = {
    nurl,
    serverId,
    down: false,
    shares,
    calls,
    plant(storageIndex, data) {
      checkSi(storageIndex);
      const existing = shares.get(storageIndex);
      shares.set(storageIndex, {
        data: data.slice(),
        writeEnabler: existing?.writeEnabler ?? new Uint8Array(32),
        leases: existing?.leases ?? new Map(),
      });
    },
    async read(storageIndex) {
      calls.read++;
      checkSi(storageIndex);
      await tick();
      const share = shares.get(storageIndex);
      return share?.data.slice();
    },
    async testAndWrite(storageIndex, expectedHeader, data, secrets: SlotSecrets) {
      calls.testAndWrite++;
      checkSi(storageIndex);
      await tick();
      const share = shares.get(storageIndex);
      if (share !== undefined && !same(share.writeEnabler, secrets.writeEnabler)) {
        throw new Error('the write enabler does not match (HTTP 401)');
      }
      // The test vector: offset 0, size 16, specimen expectedHeader; a missing share reads empty.
      const actual =
        share === undefined ? new Uint8Array(0) : share.data.subarray(0, SLOT_HEADER_BYTES);
      if (!same(actual, expectedHeader)) return false;
      // One write vector at offset 0 with all of `data`, then newLength = data.length.
      const old = share?.data ?? new Uint8Array(0);
      let next = new Uint8Array(Math.max(old.length, data.length));
      next.set(old);
      next.set(data, 0);
      if (data.length < next.length) next = next.slice(0, data.length);
      const leases = share?.leases ?? new Map<string, number>();
      const key = Buffer.from(secrets.renewSecret).toString('hex');
      leases.set(key, (leases.get(key) ?? 0) + 1);
      shares.set(storageIndex, { data: next, writeEnabler: secrets.writeEnabler.slice(), leases });
      return true;
    },
    async renewLease(storageIndex, renewSecret, _cancelSecret) {
      calls.renewLease++;
      checkSi(storageIndex);
      await tick();
      const share = shares.get(storageIndex);
      // Tahoe answers 404 for a lease on an index with no share.
      if (share === undefined) throw new Error('no share to lease (HTTP 404)');
      const key = Buffer.from(renewSecret).toString('hex');
      share.leases.set(key, (share.leases.get(key) ?? 0) + 1);
    },
    async reachable() {
      calls.reachable++;
      await Promise.resolve();
      return !server.down;
    },
    close() {},
  };

  // A network round trip: yields, then fails if the server is down.
  async function tick(): Promise<void> {
    await Promise.resolve();
    if (server.down) throw new Error(`connect ECONNREFUSED (${nurl.slice(0, 24)}…)`);
  }

  return server;
}
