import { isIPv6, type Server, type Socket } from 'node:net';

/** The default bounds on the connections a node holds (see {@link ConnectionBounds}). */
export const CONNECTION_LIMIT_DEFAULTS = Object.freeze({
  maxConnections: 2048,
  maxConnectionsPerAddress: 128,
});

export interface ConnectionBounds {
  /** Connections held at once, in all. */
  readonly maxConnections: number;
  /**
   * Connections held at once from one client address (an IPv6 client: from its /64, the
   * network one host is usually given, so that its other addresses do not each get a share).
   */
  readonly maxConnectionsPerAddress: number;
}

/** A connection closed as it was accepted, because a bound was reached. */
export interface ConnectionRefusal {
  /** The client's address, or its /64 for IPv6 (`2001:db8:1:2::/64`). */
  readonly client: string;
  readonly bound: 'maxConnections' | 'maxConnectionsPerAddress';
}

export interface ConnectionCounts {
  /** Connections held now, in all or from one client address. */
  open(client?: string): number;
  /** Connections closed as they were accepted, since the start. */
  readonly refused: number;
}

/**
 * Bounds the connections `server` holds. Each costs a descriptor and, once TLS is set up, tens
 * of kilobytes, whether or not it ever sends a request; so a connection past a bound is closed
 * as it is accepted, before its TLS handshake (a client cannot be told why without paying for
 * one: it sees the connection reset, and Tahoe-LAFS clients treat that as a server that is down
 * for now and retry later). The listener runs before the TLS server's own.
 */
export function boundConnections(
  server: Server,
  bounds: ConnectionBounds,
  onRefused: (refusal: ConnectionRefusal) => void = () => undefined,
): ConnectionCounts {
  checkBounds(bounds);
  const byClient = new Map<string, number>();
  let total = 0;
  let refused = 0;
  server.prependListener('connection', (socket: Socket) => {
    const client = clientOf(socket.remoteAddress);
    const held = byClient.get(client) ?? 0;
    const bound =
      total >= bounds.maxConnections
        ? 'maxConnections'
        : held >= bounds.maxConnectionsPerAddress
          ? 'maxConnectionsPerAddress'
          : undefined;
    if (bound !== undefined) {
      refused++;
      socket.destroy();
      onRefused({ client, bound });
      return;
    }
    total++;
    byClient.set(client, held + 1);
    socket.once('close', () => {
      total--;
      const left = (byClient.get(client) ?? 1) - 1;
      if (left === 0) byClient.delete(client);
      else byClient.set(client, left);
    });
  });
  return {
    open: (client) => (client === undefined ? total : (byClient.get(clientOf(client)) ?? 0)),
    get refused() {
      return refused;
    },
  };
}

function checkBounds(bounds: ConnectionBounds): void {
  for (const name of ['maxConnections', 'maxConnectionsPerAddress'] as const) {
    if (!Number.isSafeInteger(bounds[name]) || bounds[name] < 1) {
      throw new RangeError(`${name} must be a positive integer`);
    }
  }
  if (bounds.maxConnectionsPerAddress > bounds.maxConnections) {
    throw new RangeError('maxConnectionsPerAddress must not exceed maxConnections');
  }
}

/**
 * What connections are counted under: an IPv4 address as is (also when the socket reports it
 * IPv4-mapped, `::ffff:192.0.2.1`), an IPv6 address by its /64.
 */
export function clientOf(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const zoneless = address.split('%')[0]!;
  const [head = '', tail] = zoneless.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail (`::1.2.3.4`) is two groups; it lies past the /64 in any case.
  const width = (groups: string[]) => groups.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const missing = 8 - width(headGroups) - width(tailGroups);
  const groups = [...headGroups, ...Array<string>(Math.max(missing, 0)).fill('0'), ...tailGroups];
  const prefix = groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':');
  return `${prefix}::/64`;
}
