import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateAccountKey, publicKeyFromPrivate, signAccountRequest } from '@ostrom/protocol';
import { createScratchSchema, postgresUrl } from '@ostrom/test-fixtures';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { RunningNode } from '../src/server.js';
import { ostrom, ostromJson } from './helpers.js';
import { bytes, storageIndex } from './http-setup.js';
import {
  addAccount,
  configure,
  createTestNode,
  describeFlavours,
  S3,
  SLOW,
  type TestNode,
  upload,
} from './node-harness.js';
import { nodeWithoutAutomaticBackups, type RebuildJson } from './rebuild-setup.js';

// Every account keeps its NURL when the lease database is lost: after a restart that recovers it
// from nothing, a `db restore` of a backup older than some accounts, and a `db rebuild` (on
// SQLite with disk and S3, and on PostgreSQL with S3), each account's swissnum opens that account
// (its id, key, nickname, state and quota), its shares are its own, and new ids are never ones
// issued before. The commands themselves: rebuild-commands.test.ts.

/** An account as its NURL must keep showing it: id, key and state. */
interface Known {
  readonly name: string;
  readonly id: number;
  readonly publicKey: string;
  status: string;
  hardQuotaBytes: number | null;
  /** Storage indexes of the shares it stored (shnum 0). */
  readonly shares: string[];
}

/**
 * Accounts in every state, as operators and clients make them (approval manual): alice, bob and
 * gina store, carol stores nothing, dave stores and is frozen, erin has a quota, frank asked over
 * HTTPS and is pending, gina was deleted. `later` accounts and changes are made by `more`.
 */
async function population(node: TestNode, running: RunningNode) {
  const known = new Map<string, Known>();
  const cli = async (...args: string[]) => {
    const result = await ostrom([...args, '-d', node.dir]);
    expect(result.code, result.stderr).toBe(0);
  };
  const add = async (name: string, seed: number, store: boolean) => {
    const publicKey = seed.toString(16).padStart(2, '0').repeat(32);
    const { id, nurl } = await addAccount(node, running, publicKey, name);
    const account: Known = {
      name,
      id,
      publicKey,
      status: 'normal',
      hardQuotaBytes: null,
      shares: [],
    };
    if (store) {
      const si = storageIndex(`pop-${name}`);
      await upload(node.client(nurl), running, si, 0, bytes(100 + seed, seed));
      account.shares.push(si);
    }
    known.set(name, account);
    return account;
  };
  return {
    known,
    async first() {
      await add('alice', 0xa1, true);
      await add('bob', 0xb2, true);
      await add('carol', 0xc3, false);
    },
    async more() {
      const dave = await add('dave', 0xd4, true);
      await cli('accounts', 'freeze', String(dave.id));
      dave.status = 'frozen';
      const erin = await add('erin', 0xe5, false);
      await cli('accounts', 'set-quota', String(erin.id), '--hard', '5MB');
      erin.hardQuotaBytes = 5e6;
      // bob, in the backup already, is frozen after it.
      const bob = known.get('bob')!;
      await cli('accounts', 'freeze', String(bob.id));
      bob.status = 'frozen';
      const key = generateAccountKey().privateKey;
      const client = node.client(running.nurl);
      const { serverId } = await client.accounting.getServer();
      const asked = await client.accounting.requestAccount(
        signAccountRequest(
          {
            serverId,
            publicKey: publicKeyFromPrivate(key),
            nickname: 'frank',
            timestamp: node.clock.now(),
            nonce: new Uint8Array(16).fill(6),
          },
          key,
        ),
      );
      expect(asked.status).toBe('pending');
      const db = await node.openDb();
      const frank = (await db.getAccountByPublicKey(publicKeyFromPrivate(key)))!;
      known.set('frank', {
        name: 'frank',
        id: frank.id,
        publicKey: frank.publicKey!,
        status: 'pending',
        hardQuotaBytes: null,
        shares: [],
      });
      const gina = await add('gina', 0x67, true);
      await cli('accounts', 'delete', String(gina.id));
      gina.status = 'deleted';
    },
  };
}

/**
 * For every account: its swissnum opens it (the account answering is the one with its id, key,
 * nickname, status and quota) and no other; its shares are its own; and a new account gets an id
 * never issued before.
 */
