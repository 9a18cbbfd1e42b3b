import { ACCOUNT_RECORD_PREFIX, accountRecordOf, writeAccountRecord } from '@ostrom/backend';
import type { LeaseDb } from '@ostrom/leasedb';
import { expect, it } from 'vitest';
import { restoreAccounts, syncAccountRecords } from '../src/index.js';
import {
  bytes,
  describeMatrix,
  makeWorld,
  randomKey,
  STATE_KEY,
  storageIndex,
  upload,
  type World,
} from './setup.js';

// A swissnum names its account by id: after the database is lost, or restored from a backup
// older than some accounts, every account must come back under its own id, with its key and
// state, those without shares too (docs/ARCHITECTURE.md, "Recovering a lost database").

/** Storage indexes whose order is known: `first` < `second` in the crawler's prefix order. */
const FIRST = `aa${storageIndex('first').slice(2)}`;
const SECOND = `zz${storageIndex('second').slice(2)}`;

interface Population {
  /** Every account made, by name. */
  readonly ids: Record<string, number>;
  /** Shares and who stored them. */
  readonly shares: { si: string; shnum: number; owner: string }[];
}

/**
 * Accounts in every state, made as a node makes them: alice and bob store (bob's share first in
 * the crawl, though bob's account is the younger), carol stores nothing, dave stores and is
 * frozen, erin has a quota and nothing stored, frank is pending, gina stored and was deleted.
 */
async function populate(world: World): Promise<Population> {
  const { accountant } = world;
  const add = async (nickname: string) =>
    (await accountant.addAccount({ publicKey: randomKey(), nickname })).id;
  const ids: Record<string, number> = {};
  for (const name of ['alice', 'bob', 'carol', 'dave', 'erin']) ids[name] = await add(name);
  // A client's request under manual approval makes a pending account (the accountant's own
  // tests show its record written then); here it is made as that request makes it.
  const frank = await world.db.createAccount({
    publicKey: randomKey(),
    nickname: 'frank',
    status: 'pending',
  });
  await writeAccountRecord(world.backend, STATE_KEY, accountRecordOf(frank, {}));
  ids.frank = frank.id;
  ids.gina = await add('gina');
  const shares = [
    { si: SECOND, shnum: 0, owner: 'alice' },
    { si: FIRST, shnum: 1, owner: 'bob' },
    { si: storageIndex('dave'), shnum: 0, owner: 'dave' },
    { si: storageIndex('gina'), shnum: 2, owner: 'gina' },
  ];
  for (const [i, share] of shares.entries()) {
    await upload(world, ids[share.owner]!, share.si, share.shnum, bytes(100 + i, i));
  }
  await accountant.setAccountStatus(ids.dave!, 'frozen', { actor: 'op' });
  await accountant.setAccountQuota(ids.erin!, { hardQuotaBytes: 7000, softQuotaBytes: 5000 });
  await accountant.setAccountStatus(ids.gina!, 'deleted', { actor: 'op' });
  return { ids, shares };
}

/** What a NURL must keep opening: the account's key and state. */
async function identity(db: LeaseDb, id: number) {
  const account = await db.getAccount(id);
  if (!account) return undefined;
  const { lastSeenAt: _seen, ...rest } = account;
  return { ...rest, attributes: await db.getAccountAttributes(id) };
}

/** Each account's old swissnum, served by `fresh`, opens that account and no other. */
async function expectSameAccounts(world: World, fresh: World, population: Population) {
  for (const [name, id] of Object.entries(population.ids)) {
    expect(await identity(fresh.db, id), name).toEqual(await identity(world.db, id));
    const facet = fresh.accountant.accountForSwissnum(world.accountant.swissnumFor(id));
    expect(facet?.id, name).toBe(id);
    expect((await facet!.info()).nickname, name).toBe(name);
  }
  for (const share of population.shares) {
    const owner = population.ids[share.owner]!;
    expect((await fresh.db.getShare(share.si, share.shnum))?.ownerAccountId, share.owner).toBe(
      owner,
    );
    expect((await fresh.db.listLeases(share.si, share.shnum)).map((l) => l.accountId)).toEqual([
      owner,
    ]);
  }
  expect(await fresh.db.checkUsage()).toEqual([]);
}

