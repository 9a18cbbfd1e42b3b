// The bare baseline of the server benchmark: `https.createServer` with the node's key and
// certificate, answering the storage requests the benchmark sends with fixed bodies of the same
// shapes, and doing nothing else (no database, no store, no fsync). The ratio of the node's
// figure to this one is what the node itself costs.

import { createCipheriv } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { encodeAllocateResponse, encodeWriteResponse } from '@ostrom/protocol';

/**
 * The share bytes both sides of the benchmark use: the same pseudo-random bytes in every process
 * (AES-CTR over zeros), so the baseline can serve what the load generator uploads to the node.
 */
export function shareData(bytes: number): Uint8Array {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16), Buffer.alloc(16));
  return new Uint8Array(Buffer.concat([cipher.update(Buffer.alloc(bytes)), cipher.final()]));
}

export interface BaselineOptions {
  readonly keyPem: string;
  readonly certPem: string;
  /** The node's GET version body, answered as is. */
  readonly versionBody: Uint8Array;
  /** Size of the share that ranged GETs read (from {@link shareData}). */
  readonly shareBytes: number;
}

export async function startBaseline(options: BaselineOptions) {
  const data = shareData(options.shareBytes);
  const allocateBody = encodeAllocateResponse({ alreadyHave: [], allocated: [0] });
  const writeBody = encodeWriteResponse({ required: [] });
  const reply = (res: ServerResponse, status: number, body?: Uint8Array, type?: string) => {
    res.statusCode = status;
    if (type) res.setHeader('Content-Type', type);
    if (status !== 204) res.setHeader('Content-Length', String(body?.length ?? 0));
    res.end(body && Buffer.from(body.buffer, body.byteOffset, body.length));
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      const url = req.url ?? '';
      if (req.method === 'GET' && url.endsWith('/version')) {
        return reply(res, 200, options.versionBody, 'application/cbor');
      }
      if (req.method === 'PUT') return reply(res, 204);
      if (req.method === 'POST') return reply(res, 200, allocateBody, 'application/cbor');
      if (req.method === 'PATCH') return reply(res, 201, writeBody, 'application/cbor');
      // A ranged share read: the bytes asked for.
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      const begin = m ? Number(m[1]) : 0;
      const end = Math.min(m ? Number(m[2]) + 1 : data.length, data.length);
      res.setHeader('Content-Range', `bytes ${begin}-${end - 1}/*`);
      reply(res, m ? 206 : 200, data.subarray(begin, end), 'application/octet-stream');
    });
  };
  const server = https.createServer(
    { key: options.keyPem, cert: options.certPem, keepAliveTimeout: 60_000 },
    handler,
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
