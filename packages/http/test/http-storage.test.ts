import https from 'node:https';
import { BackendError, type ShareBackend } from '@ostrom/backend';
import {
  decodeAllocateResponse,
  decodeCbor,
  decodeReadTestWriteResponse,
  decodeShareNumbers,
  decodeVersion,
  decodeWriteResponse,
  encodeAllocateRequest,
  encodeCbor,
  encodeCorruptionAdvisory,
  encodeReadTestWriteRequest,
  formatAuthorization,
  formatSecretHeaders,
  type StorageClient,
} from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import {
  b64,
  bytes,
  leaseRequest,
  NO_SHARE_YET,
  secretHeaders,
  secrets,
  startServer,
  storageIndex,
  uploadShare,
  writeMutable,
} from './http-setup.js';

const SECRET = 'X-Tahoe-Authorization';

function allocateHeaders(seed: string | number) {
  return {
    [SECRET]: secretHeaders(secrets(seed), 'upload-secret'),
    'Content-Type': 'application/cbor',
  };
}

function rtwHeaders(seed: string | number) {
  return {
    [SECRET]: secretHeaders(secrets(seed), 'write-enabler'),
    'Content-Type': 'application/cbor',
  };
}

const rtwCreate = (data: Uint8Array) =>
  encodeReadTestWriteRequest({
    testWriteVectors: new Map([
      [
        0,
        {
          test: [NO_SHARE_YET],
          write: [{ offset: 0, data }],
          newLength: null,
        },
      ],
    ]),
    readVector: [{ offset: 0, size: 4 }],
  });

async function allocate(
  client: StorageClient,
  si: string,
  size: number,
  seed: string | number = si,
) {
  return await client.raw({
    method: 'POST',
    path: `/storage/v1/immutable/${si}`,
    headers: allocateHeaders(seed),
    body: encodeAllocateRequest({ shareNumbers: [0], allocatedSize: size }),
  });
}

describe('storage API endpoints: success paths', () => {
  it('GET /version answers 200 CBOR with the accountant figures', async () => {
    const t = await startServer({ applicationVersion: 'ostrom-test/1', availableBytes: 5_000_000 });
    const res = await t.client().raw({ method: 'GET', path: '/storage/v1/version' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/cbor');
    const version = decodeVersion(res.body);
    expect(version.availableSpace).toBe(5_000_000);
    expect(version.maximumImmutableShareSize).toBe(5_000_000);
    expect(version.applicationVersion).toBe('ostrom-test/1');
  });

  it('immutable allocate, write, list, read, corrupt and abort', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('imm');
    const s = secrets('imm');
    const data = bytes(3000);
    expect(await client.immutable.listShares(si)).toEqual([]);
    expect(
      await client.immutable.allocate(si, { ...s, shareNumbers: [0, 1], allocatedSize: 3000 }),
    ).toEqual({ alreadyHave: [], allocated: [0, 1] });
    const first = await client.immutable.write(si, 0, {
      uploadSecret: s.uploadSecret,
      offset: 0,
      data: data.subarray(0, 1000),
    });
    expect(first).toEqual({ complete: false, required: [{ begin: 1000, end: 3000 }] });
    const last = await client.immutable.write(si, 0, {
      uploadSecret: s.uploadSecret,
      offset: 1000,
      data: data.subarray(1000),
    });
    expect(last).toEqual({ complete: true, required: [] });
    expect(await client.immutable.listShares(si)).toEqual([0]);
    expect(await client.immutable.read(si, 0)).toEqual(data);
    expect(await client.immutable.read(si, 0, { offset: 10, length: 20 })).toEqual(
      data.subarray(10, 30),
    );
    await client.immutable.adviseCorrupt(si, 0, 'bad block hash');
    const events = await t.db.listEvents();
    expect(events.filter((e) => e.kind === 'share-corrupt').map((e) => e.shnum)).toEqual([0]);
    await client.immutable.abort(si, 1, s.uploadSecret);
    expect(
      await client.immutable.allocate(si, { ...s, shareNumbers: [1], allocatedSize: 3000 }),
    ).toEqual({ alreadyHave: [0], allocated: [1] });
  });

  it('PUT /lease/:si answers 204, and mutable read-test-write, list, read, corrupt', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('mut');
    const s = secrets('mut');
    const data = bytes(500);
    const created = await writeMutable(client, si, s, data, {
      shnum: 2,
      test: [NO_SHARE_YET],
      read: [{ offset: 0, size: 10 }],
    });
    expect(created.success).toBe(true);
    expect(created.data.size).toBe(0);
    expect(await client.mutable.listShares(si)).toEqual([2]);
    expect(await client.mutable.read(si, 2)).toEqual(data);
    expect(await client.mutable.read(si, 2, { offset: 100, length: 50 })).toEqual(
      data.subarray(100, 150),
    );
    await client.mutable.adviseCorrupt(si, 2, 'bad signature');
    await client.addOrRenewLease(si, s);
    const raw = await leaseRequest(client, si, s);
    expect(raw.status).toBe(204);
    expect(raw.body.length).toBe(0);
  });
});