describeMatrix('accounts given back from their records', (matrix) => {
  it('an empty database: every account comes back under its own id and state, then the shares', async () => {
    const world = await makeWorld(matrix);
    const population = await populate(world);
    const fresh = await makeWorld(matrix);
    const options = { leaseDb: fresh.db, backend: world.backend, stateKey: STATE_KEY };
    const report = await restoreAccounts(options);
    const all = Object.values(population.ids).sort((a, b) => a - b);
    expect(report).toMatchObject({
      created: all,
      problems: [],
      reservedThrough: population.ids.gina,
    });
    await fresh.crawler({ backend: world.backend }).runOnce();
    await expectSameAccounts(world, fresh, population);
    expect((await fresh.db.getAccount(population.ids.dave!))?.status).toBe('frozen');
    // Again: nothing more to do.
    expect(await restoreAccounts(options)).toMatchObject({ created: [], updated: [], written: [] });
    // A new account gets an id never issued before: past the deleted gina's.
    const next = await fresh.accountant.addAccount({ publicKey: randomKey(), nickname: 'new' });
    expect(next.id).toBe(population.ids.gina! + 1);
  });

  it('a database older than some accounts: the newer state and the missing accounts come back', async () => {
    const world = await makeWorld(matrix);
    const population = await populate(world);
    const { ids } = population;
    const fresh = await makeWorld(matrix);
    // As the backup had them: alice to dave, before dave was frozen and erin got a quota.
    for (const name of ['alice', 'bob', 'carol', 'dave', 'erin']) {
      const account = (await world.db.getAccount(ids[name]!))!;
      await fresh.db.restoreAccount({
        ...account,
        status: 'normal',
        hardQuotaBytes: null,
        softQuotaBytes: null,
        attributes: {},
      });
    }
    const report = await restoreAccounts({
      leaseDb: fresh.db,
      backend: world.backend,
      stateKey: STATE_KEY,
    });
    expect(report.created).toEqual([ids.frank, ids.gina]);
    expect(report.updated).toEqual([ids.dave, ids.erin]);
    await fresh.crawler({ backend: world.backend }).runOnce();
    await expectSameAccounts(world, fresh, population);
    expect(await fresh.db.getAccount(ids.erin!)).toMatchObject({
      hardQuotaBytes: 7000,
      softQuotaBytes: 5000,
    });
  });

  it('at start: records are written for accounts without one, and accounts missing from the database come back', async () => {
    const world = await makeWorld(matrix);
    const population = await populate(world);
    // As before account records existed: none in the store.
    for (const name of await world.backend.listBlobs(ACCOUNT_RECORD_PREFIX)) {
      await world.backend.deleteBlob(name);
    }
    const lines: string[] = [];
    const logger = {
      info: (_: object, msg?: string) => lines.push(`info: ${msg}`),
      warn: (_: object, msg?: string) => lines.push(`warn: ${msg}`),
      error: (_: object, msg?: string) => lines.push(`error: ${msg}`),
    };
    const options = { leaseDb: world.db, backend: world.backend, stateKey: STATE_KEY, logger };
    const first = await syncAccountRecords(options);
    const everyone = [0, 1, ...Object.values(population.ids)].sort((a, b) => a - b);
    expect(first.written).toEqual(everyone);
    expect(lines).toEqual(['info: wrote the records of accounts that had none']);
    expect(await syncAccountRecords(options)).toMatchObject({ written: [], created: [] });
    // Then the database is lost: the records alone give every account back.
    const fresh = await makeWorld(matrix);
    const restored = await syncAccountRecords({ ...options, leaseDb: fresh.db });
    expect(restored.created).toEqual(Object.values(population.ids).sort((a, b) => a - b));
    expect(lines.at(-1)).toBe(
      'warn: made again from their records accounts the database lacked (was it restored?)',
    );
    await fresh.crawler({ backend: world.backend }).runOnce();
    await expectSameAccounts(world, fresh, population);
  });
});
