import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a service (PostgreSQL, the S3 server) that a test takes away and gives
 * back: `refuse()` cuts every connection and refuses new ones (a server stopped), `stall()`
 * accepts connections and holds what they send (a server hung), `resume()` passes bytes again.
 */
export interface OutageProxy {
  /** The port to connect to instead of the service's. */
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string;
  refuse(): void;
  stall(): void;
  resume(): void;
  /** Connections the proxy holds now. */
  readonly open: number;
  close(): Promise<void>;
}

export async function startOutageProxy(target: {
  host: string;
  port: number;
}): Promise<OutageProxy> {
  let mode: 'pass' | 'refuse' | 'stall' = 'pass';
  const pairs = new Set<{ client: Socket; upstream: Socket | undefined }>();
  const stalled = new Set<Socket>();

  const server = createServer((client) => {
    client.on('error', () => undefined);
    if (mode === 'refuse') {
      client.destroy();
      return;
    }
    if (mode === 'stall') {
      // Take the connection and never answer: what a hung server looks like.
      stalled.add(client);
      client.once('close', () => stalled.delete(client));
      return;
    }
    const upstream = connect(target.port, target.host);
    const pair = { client, upstream };
    pairs.add(pair);
    upstream.on('error', () => client.destroy());
    client.on('close', () => {
      upstream.destroy();
      pairs.delete(pair);
    });
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const cutAll = () => {
    for (const { client, upstream } of pairs) {
      client.destroy();
      upstream?.destroy();
    }
    pairs.clear();
  };

  return {
    port,
    via(url) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    refuse() {
      mode = 'refuse';
      cutAll();
      for (const socket of stalled) socket.destroy();
    },
    stall() {
      mode = 'stall';
      // Connections already open stop passing bytes too: pause both directions.
      for (const { client, upstream } of pairs) {
        client.unpipe();
        upstream?.unpipe();
        client.pause();
        upstream?.pause();
      }
    },
    resume() {
      // Held connections were never answered: cut them, so their clients reconnect.
      for (const socket of stalled) socket.destroy();
      if (mode === 'stall') cutAll();
      mode = 'pass';
    },
    get open() {
      return pairs.size + stalled.size;
    },
    async close() {
      mode = 'refuse';
      cutAll();
      for (const socket of stalled) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
