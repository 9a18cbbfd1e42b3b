import { BackendError } from '@ostrom/backend';
import { LeaseDbError } from '@ostrom/leasedb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { translate } from '../src/core.js';
import {
  type AccountantError,
  DependencyHealth,
  describeHealthChange,
  type HealthChange,
} from '../src/index.js';

// The health of the database and the store, on an injected clock with probes the test answers.

function setup(options: { cacheMs?: number; recheckMs?: number } = {}) {
  let now = 1_000_000;
  const calls = { database: 0, store: 0 };
  const failing = { database: false, store: false };
  const changes: HealthChange[] = [];
  const probe = (dependency: 'database' | 'store') => async () => {
    calls[dependency]++;
    if (failing[dependency])
      throw new Error(`${dependency} refused`, { cause: new Error('ECONNREFUSED 127.0.0.1:5432') });
  };
  const health = new DependencyHealth({
    probes: { database: probe('database'), store: probe('store') },
    now: () => now,
    onChange: (change) => changes.push(change),
    cacheMs: options.cacheMs ?? 3000,
    recheckMs: options.recheckMs ?? 0,
  });
  return {
    health,
    calls,
    failing,
    changes,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('DependencyHealth', () => {
  it('probes each service at most once per cacheMs, however often asked, and one at a time', async () => {
    const t = setup();
    await Promise.all([t.health.check(), t.health.check(), t.health.check()]);
    expect(t.calls).toEqual({ database: 1, store: 1 });
    t.advance(2999);
    await t.health.check();
    expect(t.calls).toEqual({ database: 1, store: 1 });
    t.advance(1);
    expect((await t.health.check()).ok).toBe(true);
    expect(t.calls).toEqual({ database: 2, store: 2 });
  });

  it('tells each change once: down with its root cause, back up with how long it was away', async () => {
    const t = setup();
    await t.health.check();
    t.failing.store = true;
    t.advance(3000);
    const down = await t.health.check();
    expect(down).toMatchObject({ ok: false, database: { up: true }, store: { up: false } });
    expect(down.store.error).toBe('ECONNREFUSED 127.0.0.1:5432');
    for (let i = 0; i < 5; i++) {
      t.advance(3000);
      await t.health.check();
    }
    t.failing.store = false;
    t.advance(3000);
    expect((await t.health.check()).ok).toBe(true);
    expect(t.changes).toEqual([
      { dependency: 'store', up: false, error: 'ECONNREFUSED 127.0.0.1:5432' },
      { dependency: 'store', up: true, downMs: 18_000 },
    ]);
    expect(t.health.current().store.since).toBe(t.health.current().store.checkedAt);
  });

  it('an operation that found a service away marks it down at once, without a probe', async () => {
    const t = setup();
    t.health.observe('database', false, new Error('the lease database is unavailable'));
    expect(t.health.current()).toMatchObject({ ok: false, database: { up: false } });
    expect(t.calls.database).toBe(0);
    // Within cacheMs the observation stands; after it, a probe finds the database back.
    expect((await t.health.check()).database.up).toBe(false);
    t.advance(3000);
    expect((await t.health.check()).database.up).toBe(true);
    expect(t.changes.map((c) => [c.dependency, c.up])).toEqual([
      ['database', false],
      ['database', true],
    ]);
  });

  it('while a service is down it is probed every recheckMs, and its return told without a check', async () => {
    vi.useFakeTimers();
    const t = setup({ recheckMs: 2000 });
    t.failing.database = true;
    await t.health.check();
    expect(t.calls.database).toBe(1);
    await vi.advanceTimersByTimeAsync(2000);
    await vi.advanceTimersByTimeAsync(2000);
    expect(t.calls.database).toBe(3);
    t.failing.database = false;
    await vi.advanceTimersByTimeAsync(2000);
    expect(t.health.current().database.up).toBe(true);
    expect(t.changes.at(-1)).toMatchObject({ dependency: 'database', up: true });
    // Up again: no more probes unless asked.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(t.calls.database).toBe(4);
    t.health.close();
  });

  it('refuses a negative or fractional cacheMs or recheckMs', () => {
    const probes = { database: async () => {}, store: async () => {} };
    expect(() => new DependencyHealth({ probes, cacheMs: -1 })).toThrow(RangeError);
    expect(() => new DependencyHealth({ probes, recheckMs: 1.5 })).toThrow(RangeError);
  });
});

describe('translate: what clients are told of a failure below the accountant', () => {
  it('names the service away and when to retry, a busy database is no outage, and no key or SQL leaks', () => {
    const storeAway = translate(
      new BackendError('UNAVAILABLE', 'GET node-1/shares/aa/aaaa/0 failed after 5 attempts'),
    ) as AccountantError;
    expect(storeAway).toMatchObject({
      code: 'UNAVAILABLE',
      details: { dependency: 'store', retryAfterSeconds: 5 },
    });
    expect(storeAway.message).not.toMatch(/shares\/|node-1/);
    const databaseAway = translate(
      new LeaseDbError('UNAVAILABLE', 'the lease database is unavailable: insert into leases …'),
    ) as AccountantError;
    expect(databaseAway).toMatchObject({
      code: 'UNAVAILABLE',
      details: { dependency: 'database' },
    });
    expect(databaseAway.message).not.toMatch(/insert/);
    const busy = translate(new LeaseDbError('BUSY', 'database is locked')) as AccountantError;
    expect(busy).toMatchObject({ code: 'UNAVAILABLE', details: { retryAfterSeconds: 5 } });
    expect(busy.details.dependency).toBeUndefined();
    const missing = translate(
      new BackendError('NOT_FOUND', 'no share at /srv/ostrom/storage/shares/aa/aaaa/0'),
    ) as AccountantError;
    expect(missing).toMatchObject({ code: 'NOT_FOUND' });
    expect(missing.message).not.toMatch(/srv/);
  });
});

describe("describeHealthChange: the operator's log line", () => {
  it('a service away is an error saying clients get 503; back, a warning saying for how long', () => {
    expect(
      describeHealthChange({ dependency: 'database', up: false, error: 'ECONNREFUSED' }),
    ).toEqual({
      level: 'error',
      message: 'the lease database is unavailable: clients get 503 until it is back',
    });
    expect(describeHealthChange({ dependency: 'store', up: true, downMs: 12_345 })).toEqual({
      level: 'warn',
      message: 'the share store is back after 12.3 s',
    });
  });
});
