import fc from 'fast-check';
import { expect, it } from 'vitest';
import {
  type Account,
  AccountantError,
  type AccountantErrorCode,
  type AccountReadTestWriteOptions,
} from '../src/index.js';
import {
  bytes,
  describeMatrix,
  makeWorld,
  randomKey,
  secrets,
  storageIndex,
  type World,
} from './setup.js';

// A model-based test: random sequences of operations by three accounts over three storage
// indexes, checked step by step against a simple model of what Tahoe's rules say should happen,
// then against the invariants that tie the lease database to the backend.

const SIS = [0, 1, 2].map((i) => storageIndex(`prop-${i}`));
/** Immutable uploads use share numbers 0–2 and mutable slots 3–4, so the two never collide. */
const IMMUTABLE_SHNUMS = [0, 1, 2];
const MUTABLE_SHNUMS = [3, 4];
const UPLOAD_TIMEOUT = 30 * 60;
const ALICE_HARD_QUOTA = 250;
const writeEnabler = (si: number) => secrets(`we-${si}`).writeEnabler;
const BAD_WE = secrets('not the enabler').writeEnabler;

type Command =
  | {
      kind: 'allocate';
      acct: number;
      si: number;
      shnums: number[];
      size: number;
      chunks: number;
      seed: number;
    }
  | { kind: 'write'; pick: number; n: number }
  | { kind: 'abort'; pick: number }
  | { kind: 'lease'; acct: number; si: number }
  | {
      kind: 'rtw';
      acct: number;
      si: number;
      shnum: number;
      op: 'create' | 'overwrite' | 'truncate' | 'delete';
      offset: number;
      length: number;
      newLength: number;
      seed: number;
      badWe: boolean;
    }
  | { kind: 'status'; acct: number; frozen: boolean }
  | { kind: 'advance'; seconds: number };

const account = fc.integer({ min: 0, max: 2 });
const si = fc.integer({ min: 0, max: SIS.length - 1 });
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('allocate' as const),
      acct: account,
      si,
      shnums: fc.subarray(IMMUTABLE_SHNUMS, { minLength: 1 }),
      size: fc.integer({ min: 1, max: 128 }),
      chunks: fc.integer({ min: 1, max: 4 }),
      seed: fc.integer({ min: 0, max: 1000 }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      pick: fc.nat(),
      n: fc.integer({ min: 1, max: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lease' as const), acct: account, si }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('rtw' as const),
      acct: account,
      si,
      shnum: fc.constantFrom(...MUTABLE_SHNUMS),
      op: fc.constantFrom(
        'create' as const,
        'overwrite' as const,
        'truncate' as const,
        'delete' as const,
      ),
      offset: fc.integer({ min: 0, max: 64 }),
      length: fc.integer({ min: 1, max: 48 }),
      newLength: fc.integer({ min: 1, max: 64 }),
      seed: fc.integer({ min: 0, max: 1000 }),
      badWe: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('status' as const),
      acct: fc.constantFrom(1, 2),
      frozen: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      seconds: fc.integer({ min: 0, max: 2400 }),
    }),
  },
);

// ---------------------------------------------------------------------------- the model

interface ModelShare {
  readonly type: 'immutable' | 'mutable';
  data: Uint8Array;
  readonly writeEnabler?: Uint8Array;
}

interface ModelUpload {
  readonly si: number;
  readonly shnum: number;
  readonly acct: number;
  readonly data: Uint8Array;
  readonly secret: Uint8Array;
  /** Chunks still to write, in the (shuffled) order they will be written. */
  readonly chunks: { offset: number; end: number }[];
  lastActivityAt: number;
}

const key = (si: number, shnum: number) => `${si}/${shnum}`;

class Model {
  readonly shares = new Map<string, ModelShare>();
  readonly uploads = new Map<string, ModelUpload>();
  /** `si/shnum|acct` for every lease. */
  readonly leases = new Set<string>();
  readonly frozen = new Set<number>();

