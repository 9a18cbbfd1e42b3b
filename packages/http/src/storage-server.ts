import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import {
  boundConnections,
  CONNECTION_LIMIT_DEFAULTS,
  type ConnectionBounds,
  type ConnectionCounts,
  type ConnectionRefusal,
} from './connection-bounds.js';

export interface StorageServerOptions {
  /** The node's certificate and key (PEM): the NURL's user part is the hash of this key. */
  readonly tls: { readonly keyPem: string; readonly certPem: string };
  /** Usually `createStorageHandler(...)`. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Connections held at once; default {@link CONNECTION_LIMIT_DEFAULTS}. */
  readonly connections?: Partial<ConnectionBounds>;
  /**
   * Told of connections refused by a bound: at most once per `refusalReportMs` (default a
   * minute), with how many were refused since the last report, so a flood makes one log line.
   * Refusals within a window are told with the next refusal after it.
   */
  readonly onConnectionsRefused?: (refusal: ConnectionRefusal, refused: number) => void;
  readonly refusalReportMs?: number;
  /** Milliseconds (default `Date.now`), for the refusal reports. */
  readonly nowMs?: () => number;
}

export interface StorageServer {
  readonly server: Server;
  readonly connections: ConnectionCounts;
  /** Listens on `host:port` (0: any free port); resolves to the port, rejects as `listen` does. */
  listen(port: number, host: string): Promise<number>;
  /** Requests being answered now. */
  readonly inFlight: number;
  /**
   * Stops accepting, closes idle connections, waits up to `drainTimeoutMs` (default 10 s) for
   * the requests in flight to finish, then cuts every connection left. Calling it again returns
   * the first call's promise.
   */
  close(options?: { drainTimeoutMs?: number }): Promise<void>;
}

/**
 * The HTTPS server a Tahoe-LAFS storage node needs around its handler: HTTP/1.1 (Tahoe's client
 * speaks nothing else), idle connections kept a minute (Tahoe's client pools them and retries
 * only idempotent requests on a dead one) while headers must arrive within 65 s, bounded
 * connections in all and per client address, an answer to CONNECT (which Node would otherwise
 * drop without a word), and a close that drains requests in flight.
 */
export function createStorageServer(options: StorageServerOptions): StorageServer {
  let inFlight = 0;
  let closing: Promise<void> | undefined;
  let drained: (() => void) | undefined;
  const server = createServer(
    {
      key: options.tls.keyPem,
      cert: options.tls.certPem,
      keepAliveTimeout: 60_000,
      headersTimeout: 65_000,
    },
    (req, res) => {
      inFlight++;
      res.once('close', () => {
        inFlight--;
        if (inFlight === 0) drained?.();
      });
      options.handler(req, res);
    },
  );
  const now = options.nowMs ?? Date.now;
  const reportMs = options.refusalReportMs ?? 60_000;
  let reportedAt = Number.NEGATIVE_INFINITY;
  let unreported = 0;
  const connections = boundConnections(
    server,
    { ...CONNECTION_LIMIT_DEFAULTS, ...options.connections },
    (refusal) => {
      unreported++;
      if (now() - reportedAt < reportMs) return;
      options.onConnectionsRefused?.(refusal, unreported);
      reportedAt = now();
      unreported = 0;
    },
  );
  // Every socket from its accept: one still in its TLS handshake (or sending nothing) is not an
  // HTTP connection yet, so closeAllConnections() would leave it to hold close() until a timeout.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('connect', (_req, socket) => {
    socket.end('HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });

  return {
    server,
    connections,
    get inFlight() {
      return inFlight;
    },
    listen: (port, host) =>
      new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      }),
    close({ drainTimeoutMs = 10_000 } = {}) {
      closing ??= drain(drainTimeoutMs);
      return closing;
    },
  };

  async function drain(drainTimeoutMs: number): Promise<void> {
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    if (inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => {
          drained = resolve;
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, drainTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    server.closeAllConnections();
    for (const socket of sockets) socket.destroy();
    await stopped;
  }
}
