import { randomBytes } from 'node:crypto';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ShareBackend } from '@ostrom/backend';
import { createS3Backend } from '@ostrom/backend-s3';
import { type LeaseDb, openLeaseDb } from '@ostrom/leasedb';
import {
  createStorageClient,
  generateAccountKey,
  type StorageClient,
  StorageClientError,
  storageIndexFromBytes,
} from '@ostrom/protocol';
import {
  freePort,
  type OutageProxy,
  type PostgresServer,
  postgresUrl,
  s3Endpoint,
  startOutageProxy,
  startPostgres,
  suiteTempDir,
} from '@ostrom/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initNode } from '../src/node-dir.js';
import { configure } from './node-harness.js';
import { type NodeProcess, runNodeProcess } from './node-process.js';

// The fault drill, as an operator who outgrew one disk runs it: two processes of one
// node (copies of one directory on two ports) on a PostgreSQL server of their own and an S3
// bucket reached through a TCP proxy; two uploaders, a reader and a lease renewer spread their
// requests over both processes; PostgreSQL is restarted (`pg_ctl stop -m fast`, then start) and
// the store refuses connections and then hangs. Throughout, both processes live and every answer
// is a 2xx or a 503; within 5 s of the service's return every client is served again, without a
// restart; afterwards every acknowledged upload reads back from both processes, every
// acknowledged renewal holds, and the database and the bucket agree, with no owner record left
// behind.

const pgAdmin = postgresUrl('@ostrom/server faults');
const s3 = s3Endpoint('@ostrom/server faults');

/** Service must be back for every client within this long of the dependency's return. */
const RESUME_WITHIN_MS = 5000;
/** How long the drill waits for something that should happen (an outage seen, a recovery). */
const PATIENCE_MS = 45_000;
/** What an answer to a client must never name: the services, their addresses, SQL, keys. */
const INTERNAL =
  /postgres|127\.0\.0\.1|select |insert |ECONNREFUSED|57P01|shares\/|owners\/|bucket/i;
const SHARE_BYTES = 2000;
const CHUNK_BYTES = 1000;

interface Acknowledged {
  readonly storageIndex: string;
  readonly data: Uint8Array;
  readonly secrets: { renewSecret: Uint8Array; cancelSecret: Uint8Array };
  /** Unix seconds of the latest acknowledged renewal (0: none). */
  renewedAt: number;
}

/** One client role running in a loop until told to stop, counting what it was answered. */
class Role {
  readonly statuses = new Map<string, number>();
  /** performance.now() of each success and each 503, in order. */
  readonly successes: number[] = [];
  readonly unavailable: number[] = [];
  /** Answers that are neither a 2xx nor a 503, with what was asked. */
  readonly unexpected: string[] = [];
  /** performance.now() of the latest failure. */
  lastFailureAt = 0;

  constructor(readonly name: string) {}

  /** Runs one request; returns whether it succeeded (a 503 is false, anything else is noted). */
  async attempt<T>(what: string, request: () => Promise<T>): Promise<T | undefined> {
    try {
      const result = await request();
      this.#count('2xx');
      this.successes.push(performance.now());
      return result;
    } catch (error) {
      const status =
        error instanceof StorageClientError && error.status !== undefined
          ? String(error.status)
          : `no answer (${(error as Error).message})`;
      this.#count(status);
      this.lastFailureAt = performance.now();
      if (status === '503') this.unavailable.push(this.lastFailureAt);
      else this.unexpected.push(`${what}: ${status}`);
      const body = error instanceof StorageClientError ? (error.body ?? '') : '';
      if (INTERNAL.test(body)) this.unexpected.push(`${what}: the answer names internals: ${body}`);
      return undefined;
    }
  }

  #count(key: string) {
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
  }

  successesSince(t: number): number {
    return this.successes.filter((at) => at >= t).length;
  }

  unavailableSince(t: number): number {
    return this.unavailable.filter((at) => at >= t).length;
  }
}

interface Drill {
  readonly processes: NodeProcess[];
  readonly adminUrls: string[];
  readonly adminToken: string;
  /** The drill account's NURL on each process. */
  readonly nurls: string[];
  readonly pg: PostgresServer;
  readonly store: OutageProxy;
  readonly roles: { uploaders: Role[]; reader: Role; renewer: Role };
  readonly acknowledged: Acknowledged[];
  /** Every storage index an uploader allocated (acknowledged or not). */
  readonly touched: Set<string>;
  /** Starts the client roles; resolves when they have stopped. */
  load(): { stop(): Promise<void> };
}

function secrets() {
  return {
    renewSecret: randomBytes(32),
    cancelSecret: randomBytes(32),
    uploadSecret: randomBytes(20),
  };
}