  sharesOf(si: number, type?: 'immutable' | 'mutable'): number[] {
    const out: number[] = [];
    for (const [k, share] of this.shares) {
      const [s, n] = k.split('/').map(Number);
      if (s === si && (type === undefined || share.type === type)) out.push(n!);
    }
    return out.sort((a, b) => a - b);
  }

  rowBytes(k: string): number {
    const share = this.shares.get(k);
    return share ? share.data.length : (this.uploads.get(k)?.data.length ?? 0);
  }

  /** The account's lease on every complete share of the index (not on uploads in progress). */
  leaseHeld(si: number, acct: number) {
    for (const shnum of this.sharesOf(si)) this.leases.add(`${key(si, shnum)}|${acct}`);
  }

  dropRow(k: string) {
    this.shares.delete(k);
    this.uploads.delete(k);
    for (const lease of [...this.leases]) if (lease.startsWith(`${k}|`)) this.leases.delete(lease);
  }

  usage(acct: number): { shares: number; bytes: number } {
    let shares = 0;
    let bytes = 0;
    for (const lease of this.leases) {
      const [k, a] = lease.split('|');
      if (Number(a) !== acct) continue;
      shares++;
      bytes += this.rowBytes(k!);
    }
    return { shares, bytes };
  }
}

function shuffledChunks(size: number, count: number, seed: number) {
  const bounds = [0];
  for (let i = 1; i < count; i++) bounds.push(Math.floor((size * i) / count));
  bounds.push(size);
  const chunks = [];
  for (let i = 0; i < count; i++) {
    if (bounds[i]! < bounds[i + 1]!) chunks.push({ offset: bounds[i]!, end: bounds[i + 1]! });
  }
  // A deterministic shuffle: chunks arrive in any order.
  let state = seed + 1;
  for (let i = chunks.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const j = state % (i + 1);
    [chunks[i], chunks[j]] = [chunks[j]!, chunks[i]!];
  }
  return chunks;
}

type Outcome = { ok: true; value: unknown } | { ok: false; code: AccountantErrorCode };

/** Runs an operation; anything but an AccountantError fails the property at once. */
async function attempt(fn: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    if (error instanceof AccountantError) return { ok: false, code: error.code };
    throw error;
  }
}

function expectOutcome(outcome: Outcome, code: AccountantErrorCode | undefined, what: string) {
  expect(outcome.ok ? undefined : outcome.code, what).toBe(code);
}

// ---------------------------------------------------------------------------- one run

