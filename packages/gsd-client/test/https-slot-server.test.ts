// connectSlotServer() over real HTTPS, against a small storage server written here from Tahoe's
// HTTP storage protocol (read-test-write, mutable reads, leases), so the package is tested on the
// wire without depending on apps/server. apps/server's own suite runs it against real nodes.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  createSelfSignedCertificate,
  decodeReadTestWriteRequest,
  encodeReadTestWriteResponse,
  encodeVersion,
  formatNurl,
  parseAuthorization,
  parseRangeHeader,
  parseSecretHeaders,
  planRead,
} from '@ostrom/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectSlotServer,
  createWriteCap,
  DirectoryWriter,
  deriveSlotSecrets,
  formatIntroduction,
  GsdClient,
  parseWriteCap,
  publishAnnouncement,
  publishDocument,
  readCapOf,
  readDocument,
  renewDocumentLeases,
  type SlotServer,
} from '../src/index.js';
import { announcementFor } from './helpers.js';

interface Share {
  data: Buffer;
  writeEnabler: Buffer;
}

interface TestNode {
  nurl: string;
  /** A NURL with the right address but another key's pin. */
  wrongPinNurl: string;
  shares: Map<string, Share>; // `${si}/${shnum}`
  leases: Map<string, Set<string>>; // si → renew secrets (hex)
  server: Server;
}

async function startNode(): Promise<TestNode> {
  const cert = createSelfSignedCertificate();
  const swissnum = 'swissnumfortestsonly';
  const shares = new Map<string, Share>();
  const leases = new Map<string, Set<string>>();
  const server = createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        handle();
      } catch {
        res.writeHead(400);
        res.end();
      }
    });
    const handle = () => {
      const body = Buffer.concat(chunks);
      const send = (status: number, type?: string, payload?: Uint8Array) => {
        if (type !== undefined) res.setHeader('Content-Type', type);
        res.writeHead(status);
        res.end(payload === undefined ? undefined : Buffer.from(payload));
      };
      if (parseAuthorization(req.headers.authorization) !== swissnum) return send(401);
      const url = req.url ?? '';
      // Repeated headers, one value each (req.headers would join them with commas).
      const secrets = () => req.headersDistinct['x-tahoe-authorization'] ?? [];
      const read = /^\/storage\/v1\/mutable\/([a-z2-7]{26})\/(\d+)$/.exec(url);
      const rtw = /^\/storage\/v1\/mutable\/([a-z2-7]{26})\/read-test-write$/.exec(url);
      const lease = /^\/storage\/v1\/lease\/([a-z2-7]{26})$/.exec(url);
      if (req.method === 'GET' && url === '/storage/v1/version') {
        return send(
          200,
          'application/cbor',
          encodeVersion({
            maximumImmutableShareSize: 2 ** 40,
            maximumMutableShareSize: 2 ** 40,
            availableSpace: 2 ** 30,
            applicationVersion: 'test-node',
          }),
        );
      }
      if (req.method === 'GET' && read) {
        const share = shares.get(`${read[1]}/${read[2]}`);
        if (share === undefined) return send(404);
        const range = req.headers.range;
        const plan = planRead(
          range === undefined ? undefined : parseRangeHeader(range),
          share.data.length,
        );
        if (plan.contentRange !== undefined) res.setHeader('Content-Range', plan.contentRange);
        if (plan.status === 204) return send(204);
        return send(
          plan.status,
          'application/octet-stream',
          share.data.subarray(plan.begin, plan.end),
        );
      }
      if (req.method === 'POST' && rtw) {
        const si = rtw[1]!;
        const s = parseSecretHeaders(secrets(), [
          'lease-renew-secret',
          'lease-cancel-secret',
          'write-enabler',
        ]);
        const request = decodeReadTestWriteRequest(new Uint8Array(body));
        // Tahoe (storage/server.py): the write enabler of every existing share must match.
        for (const [key, share] of shares) {
          if (
            key.startsWith(`${si}/`) &&
            !share.writeEnabler.equals(Buffer.from(s['write-enabler']))
          ) {
            return send(401);
          }
        }
        let success = true;
        for (const [shnum, v] of request.testWriteVectors) {
          const data = shares.get(`${si}/${shnum}`)?.data ?? Buffer.alloc(0); // missing: empty
          for (const t of v.test) {
            if (!data.subarray(t.offset, t.offset + t.size).equals(Buffer.from(t.specimen))) {
              success = false;
            }
          }
        }
        if (success) {
          for (const [shnum, v] of request.testWriteVectors) {
            let data = shares.get(`${si}/${shnum}`)?.data ?? Buffer.alloc(0);
            for (const w of v.write) {
              const end = w.offset + w.data.length;
              if (end > data.length) data = Buffer.concat([data, Buffer.alloc(end - data.length)]);
              Buffer.from(w.data).copy(data, w.offset);
            }
            if (v.newLength !== null && v.newLength < data.length)
              data = data.subarray(0, v.newLength);
            shares.set(`${si}/${shnum}`, {
              data: Buffer.from(data),
              writeEnabler: Buffer.from(s['write-enabler']),
            });
          }
          const set = leases.get(si) ?? new Set<string>();
          set.add(Buffer.from(s['lease-renew-secret']).toString('hex'));
          leases.set(si, set);
        }
        return send(
          200,
          'application/cbor',
          encodeReadTestWriteResponse({ success, data: new Map() }),
        );
      }
      if (req.method === 'PUT' && lease) {
        const s = parseSecretHeaders(secrets(), ['lease-renew-secret', 'lease-cancel-secret']);
        const set = leases.get(lease[1]!);
        if (set === undefined) return send(404);
        set.add(Buffer.from(s['lease-renew-secret']).toString('hex'));
        return send(204);
      }
      send(404);
    };
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const nurl = formatNurl({ spkiHash: cert.spkiHash, host: '127.0.0.1', port, swissnum });
  const other = createSelfSignedCertificate();
  const wrongPinNurl = formatNurl({ spkiHash: other.spkiHash, host: '127.0.0.1', port, swissnum });
  return { nurl, wrongPinNurl, shares, leases, server };
}

