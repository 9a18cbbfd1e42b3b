import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { boundConnections, type ConnectionRefusal, clientOf } from '../src/connection-bounds.js';

// The bounds on connections, on a plain TCP server (the node's TLS server is a TCP server: the
// bound runs before its handshake; test/hostile/connections.test.ts attacks a real node).

async function serverWith(bounds: { maxConnections: number; maxConnectionsPerAddress: number }) {
  const server = net.createServer((socket) => socket.on('error', () => undefined));
  const refusals: ConnectionRefusal[] = [];
  const counts = boundConnections(server, bounds, (refusal) => refusals.push(refusal));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sockets: net.Socket[] = [];
  onTestFinished(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as net.AddressInfo).port;
  /** A connection from `from`, and a promise that settles when it is closed. */
  const connect = (from: string) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: from });
    sockets.push(socket);
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    return { socket, closed };
  };
  return { counts, refusals, connect, sockets };
}

/** Waits (turn by turn of the event loop, bounded) until `condition` holds. */
async function until(condition: () => boolean) {
  for (let i = 0; i < 10_000 && !condition(); i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  expect(condition()).toBe(true);
}

describe('boundConnections', () => {
  it('holds at most maxConnectionsPerAddress from one address; another address has its own', async () => {
    const t = await serverWith({ maxConnections: 100, maxConnectionsPerAddress: 3 });
    for (let i = 0; i < 3; i++) t.connect('127.0.0.2');
    await until(() => t.counts.open('127.0.0.2') === 3);
    // The fourth is accepted by the kernel and closed by the node at once.
    await t.connect('127.0.0.2').closed;
    expect(t.counts.refused).toBe(1);
    expect(t.refusals).toEqual([{ client: '127.0.0.2', bound: 'maxConnectionsPerAddress' }]);
    expect(t.counts.open('127.0.0.2')).toBe(3);
    // Another address is served.
    t.connect('127.0.0.3');
    await until(() => t.counts.open('127.0.0.3') === 1);
    expect(t.counts.open()).toBe(4);
    // A closed connection frees its place.
    t.sockets[0]!.destroy();
    await until(() => t.counts.open('127.0.0.2') === 2);
    t.connect('127.0.0.2');
    await until(() => t.counts.open('127.0.0.2') === 3);
    expect(t.counts.refused).toBe(1);
  });

  it('holds at most maxConnections in all', async () => {
    const t = await serverWith({ maxConnections: 4, maxConnectionsPerAddress: 2 });
    for (const from of ['127.0.0.2', '127.0.0.2', '127.0.0.3', '127.0.0.4']) t.connect(from);
    await until(() => t.counts.open() === 4);
    await t.connect('127.0.0.5').closed;
    expect(t.counts.refused).toBe(1);
    expect(t.refusals).toEqual([{ client: '127.0.0.5', bound: 'maxConnections' }]);
    expect(t.counts.open()).toBe(4);
  });

  it('refuses bounds that are not positive integers, or a per-address bound above the total', () => {
    const server = net.createServer();
    for (const bounds of [
      { maxConnections: 0, maxConnectionsPerAddress: 0 },
      { maxConnections: 10, maxConnectionsPerAddress: 1.5 },
      { maxConnections: Number.NaN, maxConnectionsPerAddress: 1 },
      { maxConnections: 2, maxConnectionsPerAddress: 3 },
    ]) {
      expect(() => boundConnections(server, bounds), JSON.stringify(bounds)).toThrow(RangeError);
    }
  });
});

describe('clientOf: what connections are counted under', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:192.0.2.1', '192.0.2.1'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::7', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['::', '0:0:0:0::/64'],
    ['::1.2.3.4', '0:0:0:0::/64'],
    [undefined, 'unknown'],
  ])('%s → %s', (address, expected) => {
    expect(clientOf(address)).toBe(expected);
  });

  it('two addresses of one /64 are one client; of two /64s, two', () => {
    expect(clientOf('2001:db8:1:2::a')).toBe(clientOf('2001:db8:1:2:ffff:ffff:ffff:ffff'));
    expect(clientOf('2001:db8:1:2::a')).not.toBe(clientOf('2001:db8:1:3::a'));
  });
});