async function run(
  world: World,
  ids: readonly number[],
  commands: readonly Command[],
  model: Model,
) {
  const { accountant, clock, db } = world;
  const facets: Account[] = ids.map((id) => accountant.account(id));
  const hardQuota = (acct: number) => (acct === 1 ? ALICE_HARD_QUOTA : null);

  for (const [step, cmd] of commands.entries()) {
    const what = `step ${step}: ${JSON.stringify(cmd)}`;
    switch (cmd.kind) {
      case 'allocate': {
        const s = secrets(`upload-${cmd.acct}-${cmd.seed}`);
        const outcome = await attempt(() =>
          facets[cmd.acct]!.allocate(SIS[cmd.si]!, {
            ...s,
            shareNumbers: cmd.shnums,
            allocatedSize: cmd.size,
          }),
        );
        if (model.frozen.has(cmd.acct)) {
          expectOutcome(outcome, 'FORBIDDEN', what);
          break;
        }
        const held = model.sharesOf(cmd.si);
        const allocated = [...new Set(cmd.shnums)]
          .sort((a, b) => a - b)
          .filter((n) => !model.shares.has(key(cmd.si, n)) && !model.uploads.has(key(cmd.si, n)));
        // The quota counts the bytes the allocation stores, not the held shares it leases (adding
        // a lease never counts against it); a refused allocation leases nothing.
        const quota = hardQuota(cmd.acct);
        if (
          allocated.length > 0 &&
          quota !== null &&
          model.usage(cmd.acct).bytes + allocated.length * cmd.size > quota
        ) {
          expectOutcome(outcome, 'QUOTA_EXCEEDED', what);
          break;
        }
        model.leaseHeld(cmd.si, cmd.acct);
        expectOutcome(outcome, undefined, what);
        expect(outcome.ok && outcome.value, what).toEqual({ alreadyHave: held, allocated });
        for (const shnum of allocated) {
          const k = key(cmd.si, shnum);
          model.uploads.set(k, {
            si: cmd.si,
            shnum,
            acct: cmd.acct,
            data: bytes(cmd.size, cmd.seed + shnum),
            secret: s.uploadSecret,
            chunks: shuffledChunks(cmd.size, cmd.chunks, cmd.seed),
            lastActivityAt: clock.now(),
          });
          model.leases.add(`${k}|${cmd.acct}`);
        }
        break;
      }

      case 'write': {
        const keys = [...model.uploads.keys()].sort();
        if (keys.length === 0) break;
        const k = keys[cmd.pick % keys.length]!;
        const upload = model.uploads.get(k)!;
        for (let i = 0; i < cmd.n && upload.chunks.length > 0; i++) {
          const chunk = upload.chunks[0]!;
          const outcome = await attempt(() =>
            facets[upload.acct]!.writeUpload(
              SIS[upload.si]!,
              upload.shnum,
              upload.secret,
              chunk.offset,
              upload.data.subarray(chunk.offset, chunk.end),
            ),
          );
          if (model.frozen.has(upload.acct)) {
            expectOutcome(outcome, 'FORBIDDEN', what);
            break;
          }
          expectOutcome(outcome, undefined, what);
          upload.chunks.shift();
          upload.lastActivityAt = clock.now();
          const complete = upload.chunks.length === 0;
          expect(outcome.ok && (outcome.value as { complete: boolean }).complete, what).toBe(
            complete,
          );
          if (complete) {
            model.uploads.delete(k);
            model.shares.set(k, { type: 'immutable', data: upload.data });
          }
        }
        break;
      }

      case 'abort': {
        const keys = [...model.uploads.keys()].sort();
        if (keys.length === 0) break;
        const k = keys[cmd.pick % keys.length]!;
        const upload = model.uploads.get(k)!;
        const outcome = await attempt(() =>
          facets[upload.acct]!.abortUpload(SIS[upload.si]!, upload.shnum, upload.secret),
        );
        // Aborting frees space and takes nothing: a frozen account may still do it.
        expectOutcome(outcome, undefined, what);
        model.dropRow(k);
        break;
      }

      case 'lease': {
        const s = secrets(`lease-${cmd.acct}`);
        const outcome = await attempt(() => facets[cmd.acct]!.addOrRenewLease(SIS[cmd.si]!, s));
        if (model.frozen.has(cmd.acct)) {
          expectOutcome(outcome, 'FORBIDDEN', what);
        } else if (model.sharesOf(cmd.si).length === 0) {
          expectOutcome(outcome, 'NOT_FOUND', what);
        } else {
          expectOutcome(outcome, undefined, what);
          model.leaseHeld(cmd.si, cmd.acct);
        }
        break;
      }

      case 'rtw': {
        const s = secrets(`rtw-${cmd.acct}`);
        const we = cmd.badWe ? BAD_WE : writeEnabler(cmd.si);
        const k = key(cmd.si, cmd.shnum);
        const write = {
          offset: cmd.op === 'create' ? 0 : cmd.offset,
          data: bytes(cmd.length, cmd.seed),
        };
        const vector =
          cmd.op === 'create'
            ? {
                test: [{ offset: 0, size: 1, specimen: new Uint8Array(0) }],
                write: [write],
                newLength: null,
              }
            : cmd.op === 'overwrite'
              ? { test: [], write: [write], newLength: null }
              : { test: [], write: [], newLength: cmd.op === 'delete' ? 0 : cmd.newLength };
        const request: AccountReadTestWriteOptions = {
          renewSecret: s.renewSecret,
          cancelSecret: s.cancelSecret,
          writeEnabler: we,
          testWriteVectors: new Map([[cmd.shnum, vector]]),
          readVector: [{ offset: 0, size: 4 }],
        };
        const outcome = await attempt(() => facets[cmd.acct]!.readTestWrite(SIS[cmd.si]!, request));
        if (model.frozen.has(cmd.acct)) {
          expectOutcome(outcome, 'FORBIDDEN', what);
          break;
        }
        const existing = model.sharesOf(cmd.si, 'mutable');
        const mismatch = existing.some((n) => {
          const enabler = model.shares.get(key(cmd.si, n))?.writeEnabler;
          return !enabler || !Buffer.from(enabler).equals(Buffer.from(we));
        });
        if (mismatch) {
          expectOutcome(outcome, 'BAD_WRITE_ENABLER', what);
          break;
        }
        const share = model.shares.get(k);
        const success = cmd.op !== 'create' || !share || share.data.length === 0;
        // What the slot should look like after the writes.
        let next: Uint8Array | undefined;
        if (cmd.op !== 'delete') {
          let data = share ? Uint8Array.from(share.data) : new Uint8Array(0);
          for (const w of vector.write) {
            if (w.offset + w.data.length > data.length) {
              const grown = new Uint8Array(w.offset + w.data.length);
              grown.set(data);
              data = grown;
            }
            data.set(w.data, w.offset);
          }
          if (vector.newLength !== null && vector.newLength < data.length) {
            data = data.slice(0, vector.newLength);
          }
          next = data;
        }
        const growth = (next?.length ?? 0) - (share?.data.length ?? 0);
        const quota = hardQuota(cmd.acct);
        if (
          success &&
          growth > 0 &&
          quota !== null &&
          model.usage(cmd.acct).bytes + growth > quota
        ) {
          expectOutcome(outcome, 'QUOTA_EXCEEDED', what);
          break;
        }
        expectOutcome(outcome, undefined, what);
        const result = outcome.ok
          ? (outcome.value as { success: boolean; data: Map<number, Uint8Array[]> })
          : undefined;
        expect(result?.success, what).toBe(success);
        // The read vector sees every existing mutable share, as it was before the writes.
        expect(result?.data, what).toEqual(
          new Map(existing.map((n) => [n, [model.shares.get(key(cmd.si, n))!.data.slice(0, 4)]])),
        );
        if (!success) break;
        if (next === undefined) {
          if (share) model.dropRow(k);
        } else if (share) {
          share.data = next;
        } else {
          model.shares.set(k, { type: 'mutable', data: next, writeEnabler: we });
        }
        // Tahoe renews the writer's lease only on the shares the request wrote.
        if (next !== undefined) model.leases.add(`${k}|${cmd.acct}`);
        break;
      }

      case 'status': {
        await accountant.setAccountStatus(ids[cmd.acct]!, cmd.frozen ? 'frozen' : 'normal');
        if (cmd.frozen) model.frozen.add(cmd.acct);
        else model.frozen.delete(cmd.acct);
        break;
      }

      case 'advance': {
        clock.advance(cmd.seconds);
        const cutoff = clock.now() - UPLOAD_TIMEOUT;
        const idle = [...model.uploads].filter(([, u]) => u.lastActivityAt <= cutoff);
        const result = await accountant.sweep();
        expect(result.uploadsTimedOut, what).toBe(idle.length);
        for (const [k] of idle) model.dropRow(k);
        break;
      }
    }
    expect(await db.checkUsage(), what).toEqual([]);
  }
}

