import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { freePort } from '@ostrom/test-fixtures';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateAccountKey, signAccountRequest } from '../src/account-request.js';
import { createSelfSignedCertificate } from '../src/certificate.js';
import {
  encodeAccountInfo,
  encodeAccountResponse,
  encodeAllocateRequest,
  encodeLeaseDurationResponse,
  encodeShareNumbers,
  encodeWriteResponse,
} from '../src/messages.js';
import { formatNurl } from '../src/nurl.js';
import { createStorageClient, type StorageClient } from '../src/storage-client.js';

// "fact N" in test names: the numbered facts of docs/TAHOE-COMPATIBILITY.md.

const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const code = (c: string) => expect.objectContaining({ code: c });

const SI = 'fyld2r7m5bwe7onrmfdoghopem';
const SWISSNUM = 'wppkyi6olstvdr5gotk5m7vy3cc5td3i';
const VERSION_HEX =
  'a2582f687474703a2f2f616c6c6d79646174612e6f72672f7461686f652f70726f746f636f6c732f73746f726167652f7631a3581c6d6178696d756d2d696d6d757461626c652d73686172652d73697a651b0000010000000000581a6d6178696d756d2d6d757461626c652d73686172652d73697a651b00f582a1a13410004f617661696c61626c652d73706163651b0000010000000000536170706c69636174696f6e2d76657273696f6e4d6762732d70726f746f2f302e30';

interface Recorded {
  method: string;
  url: string;
  rawHeaders: string[];
  body: Buffer;
}

type Reply = (req: IncomingMessage, res: ServerResponse) => void;

const cert = createSelfSignedCertificate({ commonName: 'gbs-proto' });
const otherCert = createSelfSignedCertificate();
let server: Server;
let port: number;
let recorded: Recorded[] = [];
let connections = 0;
let reply: Reply = (_req, res) => res.end();
const clients: StorageClient[] = [];

/** The values of a header as the client sent them, in order, case-insensitively. */
function headerValues(r: Recorded, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2) {
    if (r.rawHeaders[i]!.toLowerCase() === name.toLowerCase()) out.push(r.rawHeaders[i + 1]!);
  }
  return out;
}

function cborReply(status: number, hex: string | Uint8Array): Reply {
  return (_req, res) => {
    const body = typeof hex === 'string' ? unhex(hex) : hex;
    res.writeHead(status, { 'content-type': 'application/cbor', 'content-length': body.length });
    res.end(body);
  };
}

