import tls from 'node:tls';
import type { ShareBackend } from '@ostrom/backend';
import {
  base32Encode,
  createSelfSignedCertificate,
  createStorageClient,
  deriveLeaseSecrets,
  deriveWriteEnabler,
  formatAuthorization,
  formatNurl,
  formatSecretHeaders,
  parseNurl,
  storageIndexFromBytes,
} from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import {
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
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// Each test names the fact of docs/TAHOE-COMPATIBILITY.md it pins.
describe('Tahoe compatibility facts (docs/TAHOE-COMPATIBILITY.md)', () => {
  it('fact 1: HTTP/1.1 over TLS with no ALPN and no SNI works', async () => {
    const t = await startServer();
    const auth = formatAuthorization(t.accountant.swissnumFor(0));
    const { head, alpn } = await new Promise<{ head: string; alpn: string | false }>(
      (resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: t.port, rejectUnauthorized: false });
        const chunks: Buffer[] = [];
        socket.on('secureConnect', () => {
          socket.write(
            `GET /storage/v1/version HTTP/1.1\r\nHost: 127.0.0.1:${t.port}\r\nAuthorization: ${auth}\r\nAccept: application/cbor\r\nConnection: close\r\n\r\n`,
          );
        });
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('error', reject);
        socket.on('end', () =>
          resolve({
            head: Buffer.concat(chunks).toString('latin1'),
            alpn: socket.alpnProtocol ?? false,
          }),
        );
      },
    );
    expect(alpn).toBe(false);
    expect(head.startsWith('HTTP/1.1 200')).toBe(true);
  });

  it('fact 2: only the SPKI pin counts; another key is refused before any request', async () => {
    const t = await startServer();
    expect((await t.client().getVersion()).availableSpace).toBeGreaterThan(0);
    const other = createSelfSignedCertificate();
    const parsed = parseNurl(t.nurl());
    const impostor = createStorageClient({ nurl: { ...parsed, spkiHash: other.spkiHash } });
    try {
      await expect(impostor.getVersion()).rejects.toMatchObject({ code: 'PIN_MISMATCH' });
    } finally {
      impostor.close();
    }
  });

  it('fact 3: /version answers from the cache while the store hangs, also with Connection: close', async () => {
    let hang = false;
    const t = await startServer({
      wrapBackend: (inner) =>
        Object.assign(Object.create(inner) as ShareBackend, {
          availableSpace: () =>
            hang ? new Promise<number>(() => undefined) : inner.availableSpace(),
        }),
    });
    const client = t.client();
    expect((await client.raw({ method: 'GET', path: '/storage/v1/version' })).status).toBe(200);
    hang = true;
    t.clock.advance(60);
    for (let i = 0; i < 5; i++) {
      const res = await client.raw({
        method: 'GET',
        path: '/storage/v1/version',
        headers: { connection: 'close' },
      });
      expect(res.status).toBe(200);
    }
  });

  it('fact 4: the version answer is exactly the bytes that worked', async () => {
    const t = await startServer({ applicationVersion: 'gbs-proto/0.0', availableBytes: 2 ** 40 });
    const res = await t.client().raw({ method: 'GET', path: '/storage/v1/version' });
    expect(hex(res.body)).toBe(
      'a2582f687474703a2f2f616c6c6d79646174612e6f72672f7461686f652f70726f746f636f6c732f73746f726167652f7631a3581c6d6178696d756d2d696d6d757461626c652d73686172652d73697a651b0000010000000000581a6d6178696d756d2d6d757461626c652d73686172652d73697a651b00f582a1a13410004f617661696c61626c652d73706163651b0000010000000000536170706c69636174696f6e2d76657273696f6e4d6762732d70726f746f2f302e30',
    );
  });

  it('facts 5 and 7: no records, tag 259 or tag 64; sets are tag 258 (exact allocate bytes)', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('f5');
    const s = secrets('f5');
    const list = await client.raw({ method: 'GET', path: `/storage/v1/immutable/${si}/shares` });
    expect(hex(list.body)).toBe('d9010280');
    const res = await client.raw({
      method: 'POST',
      path: `/storage/v1/immutable/${si}`,
      headers: { [SECRET]: secretHeaders(s, 'upload-secret'), 'Content-Type': 'application/cbor' },
      // {share-numbers: #6.258([0]), allocated-size: 1507}, as cbor2 writes it.
      body: Buffer.from(
        'a26d73686172652d6e756d62657273d90102810e6e616c6c6f63617465642d73697a651905e3'.replace(
          '810e',
          '8100',
        ),
        'hex',
      ),
    });
    expect(res.status).toBe(200);
    expect(hex(res.body)).toBe(
      'a26c616c72656164792d68617665d901028069616c6c6f6361746564d901028100',
    );
    const patch = await client.raw({
      method: 'PATCH',
      path: `/storage/v1/immutable/${si}/0`,
      headers: {
        [SECRET]: formatSecretHeaders({ 'upload-secret': s.uploadSecret }),
        'Content-Range': 'bytes 0-1506/*',
      },
      body: bytes(1507),
    });
    expect(patch.status).toBe(201);
    expect(hex(patch.body)).toBe('a168726571756972656480');
    const listed = await client.raw({ method: 'GET', path: `/storage/v1/immutable/${si}/shares` });
    expect(hex(listed.body)).toBe('d9010281' + '00');

    // The RTW reply of the reference: {success: true, data: {0: [h'616263']}}.
    const msi = storageIndex('f5m');
    await writeMutable(client, msi, s, Buffer.from('abc'), { read: [{ offset: 0, size: 3 }] });
    const raw = await client.raw({
      method: 'POST',
      path: `/storage/v1/mutable/${msi}/read-test-write`,
      headers: { [SECRET]: secretHeaders(s, 'write-enabler') },
      // {test-write-vectors: {}, read-vector: [{offset: 0, size: 3}]}
      body: Buffer.from(
        'a272746573742d77726974652d766563746f7273a06b726561642d766563746f7281a2666f6666736574006473697a6503',
        'hex',
      ),
    });
    expect(raw.status).toBe(200);
    expect(hex(raw.body)).toBe('a26773756363657373f56464617461a1008143616263');
  });

  it('fact 6: uint keys of RTW maps and uint64-encoded integers are decoded', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('f6');
    const s = secrets('f6');
    // allocated-size 1507 written as uint64 (1b 00000000000005e3), as cbor2 does for large values.
    const body = Buffer.from(
      'a26d73686172652d6e756d62657273d90102820001' +
        '6e616c6c6f63617465642d73697a651b00000000000005e3',
      'hex',
    );
    const res = await client.raw({
      method: 'POST',
      path: `/storage/v1/immutable/${si}`,
      headers: { [SECRET]: secretHeaders(s, 'upload-secret') },
      body,
    });
    expect(res.status).toBe(200);
    expect(hex(res.body)).toBe(
      'a26c616c72656164792d68617665d901028069616c6c6f6361746564d90102820001',
    );
  });

  it('fact 8: PATCH without Content-Type, reads with Accept: application/cbor and Range, repeated secret headers', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('f8');
    const s = secrets('f8');
    const alloc = await client.raw({
      method: 'POST',
      path: `/storage/v1/immutable/${si}`,
      // Three separate header lines, as the client sends them.
      headers: {
        [SECRET]: [
          `lease-renew-secret ${Buffer.from(s.renewSecret).toString('base64')}`,
          `lease-cancel-secret ${Buffer.from(s.cancelSecret).toString('base64')}`,
          `upload-secret ${Buffer.from(s.uploadSecret).toString('base64')}`,
        ],
        'Content-Type': 'application/cbor',
      },
      body: Buffer.from(
        'a26d73686172652d6e756d62657273d90102810' + '06e616c6c6f63617465642d73697a651864',
        'hex',
      ),
    });
    expect(alloc.status).toBe(200);
    const patch = await client.raw({
      method: 'PATCH',
      path: `/storage/v1/immutable/${si}/0`,
      headers: {
        [SECRET]: formatSecretHeaders({ 'upload-secret': s.uploadSecret }),
        'Content-Range': 'bytes 0-99/*',
      },
      body: bytes(100),
    });
    expect(patch.status).toBe(201);
    const read = await client.raw({
      method: 'GET',
      path: `/storage/v1/immutable/${si}/0`,
      headers: { accept: 'application/cbor', range: 'bytes=0-49', 'accept-encoding': 'gzip' },
    });
    expect(read.status).toBe(206);
    expect(read.headers['content-type']).toBe('application/octet-stream');
    expect(read.body).toEqual(bytes(100).subarray(0, 50));
  });

  it('fact 9: 206 clipped with bytes a-b/*, 204 at or past the end, 200 without Range', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('f9');
    const data = bytes(1507);
    await uploadShare(client, si, data);
    const get = (range?: string) =>
      client.raw({
        method: 'GET',
        path: `/storage/v1/immutable/${si}/0`,
        headers: range === undefined ? {} : { range },
      });
    const clipped = await get('bytes=1190-3237');
    expect(clipped.status).toBe(206);
    expect(clipped.headers['content-range']).toBe('bytes 1190-1506/*');
    expect(clipped.headers['content-length']).toBe('317');
    expect(clipped.body).toEqual(data.subarray(1190));
    for (const range of ['bytes=1507-2000', 'bytes=5000-6000']) {
      const empty = await get(range);
      expect(empty.status).toBe(204);
      expect(empty.body.length).toBe(0);
      expect(empty.headers['content-range']).toBeUndefined();
    }
    const whole = await get();
    expect(whole.status).toBe(200);
    expect(whole.body).toEqual(data);
  });

  it('fact 10: Trace A, with a 1,048,612-byte first chunk and re-upload', async () => {
    const t = await startServer();
    const client = t.client();
    const si = 'fyld2r7m5bwe7onrmfdoghopem';
    const s = secrets('traceA');
    expect(await client.immutable.listShares(si)).toEqual([]);
    expect(
      await client.immutable.allocate(si, { ...s, shareNumbers: [0], allocatedSize: 1507 }),
    ).toEqual({
      alreadyHave: [],
      allocated: [0],
    });
    const share = bytes(1507, 3);
    expect(
      await client.immutable.write(si, 0, { uploadSecret: s.uploadSecret, offset: 0, data: share }),
    ).toEqual({
      complete: true,
      required: [],
    });
    expect(await client.immutable.listShares(si)).toEqual([0]);
    const parts = [
      await client.immutable.read(si, 0, { offset: 0, length: 1060 }),
      await client.immutable.read(si, 0, { offset: 1060, length: 2048 }),
    ];
    expect(Buffer.concat(parts)).toEqual(Buffer.from(share));
    // Convergent re-upload: already-have {0}, allocated {}.
    expect(
      await client.immutable.allocate(si, {
        ...secrets('other'),
        shareNumbers: [0],
        allocatedSize: 1507,
      }),
    ).toEqual({ alreadyHave: [0], allocated: [] });

    // A 3 MiB share in the chunks a Tahoe client sends: 1,048,612, then 1 MiB, then the tail.
    const big = storageIndex('f10-big');
    const size = 3 * 1024 * 1024 + 1000;
    const data = bytes(size, 5);
    await client.immutable.allocate(big, { ...s, shareNumbers: [0], allocatedSize: size });
    let offset = 0;
    for (const length of [1_048_612, 1_048_576, 1_048_576]) {
      const r = await client.immutable.write(big, 0, {
        uploadSecret: s.uploadSecret,
        offset,
        data: data.subarray(offset, offset + length),
      });
      offset += length;
      expect(r).toEqual({ complete: false, required: [{ begin: offset, end: size }] });
    }
    expect(
      await client.immutable.write(big, 0, {
        uploadSecret: s.uploadSecret,
        offset,
        data: data.subarray(offset),
      }),
    ).toEqual({ complete: true, required: [] });
    // Buffer.equals: a deep toEqual over 3 MiB takes seconds.
    expect(Buffer.from(await client.immutable.read(big, 0)).equals(Buffer.from(data))).toBe(true);
  });

  it('fact 11: Trace B, a failed test is 200 with data for every share, a wrong write enabler 401', async () => {
    const t = await startServer();
    const client = t.client();
    const si = 'y7y4imx7dqphbdgbeypx6i4mmi';
    const s = secrets('traceB');
    const v1 = bytes(3907, 1);
    const read = [{ offset: 0, size: 57 }];
    const created = await writeMutable(client, si, s, v1, { test: [NO_SHARE_YET], read });
    expect(created).toEqual({ success: true, data: new Map() });
    expect(await client.mutable.listShares(si)).toEqual([0]);
    expect(await client.mutable.read(si, 0, { offset: 0, length: 4000 })).toEqual(v1);
    const v2 = bytes(4907, 2);
    // Compare-and-swap on the first 57 bytes (the checkstring).
    const test = [{ offset: 0, size: 57, specimen: v1.subarray(0, 57) }];
    const overwrite = await writeMutable(client, si, s, v2, { test, read });
    expect(overwrite).toEqual({ success: true, data: new Map([[0, [v1.subarray(0, 57)]]]) });
    expect(await client.mutable.read(si, 0)).toEqual(v2);
    // The same compare-and-swap again fails (the checkstring changed) but is still a 200.
    const stale = await writeMutable(client, si, s, v1, { test, read });
    expect(stale).toEqual({ success: false, data: new Map([[0, [v2.subarray(0, 57)]]]) });
    await expect(
      writeMutable(client, si, { ...s, writeEnabler: secrets('intruder').writeEnabler }, v1),
    ).rejects.toMatchObject({ code: 'HTTP_STATUS', status: 401 });
  });

  it('fact 12: lease renewal answers exactly 204; 404 when the index has no share', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('f12');
    await uploadShare(client, si, bytes(10));
    const s = secrets('f12');
    expect((await leaseRequest(client, si, s)).status).toBe(204);
    expect((await leaseRequest(client, storageIndex('f12-none'), s)).status).toBe(404);
  });

  it('fact 13: secrets derived from the tub id; same derivation renews and rewrites, another tub id gets 401', async () => {
    const t = await startServer();
    const client = t.client();
    const tubId = 'sjridoscmwnarh4fsiufg2eq76fqtlmz';
    const otherTub = base32Encode(new Uint8Array(20).fill(3));
    const clientLeaseSecret = new Uint8Array(32).fill(1);
    const writeKey = new Uint8Array(16).fill(2);
    const si = storageIndexFromBytes(new Uint8Array(16).fill(4));
    const lease = deriveLeaseSecrets({ clientLeaseSecret, storageIndex: si, tubId });
    const writeEnabler = deriveWriteEnabler({ writeKey, tubId });
    const rtw = (we: Uint8Array, data: Uint8Array) =>
      writeMutable(client, si, { ...lease, writeEnabler: we }, data);
    expect((await rtw(writeEnabler, bytes(100, 1))).success).toBe(true);
    // A second write by the same client re-derives the same write enabler.
    expect((await rtw(deriveWriteEnabler({ writeKey, tubId }), bytes(100, 2))).success).toBe(true);
    await expect(
      rtw(deriveWriteEnabler({ writeKey, tubId: otherTub }), bytes(100, 3)),
    ).rejects.toMatchObject({
      status: 401,
    });
    // The derived renew secret renews the one lease rather than adding another.
    await client.addOrRenewLease(
      si,
      deriveLeaseSecrets({ clientLeaseSecret, storageIndex: si, tubId }),
    );
    expect((await t.db.listLeases(si, 0)).length).toBe(1);
    // Ostrom keeps one lease per account (Tahoe would append a second lease here, fact 13).
    await client.addOrRenewLease(
      si,
      deriveLeaseSecrets({ clientLeaseSecret, storageIndex: si, tubId: otherTub }),
    );
    expect((await t.db.listLeases(si, 0)).length).toBe(1);
  });

  it('fact 14: maximum-immutable-share-size is the largest share accepted; mutables unaffected', async () => {
    const t = await startServer({ availableBytes: 100_000 });
    const client = t.client();
    const version = await client.getVersion();
    expect(version.maximumImmutableShareSize).toBe(100_000);
    const s = secrets('f14');
    expect(
      await client.immutable.allocate(storageIndex('f14a'), {
        ...s,
        shareNumbers: [0],
        allocatedSize: 100_001,
      }),
    ).toEqual({ alreadyHave: [], allocated: [] });
    const rtw = await writeMutable(client, storageIndex('f14m'), s, bytes(1000));
    expect(rtw.success).toBe(true);
    expect(
      await client.immutable.allocate(storageIndex('f14b'), {
        ...s,
        shareNumbers: [0],
        allocatedSize: 99_000,
      }),
    ).toEqual({ alreadyHave: [], allocated: [0] });
  });

  it('facts 15 and 16: one server takes all 4 shares of 2-of-4, patched in parallel over separate connections', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('f15');
    const s = secrets('f15');
    const size = 1063;
    expect(
      await client.immutable.allocate(si, {
        ...s,
        shareNumbers: [0, 1, 2, 3],
        allocatedSize: size,
      }),
    ).toEqual({
      alreadyHave: [],
      allocated: [0, 1, 2, 3],
    });
    const results = await Promise.all(
      [0, 1, 2, 3].map((shnum) =>
        client.immutable.write(si, shnum, {
          uploadSecret: s.uploadSecret,
          offset: 0,
          data: bytes(size, shnum),
        }),
      ),
    );
    expect(results.every((r) => r.complete)).toBe(true);
    expect(t.connections()).toBeGreaterThan(1);
    // Keep-alive: sequential requests reuse the pooled connections.
    const before = t.connections();
    for (let i = 0; i < 30; i++) await client.getVersion();
    expect(t.connections()).toBe(before);
  });

  it('fact 17: the status codes the client checks exactly', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('f17');
    const s = secrets('f17');
    const upload = { [SECRET]: formatSecretHeaders({ 'upload-secret': s.uploadSecret }) };
    await client.immutable.allocate(si, { ...s, shareNumbers: [0, 1], allocatedSize: 20 });
    const patch = (shnum: number, range: string, body: Uint8Array) =>
      client.raw({
        method: 'PATCH',
        path: `/storage/v1/immutable/${si}/${shnum}`,
        headers: { ...upload, 'Content-Range': range },
        body,
      });
    const p1 = await patch(0, 'bytes 0-9/*', bytes(10));
    expect([p1.status, p1.headers['content-type']]).toEqual([200, 'application/cbor']);
    expect((await patch(0, 'bytes 10-19/*', bytes(10).subarray(0, 10))).status).toBe(201);
    expect(
      (
        await client.raw({
          method: 'PUT',
          path: `/storage/v1/immutable/${si}/1/abort`,
          headers: upload,
        })
      ).status,
    ).toBe(200);
    const corrupt = await client.raw({
      method: 'POST',
      path: `/storage/v1/immutable/${si}/0/corrupt`,
      body: Buffer.from('a166726561736f6e63626164', 'hex'),
    });
    expect(corrupt.status).toBe(200);
    expect(
      (await client.raw({ method: 'GET', path: `/storage/v1/immutable/${si}/shares` })).status,
    ).toBe(200);
    expect(
      (await client.raw({ method: 'GET', path: `/storage/v1/immutable/${si}/0` })).status,
    ).toBe(200);
  });

  it('fact 18: the NURL carries pin, host, port and swissnum with #v=1; application-version is reported', async () => {
    const t = await startServer({ applicationVersion: 'ostrom/9.9' });
    const nurl = t.nurl();
    expect(nurl.endsWith('#v=1')).toBe(true);
    const parsed = parseNurl(nurl);
    expect(parsed.swissnum).toBe(t.accountant.swissnumFor(0));
    const client = createStorageClient({ nurl: formatNurl(parsed) });
    try {
      expect((await client.getVersion()).applicationVersion).toBe('ostrom/9.9');
    } finally {
      client.close();
    }
  });

  it('fact 19: a directory-like mutable rewrite cycle and add-lease all work as first tried', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('f19');
    const s = secrets('f19');
    let current: Uint8Array = new Uint8Array(0);
    for (let i = 1; i <= 3; i++) {
      const next = bytes(500 * i, i);
      const r = await writeMutable(client, si, s, next, {
        test: [{ offset: 0, size: current.length || 1, specimen: current }],
        read: [{ offset: 0, size: 57 }],
      });
      expect(r.success).toBe(true);
      current = next;
    }
    expect(await client.mutable.read(si, 0)).toEqual(current);
    await client.addOrRenewLease(si, s);
  });
});
