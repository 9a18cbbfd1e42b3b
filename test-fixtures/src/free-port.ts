import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that nothing listens on at the moment of the call, never one this process got before. */
export async function freePort(): Promise<number> {
  // The kernel may hand the same port to two probes in a row (the first one closed): a test
  // that asks for two ports (storage and admin) would get one twice. Never repeat a port here.
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await probePort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port that was not handed out already');
}

const handedOut = new Set<number>();

function probePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the port of a probe socket'));
      });
    });
  });
}
