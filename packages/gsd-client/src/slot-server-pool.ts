import { parseNurl } from '@ostrom/protocol';
import { connectSlotServer } from './https-slot-server.js';
import type { SlotServer } from './slot-server.js';

/** The key naming one server: the SPKI hash its NURL pins (two NURLs of a server are one server). */
export function serverKey(nurl: string): string {
  return parseNurl(nurl).spkiHash;
}

/**
 * Connections to storage servers, made on first need (one per NURL) and all closed by
 * `close()`. `servers()` gives one per server: NURLs pinning the same key are one server (the
 * processes of one node, or one node under two host names), and the first NURL given for it is
 * used, so a server is asked once however many of its NURLs are known.
 */
export class SlotServerPool {
  readonly #connect: (nurl: string) => SlotServer;
  readonly #servers = new Map<string, SlotServer>();

  /** `connect` makes a server of a NURL (default {@link connectSlotServer}). */
  constructor(connect: (nurl: string) => SlotServer = (nurl) => connectSlotServer(nurl)) {
    if (typeof connect !== 'function') throw new TypeError('connect must be a function');
    this.#connect = connect;
  }

  /** The server at a NURL, connected once; throws what `connect` throws. */
  server(nurl: string): SlotServer {
    let server = this.#servers.get(nurl);
    if (server === undefined) {
      server = this.#connect(nurl);
      this.#servers.set(nurl, server);
    }
    return server;
  }

  /**
   * One server per key among these NURLs, in order of first mention (earlier NURLs win). A NURL
   * that cannot be connected (not a NURL, or `connect` threw) throws, unless `failed` is given:
   * then it is skipped and passed to `failed`, and the other servers are still returned.
   */
  servers(nurls: Iterable<string>, failed?: (nurl: string, error: unknown) => void): SlotServer[] {
    const byKey = new Map<string, SlotServer>();
    for (const nurl of nurls) {
      try {
        const key = serverKey(nurl);
        if (!byKey.has(key)) byKey.set(key, this.server(nurl));
      } catch (error) {
        if (failed === undefined) throw error;
        failed(nurl, error);
      }
    }
    return [...byKey.values()];
  }

  /** Closes every connection; the pool connects again on the next use. */
  close(): void {
    for (const server of this.#servers.values()) server.close();
    this.#servers.clear();
  }
}
