import { createStorageClient, parseNurl, StorageClientError } from '@ostrom/protocol';
import { SLOT_HEADER_BYTES } from './slot.js';
import { type SlotServer, serverIdOf } from './slot-server.js';

/** Options of {@link connectSlotServer}. */
export interface ConnectSlotServerOptions {
  /** Time for one request (default {@link SLOT_REQUEST_TIMEOUT_MS}). */
  timeoutMs?: number;
}

/** The default time for one request: a directory poll or a command must not hang on one server. */
export const SLOT_REQUEST_TIMEOUT_MS = 10_000;

const SHNUM = 0;
/**
 * The most of a share a read takes. A directory of 1000 entries is ~150 KiB; the bound keeps a
 * hostile server from feeding us gigabytes (a longer share arrives cut and fails to open).
 */
export const MAX_SLOT_READ_BYTES = 4 * 1024 * 1024;

/**
 * A {@link SlotServer} over Tahoe's HTTP storage protocol, through a pinned
 * `createStorageClient`. The NURL is parsed at once (ProtocolError `INVALID_NURL`); nothing
 * is sent until the first call.
 */
export function connectSlotServer(
  nurl: string,
  options: ConnectSlotServerOptions = {},
): SlotServer {
  const parsed = parseNurl(nurl);
  const client = createStorageClient({
    nurl: parsed,
    timeoutMs: options.timeoutMs ?? SLOT_REQUEST_TIMEOUT_MS,
  });
  return {
    nurl,
    serverId: serverIdOf(parsed),
    async read(storageIndex) {
      try {
        return await client.mutable.read(storageIndex, SHNUM, {
          offset: 0,
          length: MAX_SLOT_READ_BYTES,
        });
      } catch (err) {
        // No share: Tahoe answers 404 (docs/TAHOE-COMPATIBILITY.md fact 31).
        if (err instanceof StorageClientError && err.status === 404) return undefined;
        throw err;
      }
    },
    async testAndWrite(storageIndex, expectedHeader, data, secrets) {
      const response = await client.mutable.readTestWrite(storageIndex, {
        ...secrets,
        testWriteVectors: new Map([
          [
            SHNUM,
            {
              test: [{ offset: 0, size: SLOT_HEADER_BYTES, specimen: expectedHeader }],
              write: [{ offset: 0, data }],
              newLength: data.length,
            },
          ],
        ]),
        readVector: [],
      });
      return response.success;
    },
    async renewLease(storageIndex, renewSecret, cancelSecret) {
      await client.addOrRenewLease(storageIndex, { renewSecret, cancelSecret });
    },
    async reachable() {
      try {
        await client.getVersion();
        return true;
      } catch {
        return false;
      }
    },
    close: () => client.close(),
  };
}