/** Yields to the event loop: the roles' loops must not starve the drill's own checks. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Waits until `condition` holds (asked every 20 ms); fails the drill after PATIENCE_MS. */
async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (!(await condition())) {
    if (performance.now() - started > PATIENCE_MS) throw new Error(`never happened: ${what}`);
    await new Promise<void>((resolve) => setTimeout(resolve, 20));
  }
  return performance.now() - started;
}

describe.skipIf(!pgAdmin || !s3)('faults under load: two processes, PostgreSQL and S3', () => {
  let drill: Drill;
  const cleanups: (() => Promise<void>)[] = [];
  let bucketDirect: ShareBackend;
  let db: LeaseDb;

  beforeAll(async () => {
    const pg = await startPostgres();
    cleanups.push(() => pg.stop());
    const endpoint = new URL(s3!);
    const store = await startOutageProxy({
      host: endpoint.hostname,
      port: Number(endpoint.port),
    });
    cleanups.push(() => store.close());
    const bucket = `ostrom-faults-${randomBytes(4).toString('hex')}`;
    // moto creates a bucket for an unsigned path-style PUT.
    expect((await fetch(`${s3}/${bucket}`, { method: 'PUT' })).ok).toBe(true);

    const temp = await suiteTempDir('faults-');
    cleanups.push(() => temp.remove());
    const [dirA, dirB] = [join(temp.dir, 'a'), join(temp.dir, 'b')];
    const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    await initNode(dirA, {
      port: ports[0],
      adminPort: ports[1],
      backend: 's3',
      s3: { bucket, endpoint: store.via(s3!).replace(/\/$/, '') },
      databaseUrl: pg.url,
    });
    // A hung store answers 503 after 5 attempts of this long each, not of the default 30 s.
    await configure(dirA, 'request_timeout', '"1s"');
    // The crawler cycles without pause, so an outage may meet one under way and its claim (a
    // failed cycle waits 60 s before the next, so not every outage does).
    await configure(dirA, 'min_cycle', '0');
    await configure(dirA, 'allowed_fraction', '0.5');
    await writeFile(
      join(dirA, 'private/s3-credentials'),
      'access_key_id = "test"\nsecret_access_key = "test"\n',
      { mode: 0o600 },
    );
    // The second process is a copy of the directory, on ports of its own (README, "several
    // processes").
    await cp(dirA, dirB, { recursive: true });
    const config = await readFile(join(dirB, 'ostrom.toml'), 'utf8');
    await writeFile(
      join(dirB, 'ostrom.toml'),
      config
        .replace(`port = ${ports[0]}\n`, `port = ${ports[2]}\n`)
        .replace(`port = ${ports[1]}\n`, `port = ${ports[3]}\n`),
    );
    const processes = [await runNodeProcess(dirA), await runNodeProcess(dirB)];
    cleanups.push(async () => {
      for (const p of processes) await p.stop();
    });
    const adminUrls = [`http://127.0.0.1:${ports[1]}`, `http://127.0.0.1:${ports[3]}`];
    const adminToken = (await readFile(join(dirA, 'private/admin-token'), 'utf8')).trim();

    const created = await fetch(`${adminUrls[0]}/admin/v1/accounts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        publicKey: Buffer.from(generateAccountKey().publicKey).toString('hex'),
        nickname: 'drill',
      }),
    });
    expect(created.status).toBe(201);
    const { nurl } = (await created.json()) as { nurl: string };
    const nurls = [nurl, nurl.replace(`:${ports[0]}/`, `:${ports[2]}/`)];
    expect(nurls[1]).not.toBe(nurls[0]);
    const clients: StorageClient[] = [];
    cleanups.push(async () => {
      for (const client of clients) client.close();
    });
    /** A client per process for one role. */
    const via = () =>
      nurls.map((n) => {
        const client = createStorageClient({ nurl: n });
        clients.push(client);
        return client;
      });

    const roles = {
      uploaders: [new Role('uploader 1'), new Role('uploader 2')],
      reader: new Role('reader'),
      renewer: new Role('renewer'),
    };
    const acknowledged: Acknowledged[] = [];
    const touched = new Set<string>();

    const load = () => {
      let running = true;
      const upload = async (role: Role, client: StorageClient) => {
        const storageIndex = storageIndexFromBytes(randomBytes(16));
        const s = secrets();
        const data = new Uint8Array(randomBytes(SHARE_BYTES));
        touched.add(storageIndex);
        const allocated = await role.attempt(`allocate ${storageIndex}`, () =>
          client.immutable.allocate(storageIndex, {
            ...s,
            shareNumbers: [0],
            allocatedSize: SHARE_BYTES,
          }),
        );
        if (!allocated) return; // refused: the client uploads something else, as Tahoe's would
        expect(allocated.allocated).toEqual([0]);
        for (let offset = 0; offset < SHARE_BYTES; offset += CHUNK_BYTES) {
          // A chunk answered 503 is sent again, for as long as the drill runs.
          for (;;) {
            const written = await role.attempt(`write ${storageIndex} @${offset}`, () =>
              client.immutable.write(storageIndex, 0, {
                uploadSecret: s.uploadSecret,
                offset,
                data: data.subarray(offset, offset + CHUNK_BYTES),
              }),
            );
            if (written) {
              if (written.complete) {
                acknowledged.push({ storageIndex, data, secrets: s, renewedAt: 0 });
              }
              break;
            }
            // Refused for another reason (noted as unexpected), or the drill is over.
            if (role.unavailable.at(-1) !== role.lastFailureAt || !running) return;
            await turn();
          }
        }
      };
      const loops = [
        ...roles.uploaders.map(async (role) => {
          const [a, b] = via();
          for (let i = 0; running; i++) await upload(role, i % 2 === 0 ? a! : b!);
        }),
        (async () => {
          const clientsOf = via();
          for (let i = 0; running; i++) {
            const share = acknowledged[(i * 7919) % Math.max(acknowledged.length, 1)];
            if (!share) {
              await turn();
              continue;
            }
            const read = await roles.reader.attempt(`read ${share.storageIndex}`, () =>
              clientsOf[i % 2]!.immutable.read(share.storageIndex, 0),
            );
            if (read && Buffer.compare(Buffer.from(read), Buffer.from(share.data)) !== 0) {
              roles.reader.unexpected.push(`read ${share.storageIndex}: other bytes`);
            }
          }
        })(),
        (async () => {
          const clientsOf = via();
          for (let i = 0; running; i++) {
            const share = acknowledged[(i * 104_729) % Math.max(acknowledged.length, 1)];
            if (!share) {
              await turn();
              continue;
            }
            const sent = Math.floor(Date.now() / 1000);
            const renewed = await roles.renewer.attempt(`renew ${share.storageIndex}`, () =>
              clientsOf[i % 2]!.addOrRenewLease(share.storageIndex, share.secrets).then(() => true),
            );
            if (renewed) share.renewedAt = Math.max(share.renewedAt, sent);
          }
        })(),
      ];
      return {
        async stop() {
          running = false;
          await Promise.all(loops);
        },
      };
    };

    drill = {
      processes,
      adminUrls,
      adminToken,
      nurls,
      pg,
      store,
      roles,
      acknowledged,
      touched,
      load,
    };
    db = await openLeaseDb({ dialect: 'postgres', connectionString: pg.url });
    cleanups.push(() => db.close());
    bucketDirect = createS3Backend({
      bucket,
      endpoint: s3!,
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    cleanups.push(() => bucketDirect.close());
  }, 120_000);

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }, 120_000);

  const allRoles = () => [...drill.roles.uploaders, drill.roles.reader, drill.roles.renewer];

  const health = async (index: number) => {
    const response = await fetch(`${drill.adminUrls[index]}/admin/v1/health`, {
      headers: { authorization: `Bearer ${drill.adminToken}` },
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  /**
   * Runs the load, takes the service away once every role is being served, waits until the
   * roles that use it are refused, checks what health says on both processes, gives the service
   * back, and measures how long until every role is served again.
   */
  async function outage(options: {
    dependency: 'database' | 'store';
    /** The roles that use the service (those that must see it go). */
    affected: () => Role[];
    /** How many 503s each affected role gets before the service is given back. */
    refusals: number;
    takeAway: () => Promise<void>;
    giveBack: () => Promise<void>;
  }) {
    const logFrom = drill.processes.map((p) => p.logged().length);
    const statusesBefore = new Map(allRoles().map((role) => [role, new Map(role.statuses)]));
    const load = drill.load();
    let givenBack = true;
    try {
      const warm = performance.now();
      await until('every role served before the outage', () =>
        allRoles().every((role) => role.successesSince(warm) >= 3),
      );
      const away = performance.now();
      await options.takeAway();
      givenBack = false;
      // Away long enough that each client was refused again and again (its pools' reconnects
      // failing too), not just once.
      await until(`every affected role answered 503 ${options.refusals} times`, () =>
        options.affected().every((role) => role.unavailableSince(away) >= options.refusals),
      );
      // Each process's health says which service is away (at once for a process that met the
      // outage, else within the few seconds its last probe stands).
      const healthMs = await until('health names the service on both processes', async () => {
        const answers = await Promise.all([health(0), health(1)]);
        return answers.every(
          (answer) => answer.status === 503 && answer.body[options.dependency] === 'unavailable',
        );
      });
      expect(healthMs).toBeLessThan(5000);
      await options.giveBack();
      givenBack = true;
      const back = performance.now();
      const resumedMs = await until('every role served after the return', () =>
        allRoles().every((role) => role.successesSince(back) >= 1),
      );
      const outageMs = back - away;
      const served = allRoles().map((role) => {
        const before = statusesBefore.get(role)!;
        const counts = [...role.statuses].map(
          ([status, n]) => `${status} ×${n - (before.get(status) ?? 0)}`,
        );
        return `${role.name} ${counts.join(', ')}`;
      });
      console.info(
        `fault figures: ${options.dependency} away ${(outageMs / 1000).toFixed(1)} s; every role ` +
          `served again ${resumedMs.toFixed(0)} ms after its return; ${served.join('; ')}`,
      );
      expect(resumedMs).toBeLessThan(RESUME_WITHIN_MS);
    } finally {
      if (!givenBack) await options.giveBack(); // a failed check must not leave it away
      await load.stop();
    }
    for (const p of drill.processes) expect(p.exited, p.stderr()).toBe(false);
    for (const role of allRoles()) expect(role.unexpected, role.name).toEqual([]);
    // The health monitor notices the return by itself (it probes a service that is down).
    await until('health ok on both processes', async () =>
      (await Promise.all([health(0), health(1)])).every((answer) => answer.status === 200),
    );
    // Each process said once that the service went, and once that it came back.
    const what = options.dependency === 'database' ? 'the lease database' : 'the share store';
    for (const [index, p] of drill.processes.entries()) {
      const lines = p
        .logged()
        .slice(logFrom[index])
        .map((line) => line.msg ?? '');
      expect(lines.filter((msg) => msg.startsWith(`${what} is unavailable`))).toHaveLength(1);
      expect(lines.filter((msg) => msg.startsWith(`${what} is back after`))).toHaveLength(1);
      expect(
        p
          .logged()
          .filter((line) => line.level >= 60)
          .map((line) => line.msg),
      ).toEqual([]);
    }
  }

  it('PostgreSQL restarted (pg_ctl stop -m fast, then start) under load', async () => {
    await outage({
      dependency: 'database',
      affected: allRoles,
      refusals: 10,
      takeAway: () => drill.pg.shutDown(),
      giveBack: () => drill.pg.startAgain(),
    });
  }, 180_000);

  it('the S3 store refusing connections under load', async () => {
    await outage({
      dependency: 'store',
      affected: () => [...drill.roles.uploaders, drill.roles.reader],
      refusals: 10,
      takeAway: async () => drill.store.refuse(),
      giveBack: async () => drill.store.resume(),
    });
  }, 180_000);

  it('the S3 store hung (connections taken, nothing answered) under load', async () => {
    await outage({
      dependency: 'store',
      affected: () => [...drill.roles.uploaders, drill.roles.reader],
      // Each 503 takes 5 tries of request_timeout (1 s): two each is enough.
      refusals: 2,
      takeAway: async () => drill.store.stall(),
      giveBack: async () => drill.store.resume(),
    });
  }, 180_000);

  it('afterwards: every acknowledged write reads back, and the database and the bucket agree', async () => {
    expect(drill.acknowledged.length).toBeGreaterThan(0);
    // Through both processes, while they run.
    const readers = drill.nurls.map((nurl) => createStorageClient({ nurl }));
    try {
      for (const share of drill.acknowledged) {
        for (const reader of readers) {
          expect(Buffer.from(await reader.immutable.read(share.storageIndex, 0))).toEqual(
            Buffer.from(share.data),
          );
        }
      }
    } finally {
      for (const reader of readers) reader.close();
    }
    // A clean stop gives back every upload still in progress (rows, staged bytes, records).
    for (const p of drill.processes) await p.stop();

    const acknowledged = new Map(drill.acknowledged.map((share) => [share.storageIndex, share]));
    for (const storageIndex of drill.touched) {
      const stored = await bucketDirect.listShares(storageIndex);
      const rows = await db.listShares(storageIndex);
      expect(
        rows.map((row) => ({ shnum: row.shnum, state: row.state, bytes: row.usedBytes })),
      ).toEqual(
        stored.map((share) => ({ shnum: share.shnum, state: 'stable', bytes: share.sizeBytes })),
      );
      const share = acknowledged.get(storageIndex);
      if (share) {
        expect(stored.map((s) => s.shnum)).toEqual([0]);
        if (share.renewedAt > 0) {
          const leases = await db.listLeases(storageIndex, 0);
          const latest = Math.max(...leases.map((lease) => lease.expiresAt));
          expect(latest).toBeGreaterThanOrEqual(share.renewedAt + 30 * 86_400);
        }
      }
    }
    const records = await bucketDirect.listBlobs('owners/');
    const orphans = [];
    for (const name of records) {
      const storageIndex = name.split('/')[2]!;
      if ((await bucketDirect.listShares(storageIndex)).length === 0) orphans.push(name);
    }
    expect(orphans).toEqual([]);
  }, 300_000);
});