function client(options: { pin?: string; timeoutMs?: number; port?: number } = {}) {
  const c = createStorageClient({
    nurl: formatNurl({
      spkiHash: options.pin ?? cert.spkiHash,
      host: '127.0.0.1',
      port: options.port ?? port,
      swissnum: SWISSNUM,
    }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  server = createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      recorded.push({
        method: req.method ?? '',
        url: req.url ?? '',
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
      });
      reply(req, res);
    });
  });
  server.on('secureConnection', () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  recorded = [];
  connections = 0;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const renewSecret = new Uint8Array(32).fill(1);
const cancelSecret = new Uint8Array(32).fill(2);
const uploadSecret = new Uint8Array(20).fill(3);
const writeEnabler = new Uint8Array(32).fill(4);
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const AUTH = `Tahoe-LAFS ${Buffer.from(SWISSNUM).toString('base64')}`;

describe('StorageClient over real HTTPS', () => {
  it('getVersion() sends Authorization and Accept and decodes the fact-4 bytes', async () => {
    reply = cborReply(200, VERSION_HEX);
    const version = await client().getVersion();
    expect(version.applicationVersion).toBe('gbs-proto/0.0');
    expect(version.availableSpace).toBe(2 ** 40);
    const [r] = recorded;
    expect(r?.method).toBe('GET');
    expect(r?.url).toBe('/storage/v1/version');
    expect(headerValues(r!, 'authorization')).toEqual([AUTH]);
    expect(headerValues(r!, 'accept')).toEqual(['application/cbor']);
    expect(headerValues(r!, 'x-tahoe-authorization')).toEqual([]);
  });

  it('immutable.allocate() sends trace A: three repeated secrets, CBOR body, Content-Length', async () => {
    reply = cborReply(200, 'a26c616c72656164792d68617665d901028069616c6c6f6361746564d901028100');
    const result = await client().immutable.allocate(SI, {
      renewSecret,
      cancelSecret,
      uploadSecret,
      shareNumbers: [0],
      allocatedSize: 1507,
    });
    expect(result).toEqual({ alreadyHave: [], allocated: [0] });
    const r = recorded[0]!;
    expect(r.method).toBe('POST');
    expect(r.url).toBe(`/storage/v1/immutable/${SI}`);
    expect(headerValues(r, 'x-tahoe-authorization')).toEqual([
      `lease-renew-secret ${b64(renewSecret)}`,
      `lease-cancel-secret ${b64(cancelSecret)}`,
      `upload-secret ${b64(uploadSecret)}`,
    ]);
    expect(headerValues(r, 'content-type')).toEqual(['application/cbor']);
    expect(headerValues(r, 'content-length')).toEqual(['38']);
    expect(headerValues(r, 'transfer-encoding')).toEqual([]);
    expect(new Uint8Array(r.body)).toEqual(
      encodeAllocateRequest({ shareNumbers: [0], allocatedSize: 1507 }),
    );
  });

  it('immutable.write() PATCHes raw bytes with Content-Range and no Content-Type', async () => {
    reply = cborReply(201, 'a168726571756972656480');
    const data = new Uint8Array(1507).fill(9);
    const c = client();
    expect(await c.immutable.write(SI, 0, { uploadSecret, offset: 0, data })).toEqual({
      complete: true,
      required: [],
    });
    const r = recorded[0]!;
    expect(r.method).toBe('PATCH');
    expect(r.url).toBe(`/storage/v1/immutable/${SI}/0`);
    expect(headerValues(r, 'content-range')).toEqual(['bytes 0-1506/*']);
    expect(headerValues(r, 'content-type')).toEqual([]);
    expect(headerValues(r, 'content-length')).toEqual(['1507']);
    expect(headerValues(r, 'x-tahoe-authorization')).toEqual([
      `upload-secret ${b64(uploadSecret)}`,
    ]);
    expect(r.body.equals(Buffer.from(data))).toBe(true);

    reply = cborReply(200, encodeWriteResponse({ required: [{ begin: 100, end: 200 }] }));
    expect(
      await c.immutable.write(SI, 0, { uploadSecret, offset: 0, data: data.subarray(0, 100) }),
    ).toEqual({
      complete: false,
      required: [{ begin: 100, end: 200 }],
    });
    expect(headerValues(recorded[1]!, 'content-range')).toEqual(['bytes 0-99/*']);
  });

  it('immutable.read() sends Range and accepts 206 with a matching Content-Range', async () => {
    const share = new Uint8Array(1060).fill(5);
    reply = (_req, res) => {
      res.writeHead(206, {
        'content-type': 'application/octet-stream',
        'content-range': 'bytes 0-1059/*',
        'content-length': share.length,
      });
      res.end(share);
    };
    expect(await client().immutable.read(SI, 0, { offset: 0, length: 1060 })).toEqual(share);
    expect(headerValues(recorded[0]!, 'range')).toEqual(['bytes=0-1059']);
    expect(headerValues(recorded[0]!, 'accept')).toEqual(['application/cbor']);
  });

  it('read() of a clipped range returns fewer bytes; 204 returns none', async () => {
    reply = (_req, res) => {
      res.writeHead(206, {
        'content-type': 'application/octet-stream',
        'content-range': 'bytes 1190-1506/*',
      });
      res.end(Buffer.alloc(317, 1));
    };
    const c = client();
    expect((await c.mutable.read(SI, 0, { offset: 1190, length: 2048 })).length).toBe(317);
    expect(headerValues(recorded[0]!, 'range')).toEqual(['bytes=1190-3237']);
    reply = (_req, res) => {
      res.writeHead(204);
      res.end();
    };
    expect(await c.immutable.read(SI, 0, { offset: 5000, length: 10 })).toEqual(new Uint8Array(0));
  });

  it('read() without a range expects 200 with the whole share', async () => {
    reply = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.from('abc'));
    };
    expect(await client().immutable.read(SI, 1)).toEqual(new Uint8Array([97, 98, 99]));
    expect(headerValues(recorded[0]!, 'range')).toEqual([]);
  });

  it('read() refuses a wrong Content-Type, a length mismatch and a missing /total', async () => {
    const c = client();
    const cases: Reply[] = [
      (_req, res) => {
        res.writeHead(206, { 'content-type': 'application/cbor', 'content-range': 'bytes 0-2/*' });
        res.end(Buffer.from('abc'));
      },
      (_req, res) => {
        res.writeHead(206, {
          'content-type': 'application/octet-stream',
          'content-range': 'bytes 0-9/*',
        });
        res.end(Buffer.from('abc'));
      },
      (_req, res) => {
        res.writeHead(206, {
          'content-type': 'application/octet-stream',
          'content-range': 'bytes 0-2',
        });
        res.end(Buffer.from('abc'));
      },
    ];
    for (const r of cases) {
      reply = r;
      await expect(c.immutable.read(SI, 0, { offset: 0, length: 10 })).rejects.toThrow(
        code('BAD_RESPONSE'),
      );
    }
    reply = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.from('abc'));
    };
    await expect(c.immutable.read(SI, 0, { offset: 0, length: 3 })).rejects.toThrow(
      expect.objectContaining({ code: 'HTTP_STATUS', status: 200 }),
    );
  });

  it('addOrRenewLease() needs exactly 204 (fact 12)', async () => {
    const c = client();
    reply = (_req, res) => {
      res.writeHead(204);
      res.end();
    };
    await c.addOrRenewLease(SI, { renewSecret, cancelSecret });
    const r = recorded[0]!;
    expect(r.method).toBe('PUT');
    expect(r.url).toBe(`/storage/v1/lease/${SI}`);
    expect(headerValues(r, 'x-tahoe-authorization')).toHaveLength(2);
    reply = (_req, res) => res.end();
    await expect(c.addOrRenewLease(SI, { renewSecret, cancelSecret })).rejects.toThrow(
      expect.objectContaining({ code: 'HTTP_STATUS', status: 200 }),
    );
  });

  it('mutable.readTestWrite() sends trace B secrets and decodes data', async () => {
    reply = cborReply(200, 'a26773756363657373f56464617461a1008143616263');
    const result = await client().mutable.readTestWrite('y7y4imx7dqphbdgbeypx6i4mmi', {
      renewSecret,
      cancelSecret,
      writeEnabler,
      testWriteVectors: new Map([
        [
          0,
          {
            test: [{ offset: 0, size: 1, specimen: new Uint8Array(0) }],
            write: [{ offset: 0, data: new Uint8Array(3907) }],
            newLength: null,
          },
        ],
      ]),
      readVector: [{ offset: 0, size: 57 }],
    });
    expect(result.success).toBe(true);
    expect(result.data.get(0)).toEqual([new Uint8Array([0x61, 0x62, 0x63])]);
    const r = recorded[0]!;
    expect(r.url).toBe('/storage/v1/mutable/y7y4imx7dqphbdgbeypx6i4mmi/read-test-write');
    expect(headerValues(r, 'x-tahoe-authorization').map((v) => v.split(' ')[0])).toEqual([
      'lease-renew-secret',
      'lease-cancel-secret',
      'write-enabler',
    ]);
    expect(headerValues(r, 'content-type')).toEqual(['application/cbor']);
  });

  it('listShares(), abort() and adviseCorrupt() use the Tahoe paths', async () => {
    const c = client();
    reply = cborReply(200, encodeShareNumbers([0, 3]));
    expect(await c.immutable.listShares(SI)).toEqual([0, 3]);
    expect(await c.mutable.listShares(SI)).toEqual([0, 3]);
    reply = (_req, res) => res.end();
    await c.immutable.abort(SI, 2, uploadSecret);
    await c.immutable.adviseCorrupt(SI, 2, 'bad hash');
    expect(recorded.map((r) => `${r.method} ${r.url}`)).toEqual([
      `GET /storage/v1/immutable/${SI}/shares`,
      `GET /storage/v1/mutable/${SI}/shares`,
      `PUT /storage/v1/immutable/${SI}/2/abort`,
      `POST /storage/v1/immutable/${SI}/2/corrupt`,
    ]);
  });

  it('a CBOR answer with the wrong Content-Type or bad CBOR is BAD_RESPONSE', async () => {
    const c = client();
    reply = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    };
    await expect(c.getVersion()).rejects.toThrow(code('BAD_RESPONSE'));
    reply = cborReply(200, 'a1');
    await expect(c.getVersion()).rejects.toThrow(code('BAD_RESPONSE'));
  });

  it('an unexpected status is HTTP_STATUS with status and body', async () => {
    reply = (_req, res) => {
      res.writeHead(401);
      res.end('no');
    };
    await expect(client().getVersion()).rejects.toThrow(
      expect.objectContaining({ code: 'HTTP_STATUS', status: 401, body: 'no' }),
    );
  });

  it('accounting calls decode every answer', async () => {
    const c = client();
    const key = generateAccountKey();
    const signed = signAccountRequest(
      {
        serverId: 'v0-x',
        publicKey: key.publicKey,
        nickname: 'n',
        timestamp: 1,
        nonce: new Uint8Array(16),
      },
      key.privateKey,
    );
    reply = cborReply(202, encodeAccountResponse({ status: 'pending', retryAfterSeconds: 60 }));
    expect(await c.accounting.requestAccount(signed)).toEqual({
      status: 'pending',
      retryAfterSeconds: 60,
    });
    reply = cborReply(200, encodeAccountResponse({ status: 'pending', retryAfterSeconds: 60 }));
    await expect(c.accounting.requestAccount(signed)).rejects.toThrow(code('BAD_RESPONSE'));
    const info = {
      accountId: 7,
      nickname: 'n',
      status: 'active',
      shares: 3,
      bytes: 4096,
      hardQuotaBytes: null,
      softQuotaBytes: 1000,
      leaseDurationSeconds: 2678400,
    };
    reply = cborReply(200, encodeAccountInfo(info));
    expect(await c.accounting.getAccount()).toEqual(info);
    reply = cborReply(200, encodeLeaseDurationResponse({ leaseDurationSeconds: 86400 }));
    expect(await c.accounting.setLeaseDuration(10)).toBe(86400);
    expect(recorded.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /accounting/v1/account',
      'POST /accounting/v1/account',
      'GET /accounting/v1/account',
      'PUT /accounting/v1/lease-duration',
    ]);
  });

  it('raw() sends anything, and omits Authorization when it is null', async () => {
    reply = (_req, res) => {
      res.writeHead(415, { 'content-type': 'text/plain' });
      res.end('nope');
    };
    const response = await client().raw({
      method: 'POST',
      path: `/storage/v1/immutable/${SI}`,
      headers: {
        authorization: null,
        'Content-Type': 'text/plain',
        'X-Tahoe-Authorization': ['a b', 'c d'],
      },
      body: new Uint8Array([1, 2]),
    });
    expect(response.status).toBe(415);
    expect(Buffer.from(response.body).toString()).toBe('nope');
    const r = recorded[0]!;
    expect(headerValues(r, 'authorization')).toEqual([]);
    expect(headerValues(r, 'x-tahoe-authorization')).toEqual(['a b', 'c d']);
    expect(headerValues(r, 'content-length')).toEqual(['2']);
  });

  it('keep-alive reuses one TLS connection for sequential requests', async () => {
    reply = cborReply(200, VERSION_HEX);
    const c = client();
    for (let i = 0; i < 4; i++) await c.getVersion();
    expect(recorded).toHaveLength(4);
    expect(connections).toBe(1);
  });

  it('a server whose key is not the pinned one is PIN_MISMATCH and gets no request', async () => {
    reply = cborReply(200, VERSION_HEX);
    await expect(client({ pin: otherCert.spkiHash }).getVersion()).rejects.toThrow(
      code('PIN_MISMATCH'),
    );
    expect(recorded).toEqual([]);
  });

  it('a server that never answers is TIMEOUT after timeoutMs', async () => {
    reply = () => {};
    await expect(client({ timeoutMs: 200 }).getVersion()).rejects.toThrow(code('TIMEOUT'));
  });

  it('a refused connection is NETWORK', async () => {
    const closed = await freePort();
    await expect(client({ port: closed }).getVersion()).rejects.toThrow(code('NETWORK'));
  });

  it('misuse throws before sending', async () => {
    const c = client();
    await expect(c.immutable.listShares('BAD')).rejects.toThrow(TypeError);
    await expect(c.immutable.read(SI, 256)).rejects.toThrow(RangeError);
    await expect(
      c.immutable.write(SI, 0, { uploadSecret, offset: 0, data: new Uint8Array(0) }),
    ).rejects.toThrow(RangeError);
    expect(recorded).toEqual([]);
    expect(() => createStorageClient({ nurl: 'pb://x' })).toThrow(code('INVALID_NURL'));
  });
});