/** The invariants that tie the database to the backend, and both to the model. */
async function checkInvariants(world: World, ids: readonly number[], model: Model) {
  const { backend, db } = world;
  expect(await db.checkUsage()).toEqual([]);
  const reader = world.accountant.account(ids[0]!);
  const fromLeases = new Map(ids.map((id) => [id, { shares: 0, bytes: 0 }]));
  for (const [i, si] of SIS.entries()) {
    const stored = await backend.listShares(si);
    const rows = await db.listShares(si);
    // STABLE rows are exactly the complete shares, with their sizes.
    expect(
      rows.filter((r) => r.state === 'stable').map((r) => [r.shnum, r.sharetype, r.usedBytes]),
    ).toEqual(stored.map((s) => [s.shnum, s.sharetype, s.sizeBytes]));
    expect(stored.map((s) => s.shnum)).toEqual(model.sharesOf(i));
    // COMING rows are exactly the uploads in progress.
    const coming = rows.filter((r) => r.state === 'coming');
    for (const row of coming) expect(await backend.getUpload(si, row.shnum)).toBeDefined();
    expect(coming.map((r) => key(i, r.shnum)).sort()).toEqual(
      [...model.uploads.keys()].filter((k) => k.startsWith(`${i}/`)).sort(),
    );
    expect(rows.filter((r) => r.state === 'going')).toEqual([]);
    // Leases, and usage recomputed from them and the backend's sizes.
    const leases = await db.listLeases(si);
    expect(leases.map((l) => `${key(i, l.shnum)}|${ids.indexOf(l.accountId)}`).sort()).toEqual(
      [...model.leases].filter((l) => l.startsWith(`${i}/`)).sort(),
    );
    for (const lease of leases) {
      const total = fromLeases.get(lease.accountId)!;
      const share = stored.find((s) => s.shnum === lease.shnum);
      total.shares++;
      total.bytes += share ? share.sizeBytes : model.uploads.get(key(i, lease.shnum))!.data.length;
    }
    // Reads return the model's bytes.
    for (const type of ['immutable', 'mutable'] as const) {
      expect(await reader.listShares(type, si)).toEqual(model.sharesOf(i, type));
      for (const shnum of model.sharesOf(i, type)) {
        expect((await reader.readShare(type, si, shnum)).data).toEqual(
          model.shares.get(key(i, shnum))!.data,
        );
      }
    }
  }
  for (const [index, id] of ids.entries()) {
    expect(await db.getAccountUsage(id)).toEqual(fromLeases.get(id));
    expect(fromLeases.get(id)).toEqual(model.usage(index));
  }
}