describe('storage API: Tahoe status codes for malformed input', () => {
  it('404: storage indexes and share numbers that fail routing, unknown paths', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('route');
    const bad = [
      `/storage/v1/immutable/${si.toUpperCase()}/shares`,
      `/storage/v1/immutable/${si.slice(1)}/shares`,
      `/storage/v1/immutable/${si}a/shares`,
      // 26 base32 chars whose last one has non-zero padding bits.
      `/storage/v1/immutable/${si.slice(0, 25)}7/shares`,
      '/storage/v1/immutable/AAAAAAAAAAAAAAAA/shares',
      `/storage/v1/immutable/${si}/abc`,
      `/storage/v1/immutable/${si}/256`,
      `/storage/v1/immutable/${si}/-1`,
      `/storage/v1/mutable/${si}/1x`,
      '/storage/v1/nothing',
      '/storage/v2/version',
      '/storage/v1/version/',
      '/',
    ];
    for (const path of bad) {
      const res = await client.raw({ method: 'GET', path });
      expect(res.status, path).toBe(404);
    }
    // A valid share number of a share that does not exist.
    expect(
      (await client.raw({ method: 'GET', path: `/storage/v1/immutable/${si}/7` })).status,
    ).toBe(404);
    expect((await client.raw({ method: 'GET', path: `/storage/v1/mutable/${si}/7` })).status).toBe(
      404,
    );
    // A valid unknown storage index lists as an empty set (docs/TAHOE-COMPATIBILITY.md fact 51).
    const list = await client.raw({ method: 'GET', path: `/storage/v1/mutable/${si}/shares` });
    expect(list.status).toBe(200);
    expect(decodeShareNumbers(list.body)).toEqual([]);
  });

  it('405: a known path with another method, and abort of a complete share', async () => {
    const t = await startServer();
    const client = t.client();
    const res = await client.raw({ method: 'DELETE', path: '/storage/v1/version' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET');
    const si = storageIndex('405');
    await uploadShare(client, si, bytes(100));
    const abort = await client.raw({
      method: 'PUT',
      path: `/storage/v1/immutable/${si}/0/abort`,
      headers: { [SECRET]: formatSecretHeaders({ 'upload-secret': secrets(si).uploadSecret }) },
    });
    expect(abort.status).toBe(405);
  });

  it('401: missing, malformed or unknown Authorization; wrong upload secret; wrong write enabler', async () => {
    const t = await startServer();
    const client = t.client();
    const path = '/storage/v1/version';
    for (const authorization of [
      null,
      'Tahoe-LAFS',
      'Tahoe-LAFS ',
      'Basic abc',
      `Tahoe-LAFS  ${b64(Buffer.from(t.accountant.swissnumFor(0)))}`,
      `tahoe-lafs ${b64(Buffer.from(t.accountant.swissnumFor(0)))}`,
      formatAuthorization('abcdefghijklmnopqrstuvwxyz234567'),
      formatAuthorization(`${t.accountant.swissnumFor(0)}x`),
    ]) {
      const res = await client.raw({ method: 'GET', path, headers: { authorization } });
      expect(res.status, String(authorization)).toBe(401);
    }
    expect((await t.clientWithSwissnum('nope').raw({ method: 'GET', path })).status).toBe(401);

    const si = storageIndex('401');
    expect((await allocate(client, si, 100)).status).toBe(200);
    const wrongUpload = await client.raw({
      method: 'PATCH',
      path: `/storage/v1/immutable/${si}/0`,
      headers: {
        [SECRET]: formatSecretHeaders({ 'upload-secret': secrets('other').uploadSecret }),
        'Content-Range': 'bytes 0-9/*',
      },
      body: bytes(10),
    });
    expect(wrongUpload.status).toBe(401);
    const abortWrong = await client.raw({
      method: 'PUT',
      path: `/storage/v1/immutable/${si}/0/abort`,
      headers: {
        [SECRET]: formatSecretHeaders({ 'upload-secret': secrets('other').uploadSecret }),
      },
    });
    expect(abortWrong.status).toBe(401);

    const msi = storageIndex('401m');
    const created = await client.raw({
      method: 'POST',
      path: `/storage/v1/mutable/${msi}/read-test-write`,
      headers: rtwHeaders('a'),
      body: rtwCreate(bytes(10)),
    });
    expect(created.status).toBe(200);
    const wrongWe = await client.raw({
      method: 'POST',
      path: `/storage/v1/mutable/${msi}/read-test-write`,
      headers: rtwHeaders('b'),
      body: rtwCreate(bytes(10)),
    });
    expect(wrongWe.status).toBe(401);
  });

  it('400: non-UTF-8 Authorization, and missing, extra or malformed secrets', async () => {
    const t = await startServer();
    const client = t.client();
    const nonUtf8 = await client.raw({
      method: 'GET',
      path: '/storage/v1/version',
      headers: { authorization: 'Tahoe-LAFS \xff\xfe' },
    });
    expect(nonUtf8.status).toBe(400);

    const si = storageIndex('400');
    const s = secrets('400');
    const body = encodeAllocateRequest({ shareNumbers: [0], allocatedSize: 10 });
    const cases: (string[] | string)[] = [
      [],
      // Missing the upload secret.
      secretHeaders(s),
      // An extra write enabler.
      formatSecretHeaders({
        'lease-renew-secret': s.renewSecret,
        'lease-cancel-secret': s.cancelSecret,
        'upload-secret': s.uploadSecret,
        'write-enabler': s.writeEnabler,
      }),
      // A lease secret that is not 32 bytes.
      [
        `lease-renew-secret ${b64(s.renewSecret.subarray(0, 31))}`,
        `lease-cancel-secret ${b64(s.cancelSecret)}`,
        `upload-secret ${b64(s.uploadSecret)}`,
      ],
      // Unknown kind, bad base64, no value.
      [
        `lease-renew-secret ${b64(s.renewSecret)}`,
        `lease-cancel-secret ${b64(s.cancelSecret)}`,
        'upload-key abc=',
      ],
      [
        `lease-renew-secret ${b64(s.renewSecret)}`,
        `lease-cancel-secret ${b64(s.cancelSecret)}`,
        'upload-secret !!!',
      ],
      [
        `lease-renew-secret ${b64(s.renewSecret)}`,
        `lease-cancel-secret ${b64(s.cancelSecret)}`,
        'upload-secret',
      ],
    ];
    for (const secretHeaders of cases) {
      const res = await client.raw({
        method: 'POST',
        path: `/storage/v1/immutable/${si}`,
        headers: { [SECRET]: secretHeaders, 'Content-Type': 'application/cbor' },
        body,
      });
      expect(res.status, JSON.stringify(secretHeaders)).toBe(400);
    }
    // Any secret sent to a route that takes none (exact-set rule).
    const extra = await client.raw({
      method: 'GET',
      path: '/storage/v1/version',
      headers: { [SECRET]: `upload-secret ${b64(s.uploadSecret)}` },
    });
    expect(extra.status).toBe(400);
    // The lease route takes exactly the two lease secrets: none, one, or an extra one is a 400.
    for (const variant of [
      null,
      [`lease-renew-secret ${b64(s.renewSecret)}`],
      secretHeaders(s, 'upload-secret'),
    ]) {
      const res = await leaseRequest(client, si, s, { secretHeaders: variant });
      expect(res.status, JSON.stringify(variant)).toBe(400);
    }
  });

  it('400: CBOR bodies that are malformed or of the wrong shape', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('cddl');
    const bodies = [
      new Uint8Array([0xff]),
      new Uint8Array(0),
      encodeCbor({ 'share-numbers': [0], 'allocated-size': 10 }),
      encodeCbor({ 'share-numbers': new Set([0]), 'allocated-size': -1 }),
      encodeCbor({ 'share-numbers': new Set([0]), 'allocated-size': 10, extra: 1 }),
      encodeCbor({ 'share-numbers': new Set([300]), 'allocated-size': 10 }),
      encodeCbor([1, 2, 3]),
    ];
    for (const body of bodies) {
      const res = await client.raw({
        method: 'POST',
        path: `/storage/v1/immutable/${si}`,
        headers: allocateHeaders('cddl'),
        body,
      });
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    }
    const badRtw = await client.raw({
      method: 'POST',
      path: `/storage/v1/mutable/${si}/read-test-write`,
      headers: rtwHeaders('cddl'),
      body: encodeCbor({ 'test-write-vectors': {}, 'read-vector': 'x' }),
    });
    expect(badRtw.status).toBe(400);
    const badAdvice = await client.raw({
      method: 'POST',
      path: `/storage/v1/immutable/${si}/0/corrupt`,
      body: encodeCbor({ reason: 5 }),
    });
    expect(badAdvice.status).toBe(400);
  });

  it('406: Accept without CBOR on CBOR-answering routes only', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('406');
    await uploadShare(client, si, bytes(100));
    for (const accept of ['text/html', '*/*', 'application/json, application/cbor;q=0.5', '']) {
      const res = await client.raw({
        method: 'GET',
        path: '/storage/v1/version',
        headers: { accept },
      });
      expect(res.status, accept).toBe(406);
      const list = await client.raw({
        method: 'GET',
        path: `/storage/v1/immutable/${si}/shares`,
        headers: { accept },
      });
      expect(list.status, accept).toBe(406);
      // Share reads ignore Accept (docs/TAHOE-COMPATIBILITY.md fact 8).
      const read = await client.raw({
        method: 'GET',
        path: `/storage/v1/immutable/${si}/0`,
        headers: { accept, range: 'bytes=0-9' },
      });
      expect(read.status, accept).toBe(206);
    }
    for (const accept of [
      null,
      'application/cbor',
      '*/*, application/cbor',
      'application/cbor; q=0.9',
    ]) {
      const res = await client.raw({
        method: 'GET',
        path: '/storage/v1/version',
        headers: { accept },
      });
      expect(res.status, String(accept)).toBe(200);
    }
  });

  it('415: a non-CBOR Content-Type; a missing one counts as CBOR', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('415');
    const body = encodeAllocateRequest({ shareNumbers: [0], allocatedSize: 10 });
    const json = await client.raw({
      method: 'POST',
      path: `/storage/v1/immutable/${si}`,
      headers: { ...allocateHeaders('415'), 'Content-Type': 'application/json' },
      body,
    });
    expect(json.status).toBe(415);
    const none = await client.raw({
      method: 'POST',
      path: `/storage/v1/immutable/${si}`,
      headers: { [SECRET]: allocateHeaders('415')[SECRET] },
      body,
    });
    expect(none.status).toBe(200);
    const withParams = await client.raw({
      method: 'POST',
      path: `/storage/v1/immutable/${storageIndex('415b')}`,
      headers: { ...allocateHeaders('415'), 'Content-Type': 'Application/CBOR; charset=x' },
      body,
    });
    expect(withParams.status).toBe(200);
  });

  it('413: bodies over the caps, by Content-Length and by counting a chunked body', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('413');
    const big = await client.raw({
      method: 'POST',
      path: `/storage/v1/immutable/${si}`,
      headers: allocateHeaders('413'),
      body: new Uint8Array(8193),
    });
    expect(big.status).toBe(413);
    const advice = await client.raw({
      method: 'POST',
      path: `/storage/v1/immutable/${si}/0/corrupt`,
      body: new Uint8Array(32769),
    });
    expect(advice.status).toBe(413);
    // A Content-Length alone over the cap is refused before any byte is read.
    const claimed = await client.raw({
      method: 'POST',
      path: `/storage/v1/immutable/${si}`,
      headers: { ...allocateHeaders('413'), 'Content-Length': 10_000_000 },
      body: new Uint8Array(10),
    });
    expect(claimed.status).toBe(413);

    // Chunked: no Content-Length, so the server counts bytes as they arrive.
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: t.port,
          method: 'POST',
          path: `/storage/v1/immutable/${si}`,
          rejectUnauthorized: false,
          headers: {
            authorization: formatAuthorization(t.accountant.swissnumFor(0)),
            [SECRET]: allocateHeaders('413')[SECRET],
            'transfer-encoding': 'chunked',
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.write(new Uint8Array(5000));
      req.write(new Uint8Array(5000));
      req.end();
    });
    expect(status).toBe(413);
  });

  it('416: bad Range on reads, missing or bad Content-Range on PATCH, a chunk past the allocation', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('416');
    await uploadShare(client, si, bytes(100));
    for (const range of [
      'bytes=0-1,5-6',
      'bytes=5-',
      'bytes=-5',
      'items=0-5',
      'bytes=9-3',
      'junk',
    ]) {
      const res = await client.raw({
        method: 'GET',
        path: `/storage/v1/immutable/${si}/0`,
        headers: { range },
      });
      expect(res.status, range).toBe(416);
    }
    // Refused, none of them is a read in the account's traffic (the upload is its only entry).
    await t.accountant.flushTraffic();
    expect(await t.db.getTraffic({ accountId: 0, from: 0, to: t.clock.now() + 3600 })).toEqual([
      expect.objectContaining({ uploads: 1, reads: 0, bytesOut: 0 }),
    ]);
    // An immutable share that does not exist is a 404 even with a bad Range (Tahoe looks it up first).
    expect(
      (
        await client.raw({
          method: 'GET',
          path: `/storage/v1/immutable/${si}/9`,
          headers: { range: 'bytes=5-' },
        })
      ).status,
    ).toBe(404);
    expect(
      (
        await client.raw({
          method: 'GET',
          path: `/storage/v1/mutable/${si}/9`,
          headers: { range: 'bytes=5-' },
        })
      ).status,
    ).toBe(416);

    const up = storageIndex('416up');
    expect((await allocate(client, up, 100)).status).toBe(200);
    const upload = { [SECRET]: formatSecretHeaders({ 'upload-secret': secrets(up).uploadSecret }) };
    for (const contentRange of [
      undefined,
      'bytes 0-9',
      'items 0-9/*',
      'bytes 9-0/*',
      'bytes 0-9/5',
    ]) {
      const res = await client.raw({
        method: 'PATCH',
        path: `/storage/v1/immutable/${up}/0`,
        headers: contentRange === undefined ? upload : { ...upload, 'Content-Range': contentRange },
        body: bytes(10),
      });
      expect(res.status, String(contentRange)).toBe(416);
    }
    const past = await client.raw({
      method: 'PATCH',
      path: `/storage/v1/immutable/${up}/0`,
      headers: { ...upload, 'Content-Range': 'bytes 95-104/*' },
      body: bytes(10),
    });
    expect(past.status).toBe(416);
    // A body that disagrees with its Content-Range is malformed.
    const short = await client.raw({
      method: 'PATCH',
      path: `/storage/v1/immutable/${up}/0`,
      headers: { ...upload, 'Content-Range': 'bytes 0-19/*' },
      body: bytes(10),
    });
    expect(short.status).toBe(400);
  });

  it('409: a chunk overlapping written bytes with different bytes', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('409');
    expect((await allocate(client, si, 100)).status).toBe(200);
    const upload = { [SECRET]: formatSecretHeaders({ 'upload-secret': secrets(si).uploadSecret }) };
    const patch = (range: string, body: Uint8Array) =>
      client.raw({
        method: 'PATCH',
        path: `/storage/v1/immutable/${si}/0`,
        headers: { ...upload, 'Content-Range': range },
        body,
      });
    expect((await patch('bytes 0-9/*', bytes(10, 1))).status).toBe(200);
    // The same bytes again are fine (Tahoe's overlap rule).
    const same = await patch('bytes 0-9/*', bytes(10, 1));
    expect(same.status).toBe(200);
    expect(decodeWriteResponse(same.body).required).toEqual([{ begin: 10, end: 100 }]);
    expect((await patch('bytes 5-14/*', bytes(10, 2))).status).toBe(409);
  });

  it('404 on PATCH or abort without an upload, corrupt or lease without a share', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('no-upload');
    const upload = { [SECRET]: formatSecretHeaders({ 'upload-secret': secrets(si).uploadSecret }) };
    const patch = await client.raw({
      method: 'PATCH',
      path: `/storage/v1/immutable/${si}/0`,
      headers: { ...upload, 'Content-Range': 'bytes 0-9/*' },
      body: bytes(10),
    });
    expect(patch.status).toBe(404);
    const abort = await client.raw({
      method: 'PUT',
      path: `/storage/v1/immutable/${si}/0/abort`,
      headers: upload,
    });
    expect(abort.status).toBe(404);
    for (const kind of ['immutable', 'mutable']) {
      const corrupt = await client.raw({
        method: 'POST',
        path: `/storage/v1/${kind}/${si}/0/corrupt`,
        headers: { 'Content-Type': 'application/cbor' },
        body: encodeCorruptionAdvisory({ reason: 'x' }),
      });
      expect(corrupt.status).toBe(404);
    }
    const lease = await leaseRequest(client, si, secrets(si));
    expect(lease.status).toBe(404);
  });

  it('503 when the backend fails, logged as a warning and never a 500', async () => {
    let failing = false;
    const t = await startServer({
      wrapBackend: (inner) =>
        Object.assign(Object.create(inner) as ShareBackend, {
          listShares: async (si: string) => {
            if (failing) throw new BackendError('UNAVAILABLE', 'disk on fire');
            return await inner.listShares(si);
          },
        }),
    });
    const client = t.client();
    failing = true;
    const res = await client.raw({
      method: 'POST',
      path: `/storage/v1/immutable/${storageIndex('503')}`,
      headers: allocateHeaders('503'),
      body: encodeAllocateRequest({ shareNumbers: [0], allocatedSize: 10 }),
    });
    expect(res.status).toBe(503);
    expect(t.logged.filter((l) => l.level === 'error')).toEqual([]);
    expect(t.logged.some((l) => l.level === 'warn')).toBe(true);
  });

  it('answers each error with a short plain-text reason', async () => {
    const t = await startServer();
    const res = await t.client().raw({ method: 'GET', path: '/storage/v1/nothing' });
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.body.length).toBeGreaterThan(0);
    expect(res.body.length).toBeLessThan(200);
  });
});

describe('storage API: CBOR answers decode with the protocol decoders', () => {
  it('allocate and read-test-write answers', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('dec');
    const res = await allocate(client, si, 10);
    expect(decodeAllocateResponse(res.body)).toEqual({ alreadyHave: [], allocated: [0] });
    const rtw = await client.raw({
      method: 'POST',
      path: `/storage/v1/mutable/${storageIndex('dec-m')}/read-test-write`,
      headers: rtwHeaders('dec'),
      body: rtwCreate(bytes(10)),
    });
    expect(rtw.status).toBe(200);
    expect(decodeReadTestWriteResponse(rtw.body).success).toBe(true);
    expect(decodeCbor(rtw.body)).toBeInstanceOf(Map);
  });
});
