import { Migrator, sql } from 'kysely';
import { expect, it } from 'vitest';
import { connect } from '../src/dialect.js';
import { ANONYMOUS_ACCOUNT_ID, leaseDbMigrations, STARTER_ACCOUNT_ID } from '../src/index.js';
import { describeEachDialect, manualClock, publicKey } from './setup.js';

describeEachDialect('migrations', (dialect) => {
  it('an empty database migrates to latest with the anonymous and starter accounts', async () => {
    const db = await dialect.open();
    const anonymous = await db.getAccount(ANONYMOUS_ACCOUNT_ID);
    const starter = await db.getAccount(STARTER_ACCOUNT_ID);
    expect(anonymous).toMatchObject({ nickname: 'anonymous', publicKey: null, status: 'normal' });
    expect(starter).toMatchObject({ nickname: 'starter', publicKey: null, status: 'normal' });
    expect(await db.getAccountUsage(0)).toEqual({ shares: 0, bytes: 0 });
    expect(await db.getServerUsage()).toEqual({ shares: 0, bytes: 0 });
  });

  it('running the migrations twice is a no-op that keeps the data', async () => {
    const { open } = await dialect.location();
    const first = await open();
    const created = await first.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    await first.close();
    const second = await open();
    expect(await second.getAccount(created.id)).toEqual(created);
    const { accounts, total } = await second.listAccounts();
    expect(total).toBe(3);
    expect(accounts.map((a) => a.id)).toEqual([0, 1, created.id]);
  });

  it('the first created account gets id 2, after the two built-in ones', async () => {
    const db = await dialect.open();
    const alice = await db.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    const bob = await db.createAccount({ publicKey: publicKey(2), nickname: 'bob' });
    expect([alice.id, bob.id]).toEqual([2, 3]);
  });

  it('two lease databases side by side (PostgreSQL: two schemas of one database) migrate independently', async () => {
    const first = await (await dialect.location()).open();
    const second = await (await dialect.location()).open();
    await first.createAccount({ publicKey: publicKey(1), nickname: 'alice' });
    expect((await first.listAccounts()).total).toBe(3);
    expect((await second.listAccounts()).total).toBe(2);
  });

  it('migrate: false opens without touching the schema', async () => {
    const { open } = await dialect.location();
    const db = await open({ migrate: false });
    await expect(db.getAccount(0)).rejects.toThrow();
  });

  it('a database made by an earlier version (0003) migrates to crawler claims and restores, keeping its rows', async () => {
    const location = await dialect.location();
    const connection = connect(location.connection);
    try {
      const schema =
        dialect.name === 'postgres'
          ? (
              await sql<{ schema: string }>`select current_schema() as schema`.execute(
                connection.db,
              )
            ).rows[0]?.schema
          : undefined;
      const all = leaseDbMigrations(dialect.name);
      const older = Object.fromEntries(Object.entries(all).filter(([name]) => name < '0004'));
      const result = await new Migrator({
        db: connection.db,
        provider: { getMigrations: async () => older },
        ...(schema ? { migrationTableSchema: schema } : {}),
      }).migrateToLatest();
      expect(result.error).toBeUndefined();
      expect(result.results?.map((r) => r.migrationName)).toEqual([
        '0001_initial_schema',
        '0002_account_request_nonces',
        '0003_server_processes',
      ]);
    } finally {
      await connection.db.destroy();
      if (connection.dialect === 'postgres') await connection.lockPool.end();
    }
    await location.exec(
      "insert into crawler_state (name, cycle, position, cycle_started_at, updated_at, counters) values ('accounting', 4, 'ab', 100, 100, '{}')",
    );
    const clock = manualClock(1_000);
    const db = await location.open({ now: clock.now });
    expect(await db.getCrawlerState('accounting')).toMatchObject({ cycle: 4, position: 'ab' });
    expect(await db.claimCrawler('accounting', 'node-a', 60)).toBe(true);
    expect(await db.recordRestore({ reason: 'restore', backup: null })).toMatchObject({
      at: 1_000,
    });
    expect(await db.getLastRestore()).toMatchObject({ reason: 'restore' });
  });
});
