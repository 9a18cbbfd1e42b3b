import type { ParsedNurl } from '@ostrom/protocol';
import type { SlotSecrets } from './derive.js';

/**
 * One storage server as the directory code sees it: share 0 of a mutable slot per storage
 * index. {@link connectSlotServer} speaks HTTPS; {@link memorySlotServer} keeps it in memory.
 */
export interface SlotServer {
  /** The NURL it was reached by (or named by, in memory). */
  readonly nurl: string;
  /** The server id write enablers and lease secrets are salted with: the NURL's SPKI hash bytes. */
  readonly serverId: Uint8Array;
  /** Share 0 of the slot, or `undefined` if the server holds none. Throws if unreachable. */
  read(storageIndex: string): Promise<Uint8Array | undefined>;
  /**
   * One read-test-write on share 0: if its first 16 bytes equal `expectedHeader` (empty: no
   * share yet), replace the share with `data`; true if written, false if the test failed.
   * Throws if unreachable, or if the server refuses the write enabler.
   */
  testAndWrite(
    storageIndex: string,
    expectedHeader: Uint8Array,
    data: Uint8Array,
    secrets: SlotSecrets,
  ): Promise<boolean>;
  /** Adds or renews our lease on the slot; throws if there is none or the server is down. */
  renewLease(
    storageIndex: string,
    renewSecret: Uint8Array,
    cancelSecret: Uint8Array,
  ): Promise<void>;
  /** Whether the server answers at all (never throws). */
  reachable(): Promise<boolean>;
  /** Releases connections; the server object is not used afterwards. */
  close(): void;
}

/** A server's id: the SPKI hash its NURL pins (base64url there), as bytes. */
export function serverIdOf(nurl: ParsedNurl): Uint8Array {
  return new Uint8Array(Buffer.from(nurl.spkiHash, 'base64url'));
}
