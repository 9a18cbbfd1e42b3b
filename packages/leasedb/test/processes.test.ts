import { expect, it } from 'vitest';
import { describeEachDialect, manualClock, storageIndex } from './setup.js';

describeEachDialect('server processes and upload owners', (dialect) => {
  it('a heartbeat registers a process once and then only moves its heartbeat and url', async () => {
    const clock = manualClock(1_000);
    const db = await dialect.open({ now: clock.now });
    await db.heartbeatProcess('p-1', 'https://127.0.0.1:3457');
    clock.advance(30);
    await db.heartbeatProcess('p-1', 'https://127.0.0.1:3458');
    await db.heartbeatProcess('p-2', null);
    expect(await db.listProcesses()).toEqual([
      { id: 'p-1', url: 'https://127.0.0.1:3458', startedAt: 1_000, heartbeatAt: 1_030 },
      { id: 'p-2', url: null, startedAt: 1_030, heartbeatAt: 1_030 },
    ]);
  });

  it('aliveSince leaves out processes not heard from since; removeProcess forgets one', async () => {
    const clock = manualClock(1_000);
    const db = await dialect.open({ now: clock.now });
    await db.heartbeatProcess('old', null);
    clock.advance(100);
    await db.heartbeatProcess('new', null);
    expect((await db.listProcesses({ aliveSince: 1_050 })).map((p) => p.id)).toEqual(['new']);
    expect(await db.removeProcess('old')).toBe(true);
    expect(await db.removeProcess('old')).toBe(false);
    expect((await db.listProcesses()).map((p) => p.id)).toEqual(['new']);
  });

  it('refuses malformed process ids and urls before any statement', async () => {
    const db = await dialect.open();
    for (const id of ['', 'a b', 'x'.repeat(65), 'é', 7]) {
      await expect(db.heartbeatProcess(id as string, null)).rejects.toThrow(TypeError);
    }
    await expect(db.heartbeatProcess('p', 'not a url')).rejects.toThrow(TypeError);
    await expect(
      db.addComingShares({
        storageIndex: storageIndex(1),
        sharetype: 'immutable',
        accountId: 0,
        shares: [{ shnum: 0, usedBytes: 10 }],
        uploadProcess: 'no spaces allowed',
      }),
    ).rejects.toThrow(TypeError);
    expect(await db.listShares(storageIndex(1))).toEqual([]);
  });

  it('a COMING share names the process holding its upload until it becomes STABLE', async () => {
    const db = await dialect.open();
    const si = storageIndex(2);
    const [coming] = await db.addComingShares({
      storageIndex: si,
      sharetype: 'immutable',
      accountId: 0,
      shares: [{ shnum: 3, usedBytes: 100 }],
      uploadProcess: 'p-1',
    });
    expect(coming?.uploadProcess).toBe('p-1');
    expect((await db.listComingShares())[0]?.uploadProcess).toBe('p-1');
    const stable = await db.markStable(si, 3, 100);
    expect(stable.uploadProcess).toBeNull();
    expect((await db.getShare(si, 3))?.uploadProcess).toBeNull();
  });
});