async function expectEveryNurlOpensItsAccount(
  node: TestNode,
  running: RunningNode,
  known: Map<string, Known>,
) {
  const db = await node.openDb();
  for (const account of known.values()) {
    const info = await node.client(running.nurlFor(account.id)).accounting.getAccount();
    expect(
      {
        id: info.accountId,
        nickname: info.nickname,
        status: info.status,
        hard: info.hardQuotaBytes,
      },
      account.name,
    ).toEqual({
      id: account.id,
      nickname: account.name,
      status: account.status,
      hard: account.hardQuotaBytes,
    });
    expect((await db.getAccount(account.id))?.publicKey, account.name).toBe(account.publicKey);
    for (const si of account.shares) {
      expect((await db.getShare(si, 0))?.ownerAccountId, account.name).toBe(account.id);
    }
  }
  // A frozen account still may not write.
  const dave = known.get('dave');
  if (dave) {
    await expect(
      upload(node.client(running.nurlFor(dave.id)), running, storageIndex('frozen'), 0, bytes(5)),
    ).rejects.toMatchObject({ code: 'HTTP_STATUS', status: 403 });
  }
  // A new account gets an id never issued before (deleted ones included); it is deleted at
  // once and joins the accounts checked next time, its id reserved for good.
  const highest = Math.max(...[...known.values()].map((a) => a.id));
  const name = `newcomer${known.size}`;
  const publicKey = `f${known.size.toString(16)}`.padStart(2, '0').repeat(32);
  const fresh = await addAccount(node, running, publicKey, name);
  expect(fresh.id).toBe(highest + 1);
  const deleted = await ostrom(['accounts', 'delete', String(fresh.id), '-d', node.dir]);
  expect(deleted.code, deleted.stderr).toBe(0);
  known.set(name, {
    name,
    id: fresh.id,
    publicKey,
    status: 'deleted',
    hardQuotaBytes: null,
    shares: [],
  });
  expect(await db.checkUsage()).toEqual([]);
}

describeFlavours('every account keeps its NURL across a lost database', (flavour) => {
  it(
    'database deleted + restart, `db restore` of a backup older than some accounts, `db rebuild`: each NURL opens its own account',
    async () => {
      const node = await nodeWithoutAutomaticBackups(flavour);
      await configure(node.dir, 'approval', '"manual"');
      const io = { now: node.clock.now };
      let running = await node.start();
      const accounts = await population(node, running);
      await accounts.first();
      await ostromJson(['db', 'backup', '-d', node.dir], io);
      node.clock.advance(60);
      await accounts.more();
      await running.close();

      // 1. The database is lost (no usable backup would be as bad: the one there is older).
      for (const suffix of ['', '-wal', '-shm']) await rm(node.dbPath + suffix, { force: true });
      running = await node.start();
      expect(running.recovery).toMatchObject({ reason: 'missing' });
      await expectEveryNurlOpensItsAccount(node, running, accounts.known);
      await running.close();

      // 2. `db restore` of that backup, older than dave, erin, frank and gina and bob's freeze.
      node.clock.advance(60);
      const restored = await ostrom(['db', 'restore', '-d', node.dir], io);
      expect(restored.code, restored.stderr).toBe(0);
      running = await node.start();
      expect(running.recovery).toMatchObject({ reason: 'interrupted' });
      await expectEveryNurlOpensItsAccount(node, running, accounts.known);
      await running.close();

      // 3. `ostrom db rebuild`: the same backup again, then the store.
      node.clock.advance(60);
      const rebuilt = await ostrom(['db', 'rebuild', '-d', node.dir, '--json'], io);
      expect(rebuilt.code, rebuilt.stderr).toBe(0);
      running = await node.start();
      expect(running.recovery).toBeUndefined();
      await expectEveryNurlOpensItsAccount(node, running, accounts.known);
    },
    4 * SLOW,
  );
});

const pgUrl = postgresUrl('@ostrom/server account records on PostgreSQL');
describe.skipIf(!pgUrl || !S3)('every account keeps its NURL on PostgreSQL + S3', () => {
  it(
    '`db rebuild` of an emptied schema gives every account back under its own id',
    async () => {
      const schema = await createScratchSchema(pgUrl!);
      onTestFinished(() => schema.drop());
      const node = await createTestNode('s3', { databaseUrl: schema.url, approval: 'manual' });
      let running = await node.start();
      const accounts = await population(node, running);
      await accounts.first();
      await accounts.more();
      await running.close();

      // The database is lost: its schema dropped, the node pointed at an empty one.
      await schema.drop();
      const empty = await createScratchSchema(pgUrl!);
      onTestFinished(() => empty.drop());
      const config = join(node.dir, 'ostrom.toml');
      await writeFile(config, (await readFile(config, 'utf8')).replace(schema.url, empty.url));
      const rebuilt = await ostromJson<
        RebuildJson & { cycle: { accounts: { created: number[] } } }
      >(['db', 'rebuild', '-d', node.dir], { now: node.clock.now });
      expect(rebuilt.cycle.accounts.created).toEqual(
        [...accounts.known.values()].map((a) => a.id).sort((a, b) => a - b),
      );
      running = await node.start();
      await expectEveryNurlOpensItsAccount(node, running, accounts.known);
      // Before the schemas go (the hooks of the test run after, in reverse).
      await running.close();
    },
    4 * SLOW,
  );
});
