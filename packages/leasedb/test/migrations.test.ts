import { Migrator, sql } from 'kysely';
import { expect, it } from 'vitest';
import { connect } from '../src/dialect.js';
import {
  ANONYMOUS_ACCOUNT_ID,
  type ConnectionOptions,
  type Dialect,
  leaseDbMigrations,
  STARTER_ACCOUNT_ID,
} from '../src/index.js';
import { describeEachDialect, manualClock, publicKey } from './setup.js';

/** Brings a fresh location to the schema just before migration `next`, as an older version left it. */
async function migrateBefore(
  location: ConnectionOptions,
  dialect: Dialect,
  next: string,
): Promise<string[]> {
  const connection = connect(location);
  try {
    const schema =
      dialect === 'postgres'
        ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(connection.db))
            .rows[0]?.schema
        : undefined;
    const older = Object.fromEntries(
      Object.entries(leaseDbMigrations(dialect)).filter(([name]) => name < next),
    );
    const result = await new Migrator({
      db: connection.db,
      provider: { getMigrations: async () => older },
      ...(schema ? { migrationTableSchema: schema } : {}),
    }).migrateToLatest();
    if (result.error) throw result.error;
    return result.results?.map((r) => r.migrationName) ?? [];
  } finally {
    await connection.db.destroy();
    if (connection.dialect === 'postgres') await connection.lockPool.end();
  }
}

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

  it('a database made by 0005 migrates to last_seen_at, taking the last-seen attributes that are seconds', async () => {
    const location = await dialect.location();
    await migrateBefore(location.connection, dialect.name, '0006');
    await location.exec(`
      insert into accounts (id, public_key, nickname, nickname_key, status, created_at) values
        (2, '${'aa'.repeat(32)}', 'alice', 'alice', 'normal', 10),
        (3, '${'bb'.repeat(32)}', 'bob', 'bob', 'normal', 10),
        (4, '${'cc'.repeat(32)}', 'carol', 'carol', 'normal', 10);
      insert into account_usage (account_id, shares, bytes) values (2, 0, 0), (3, 0, 0), (4, 0, 0);
      insert into account_attributes (account_id, name, value) values
        (0, 'last-seen', '1700000000'), (2, 'last-seen', '1700000123'),
        (2, 'lease-duration-seconds', '86400'), (3, 'last-seen', 'yesterday');`);
    const db = await location.open();
    const seen = (await db.listAccounts()).accounts.map((a) => [a.id, a.lastSeenAt]);
    expect(seen).toEqual([
      [0, 1_700_000_000],
      [1, null],
      [2, 1_700_000_123],
      [3, null],
      [4, null],
    ]);
    // Moved values leave the attributes; what was not a time stays for someone to look at.
    expect(await db.getAccountAttributes(2)).toEqual({ 'lease-duration-seconds': '86400' });
    expect(await db.getAccountAttributes(3)).toEqual({ 'last-seen': 'yesterday' });
    expect(await db.getAccountAttributes(0)).toEqual({});
  });

  it('a database made by 0006 migrates to changes-only usage history, keeping the first of each run of equal samples', async () => {
    const location = await dialect.location();
    await migrateBefore(location.connection, dialect.name, '0007');
    const H = 3600;
    // Account 0: 5, 5, 5, 7, 7, 5. Account 1: 9, 9. The server's hourly rows are left alone.
    await location.exec(`
      insert into usage_history (account_id, at, shares, bytes) values
        (0, ${1 * H}, 1, 5), (0, ${2 * H}, 1, 5), (0, ${3 * H}, 1, 5),
        (0, ${4 * H}, 2, 7), (0, ${5 * H}, 2, 7), (0, ${6 * H}, 1, 5),
        (1, ${1 * H}, 3, 9), (1, ${2 * H}, 3, 9);
      insert into server_usage_history (at, shares, bytes) values (${1 * H}, 4, 14), (${2 * H}, 4, 14);`);
    const db = await location.open();
    expect(await db.getUsageHistory(0)).toEqual([
      { at: 1 * H, shares: 1, bytes: 5 },
      { at: 4 * H, shares: 2, bytes: 7 },
      { at: 6 * H, shares: 1, bytes: 5 },
    ]);
    expect(await db.getUsageHistory(1)).toEqual([{ at: 1 * H, shares: 3, bytes: 9 }]);
    expect(await db.getServerUsageHistory()).toHaveLength(2);
  });

  it('a database made by 0007 migrates to traffic, keeping its accounts', async () => {
    const location = await dialect.location();
    await migrateBefore(location.connection, dialect.name, '0008');
    await location.exec(`
      insert into accounts (id, public_key, nickname, nickname_key, status, created_at) values
        (2, '${'aa'.repeat(32)}', 'alice', 'alice', 'normal', 10);
      insert into account_usage (account_id, shares, bytes) values (2, 0, 0);`);
    const db = await location.open();
    expect((await db.getAccount(2))?.nickname).toBe('alice');
    const hour = 1_700_002_800;
    await db.addTraffic([{ accountId: 2, hour, uploads: 1, reads: 0, bytesIn: 5, bytesOut: 0 }]);
    expect(await db.getTraffic({ accountId: 2, from: hour, to: hour + 3600 })).toEqual([
      { hour, uploads: 1, reads: 0, bytesIn: 5, bytesOut: 0 },
    ]);
  });

  it('a database made by 0008 migrates to invitations, keeping its accounts', async () => {
    const location = await dialect.location();
    await migrateBefore(location.connection, dialect.name, '0009');
    await location.exec(`
      insert into accounts (id, public_key, nickname, nickname_key, status, created_at) values
        (2, '${'aa'.repeat(32)}', 'alice', 'alice', 'normal', 10);
      insert into account_usage (account_id, shares, bytes) values (2, 0, 0);`);
    const clock = manualClock(1_000);
    const db = await location.open({ now: clock.now });
    expect((await db.getAccount(2))?.nickname).toBe('alice');
    const made = await db.createInvitation({
      secretHash: 'ab'.repeat(32),
      maxUses: 1,
      expiresAt: 2_000,
      actor: 'op',
    });
    expect(made).toMatchObject({ id: 1, uses: 0 });
    expect(await db.redeemInvitation('ab'.repeat(32))).toMatchObject({ status: 'redeemed' });
  });

  it('a database made by an earlier version (0003) migrates to crawler claims and restores, keeping its rows', async () => {
    const location = await dialect.location();
    expect(await migrateBefore(location.connection, dialect.name, '0004')).toEqual([
      '0001_initial_schema',
      '0002_account_request_nonces',
      '0003_server_processes',
    ]);
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