describe('connectSlotServer() over HTTPS', () => {
  let nodes: TestNode[] = [];
  let servers: SlotServer[] = [];

  beforeAll(async () => {
    nodes = await Promise.all([startNode(), startNode()]);
    servers = nodes.map((n) => connectSlotServer(n.nurl, { timeoutMs: 5000 }));
  });

  afterAll(async () => {
    for (const s of servers) s.close();
    await Promise.all(nodes.map((n) => new Promise((r) => n.server.close(r))));
  });

  it('reads nothing from a fresh slot, then publishes and reads documents', async () => {
    const writecap = createWriteCap();
    const { storageIndex, readcap } = parseWriteCap(writecap);
    expect(await servers[0]!.read(storageIndex)).toBeUndefined();
    expect(await servers[0]!.reachable()).toBe(true);
    const first = await publishDocument(servers, writecap, 'directory', { announcements: [] });
    expect(first.written).toEqual(nodes.map((n) => n.nurl));
    const second = await publishDocument(servers, writecap, 'directory', {
      announcements: [{ readcap: readCapOf(createWriteCap()), petname: 'x' }],
    });
    expect(second.seqnum).toBe(2);
    const read = await readDocument(servers, readcap, 'directory');
    expect(read.document?.seqnum).toBe(2);
    expect(read.problems).toEqual([]);
  });

  it('a stale header is a conflict (the test vector fails on the server)', async () => {
    const writecap = createWriteCap();
    const { storageIndex, seed } = parseWriteCap(writecap);
    await publishDocument(servers, writecap, 'directory', { announcements: [] });
    const ok = await servers[0]!.testAndWrite(
      storageIndex,
      new Uint8Array(16),
      new Uint8Array(32),
      deriveSlotSecrets(seed, servers[0]!.serverId),
    );
    expect(ok).toBe(false);
  });

  it('another write enabler is refused by the server: reported as failed', async () => {
    const writecap = createWriteCap();
    const { storageIndex } = parseWriteCap(writecap);
    await publishDocument(servers, writecap, 'directory', { announcements: [] });
    // Someone else's enabler on the same slot: the server answers 401.
    const node = nodes[0]!;
    const share = node.shares.get(`${storageIndex}/0`)!;
    share.writeEnabler = Buffer.alloc(32, 7);
    const result = await publishDocument(servers, writecap, 'directory', { announcements: [] });
    expect(result.written).toEqual([nodes[1]!.nurl]);
    expect(result.failed.map((f) => f.nurl)).toEqual([node.nurl]);
  });

  it('renewDocumentLeases() renews through PUT /storage/v1/lease', async () => {
    const writecap = createWriteCap();
    const { storageIndex } = parseWriteCap(writecap);
    const missing = await renewDocumentLeases(servers, writecap);
    expect(missing.failed).toHaveLength(2);
    await publishDocument(servers, writecap, 'directory', { announcements: [] });
    const renewed = await renewDocumentLeases(servers, writecap);
    expect(renewed.renewed).toEqual(nodes.map((n) => n.nurl));
    expect(nodes[0]!.leases.get(storageIndex)?.size).toBe(1);
  });

  it('a NURL pinned to another key is never trusted', async () => {
    const impostor = connectSlotServer(nodes[0]!.wrongPinNurl, { timeoutMs: 5000 });
    try {
      expect(await impostor.reachable()).toBe(false);
      await expect(impostor.read(parseWriteCap(createWriteCap()).storageIndex)).rejects.toThrow();
    } finally {
      impostor.close();
    }
  });

  it('GsdClient joins over HTTPS with its default connect', async () => {
    const directory = createWriteCap();
    await new DirectoryWriter(directory, () => servers).create();
    const gsa = createWriteCap();
    await publishAnnouncement(servers, gsa, announcementFor([nodes[1]!.nurl], { nickname: 'n1' }));
    await new DirectoryWriter(directory, () => servers).addAnnouncement(readCapOf(gsa), 'n1');
    const client = new GsdClient({
      introduction: formatIntroduction(readCapOf(directory), [nodes[0]!.nurl]),
    });
    try {
      const change = await client.refresh();
      expect(change.added.map((s) => [s.petname, s.reachable])).toEqual([['n1', true]]);
    } finally {
      await client.stop();
    }
  });
});
