import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { seededRandom } from '@ostrom/test-fixtures';

// A small fault-injecting HTTP proxy for tests: it forwards requests to an upstream S3 server and
// fails a fraction of them, chosen by a seeded generator so that a sequential run is repeatable.

export const FAULTS = ['error500', 'resetBefore', 'resetAfter', 'delay'] as const;
export type Fault = (typeof FAULTS)[number];

export interface FaultProxyOptions {
  /** Upstream base URL, e.g. moto's endpoint. */
  readonly upstream: string;
  /** Fraction of requests (0–1) that get a fault. */
  readonly failRate: number;
  /** Faults to choose among, uniformly (default all). */
  readonly faults?: readonly Fault[];
  readonly seed: number;
  /** Delay of a `delay` fault, ms (default 20). */
  readonly delayMs?: number;
}

export interface FaultProxy {
  readonly endpoint: string;
  /** Requests seen, and faults injected by kind. */
  readonly stats: { requests: number } & Record<Fault, number>;
  setFailRate(rate: number): void;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Sends the request upstream and returns the whole answer. */
function forward(
  upstream: URL,
  req: IncomingMessage,
  body: Buffer,
): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> {
  const headers = { ...req.headers, host: upstream.host };
  delete headers.expect; // this proxy already answered any "100-continue" itself
  return new Promise((resolve, reject) => {
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...headers, 'content-length': String(body.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 502,
            headers: res.headers as Record<string, string | string[]>,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    out.on('error', reject);
    out.end(body);
  });
}

const INTERNAL_ERROR =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>' +
  '<Message>injected by the fault proxy</Message></Error>';

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(options.upstream);
  const random = seededRandom(options.seed);
  const faults = options.faults ?? FAULTS;
  let failRate = options.failRate;
  const stats = { requests: 0, error500: 0, resetBefore: 0, resetAfter: 0, delay: 0 };
  const sockets = new Set<Socket>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    stats.requests++;
    // Draw both numbers for every request so the sequence does not depend on the rate's value.
    const roll = random();
    const pick = random();
    const fault = roll < failRate ? faults[Math.floor(pick * faults.length)] : undefined;
    if (fault) stats[fault]++;
    const body = await readBody(req);
    if (fault === 'error500') {
      res.writeHead(500, { 'content-type': 'application/xml' }).end(INTERNAL_ERROR);
      return;
    }
    if (fault === 'resetBefore') {
      req.socket.destroy();
      return;
    }
    if (fault === 'delay')
      await new Promise((resolve) => setTimeout(resolve, options.delayMs ?? 20));
    const answer = await forward(upstream, req, body);
    if (fault === 'resetAfter') {
      // The store applied the request but the answer is lost: the ambiguous case.
      req.socket.destroy();
      return;
    }
    res.writeHead(answer.status, answer.headers).end(answer.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    setFailRate(rate) {
      failRate = rate;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
