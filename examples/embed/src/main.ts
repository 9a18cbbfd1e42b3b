// A storage node embedded in an application, as a developer builds it from Ostrom's published
// packages: an accountant on SQLite and the disk, served over HTTPS by @ostrom/http's storage
// server and handler, and a StorageClient that uploads an immutable share through it and reads
// it back.
// Exits 0 with one line on success; any failure rejects the top-level await, so Node exits 1.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Accountant } from '@ostrom/accountant';
import { createDiskBackend } from '@ostrom/backend-disk';
import { createStorageHandler, createStorageServer } from '@ostrom/http';
import { openLeaseDb } from '@ostrom/leasedb';
import {
  createSelfSignedCertificate,
  createStorageClient,
  formatNurl,
  type StorageClient,
  storageIndexFromBytes,
} from '@ostrom/protocol';

// The node directory: a real application keeps it (and the certificate and the secret) across
// restarts; this one is thrown away when the program ends.
const nodeDir = await mkdtemp(join(tmpdir(), 'ostrom-embed-node-'));
try {
  const certificate = createSelfSignedCertificate();
  const leaseDb = await openLeaseDb({ dialect: 'sqlite', path: join(nodeDir, 'leasedb.sqlite') });
  const backend = await createDiskBackend({ root: join(nodeDir, 'storage') });
  const accountant = new Accountant({
    leaseDb,
    backend,
    serverSecret: randomBytes(32),
    serverId: certificate.spkiHash,
  });

  let port = 0;
  const nurlFor = (accountId: number): string =>
    formatNurl({
      spkiHash: certificate.spkiHash,
      host: '127.0.0.1',
      port,
      swissnum: accountant.swissnumFor(accountId),
    });
  // HTTPS as Tahoe-LAFS clients expect it: their keep-alive, bounded connections, a draining close.
  const server = createStorageServer({
    tls: certificate,
    handler: createStorageHandler({ accountant, nurlFor }),
  });
  // Whatever fails from here, everything opened is closed, in the reverse order.
  try {
    await accountant.start();
    port = await server.listen(0, '127.0.0.1');
    // The anonymous account (0): the NURL a Tahoe-LAFS client finds in the node's announcement.
    await useNode(createStorageClient({ nurl: nurlFor(0) }), port);
  } finally {
    await server.close();
    await accountant.stop();
    await backend.close();
    await leaseDb.close();
  }
} finally {
  await rm(nodeDir, { recursive: true, force: true });
}

/** Uploads a share in two chunks through `client`, reads it back and checks it. */
async function useNode(client: StorageClient, port: number): Promise<void> {
  try {
    const storageIndex = storageIndexFromBytes(randomBytes(16));
    const uploadSecret = randomBytes(20);
    const share = randomBytes(100_000);
    const allocated = await client.immutable.allocate(storageIndex, {
      renewSecret: randomBytes(32),
      cancelSecret: randomBytes(32),
      uploadSecret,
      shareNumbers: [0],
      allocatedSize: share.length,
    });
    if (allocated.allocated.join() !== '0') {
      throw new Error(`allocate gave shares [${allocated.allocated}], not [0]`);
    }
    // Two chunks, as a client uploads a share larger than its segment size.
    const half = share.length / 2;
    const first = await client.immutable.write(storageIndex, 0, {
      uploadSecret,
      offset: 0,
      data: share.subarray(0, half),
    });
    const second = await client.immutable.write(storageIndex, 0, {
      uploadSecret,
      offset: half,
      data: share.subarray(half),
    });
    if (first.complete || !second.complete) {
      throw new Error('the share was not complete exactly after its last chunk');
    }
    const stored = await client.immutable.read(storageIndex, 0);
    if (!share.equals(stored)) throw new Error('the share read back differs from the one uploaded');
    const shareNumbers = await client.immutable.listShares(storageIndex);
    if (shareNumbers.join() !== '0') throw new Error(`listed shares [${shareNumbers}], not [0]`);
    // The NURL is not printed: its swissnum is the account's password.
    console.log(
      `embed: uploaded and read back ${stored.length} bytes of share 0 of ${storageIndex} through https://127.0.0.1:${port}`,
    );
  } finally {
    client.close();
  }
}