describeMatrix(
  'model-based properties',
  (matrix) => {
    const numRuns = matrix.dialect === 'postgres' ? 15 : 30;

    it('random operations by three accounts keep the database, the backend and usage in agreement', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(command, { minLength: 10, maxLength: 40, size: 'max' }),
          async (commands) => {
            const world = await makeWorld(matrix);
            const alice = await world.accountant.addAccount({
              publicKey: randomKey(),
              nickname: 'alice',
              hardQuotaBytes: ALICE_HARD_QUOTA,
            });
            const bob = await world.accountant.addAccount({
              publicKey: randomKey(),
              nickname: 'bob',
            });
            // Index 0 is the anonymous account (mode `enabled`: it may write).
            const ids = [0, alice.id, bob.id];
            const model = new Model();
            try {
              await run(world, ids, commands, model);
              await checkInvariants(world, ids, model);
            } finally {
              // Shrinking may build hundreds of worlds in one test: release each now rather
              // than at the test's end (closing again there is harmless).
              await world.accountant.stop();
              await world.db.close();
              await world.backend.close();
            }
          },
        ),
        { numRuns },
      );
    }, 120_000);
  },
  // The PostgreSQL/disk cell adds nothing the other three do not cover, at the highest cost.
  (matrix) => !(matrix.dialect === 'postgres' && matrix.backend === 'disk'),
);
