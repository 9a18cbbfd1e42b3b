import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ListPage, ObjectStore } from '../src/object-store.js';
import { createShareListing } from '../src/share-listing.js';

// The share listing's read-ahead on an object store held in memory (S3's listing rules: keys in
// order, pages of `pageSize`, StartAfter), where every request can be counted and a write can be
// slipped into the middle of a listing. listing.test.ts runs it against moto.

const ROOT = 'shares/';
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const PREFIXES = [...ALPHABET].flatMap((a) => [...ALPHABET].map((b) => a + b));
const dirOf = (prefix: string) => `${ROOT}${prefix}/`;

interface MemoryStore extends ObjectStore {
  readonly keys: Set<string>;
  lists: number;
  /** Runs before each page is read (a write racing with a listing). */
  beforePage?: () => void;
}

function memoryStore(pageSize: number): MemoryStore {
  const unused = () => {
    throw new Error('not used by the share listing');
  };
  const store: MemoryStore = {
    keys: new Set(),
    lists: 0,
    head: unused,
    get: unused,
    createMultipart: unused,
    uploadPart: unused,
    abortMultipart: unused,
    listMultipart: unused,
    async put(key) {
      store.keys.add(key);
    },
    async completeMultipart(key) {
      store.keys.add(key);
    },
    async delete(key) {
      store.keys.delete(key);
    },
    async deleteMany(keys) {
      for (const key of keys) store.keys.delete(key);
    },
    async *list(prefix, _delimiter, startAfter): AsyncGenerator<ListPage> {
      let from = startAfter ?? '';
      for (;;) {
        store.lists++;
        store.beforePage?.();
        const page = [...store.keys]
          .filter((key) => key.startsWith(prefix) && key > from)
          .sort()
          .slice(0, pageSize);
        yield { keys: page.map((key) => ({ key, sizeBytes: 0 })), prefixes: [] };
        if (page.length < pageSize) return;
        from = page.at(-1)!;
      }
    },
  };
  return store;
}

function setup(options: { pageSize?: number; readAheadMs?: number } = {}) {
  const store = memoryStore(options.pageSize ?? 1000);
  let now = 0;
  const clock = { advance: (ms: number) => (now += ms) };
  const listing = createShareListing(store, ROOT, {
    readAheadMs: options.readAheadMs ?? 5000,
    now: () => now,
  });
  return { store, watched: listing.watch(store), listing, clock };
}

const truth = (store: MemoryStore, dir: string) =>
  [...store.keys].filter((key) => key.startsWith(dir)).sort();

describe('share listing read-ahead', () => {
  // The crawler walks prefixes in base32 order (a–z, then 2–7), S3 lists in byte order (digits
  // first): going back from `az` to `a2` lists again, so a crawl of a small store takes a few
  // requests, not one.
  it('a crawl of the 1,024 prefixes of a small store takes a few requests, and lists every key', async () => {
    const { store, listing } = setup();
    for (const key of ['shares/aa/x/0', 'shares/ab/y/1', 'shares/zz/z/2', 'shares/q7/w/9']) {
      store.keys.add(key);
    }
    for (const prefix of PREFIXES) {
      expect(await listing.keysUnder(dirOf(prefix)), prefix).toEqual(truth(store, dirOf(prefix)));
    }
    expect(store.lists).toBeLessThanOrEqual(8);
  });

  it('with pages of 3, a crawl reads each page about once (not once per prefix)', async () => {
    const { store, listing } = setup({ pageSize: 3 });
    for (let i = 0; i < 60; i++) store.keys.add(`shares/${PREFIXES[i * 17]}/s${i}/0`);
    for (const prefix of PREFIXES) {
      expect(await listing.keysUnder(dirOf(prefix)), prefix).toEqual(truth(store, dirOf(prefix)));
    }
    // 60 keys in pages of 3 are 21 pages; without read-ahead, 1,024 requests.
    expect(store.lists).toBeLessThan(100);
  });

  it('readAheadMs 0 lists every prefix afresh', async () => {
    const { store, listing } = setup({ readAheadMs: 0 });
    store.keys.add('shares/aa/x/0');
    for (const prefix of PREFIXES.slice(0, 10)) await listing.keysUnder(dirOf(prefix));
    expect(store.lists).toBe(10);
  });

  it('a write or delete through the backend is seen by the next call; another writer after readAheadMs', async () => {
    const { store, watched, listing, clock } = setup();
    store.keys.add('shares/aa/x/0');
    await listing.keysUnder(dirOf('aa'));
    await watched.put('shares/zz/new/0', new Uint8Array());
    expect(await listing.keysUnder(dirOf('zz'))).toEqual(['shares/zz/new/0']);
    await watched.deleteMany(['shares/zz/new/0']);
    expect(await listing.keysUnder(dirOf('zz'))).toEqual([]);
    // Objects outside the shares root (state blobs) leave the read-ahead alone.
    const lists = store.lists;
    await listing.keysUnder(dirOf('ab'));
    await watched.put('state/backup', new Uint8Array());
    await listing.keysUnder(dirOf('ac'));
    expect(store.lists).toBe(lists + 1);
    // Another process's write: not seen while the read-ahead is fresh, seen once it is not.
    store.keys.add('shares/ad/other/3');
    expect(await listing.keysUnder(dirOf('ad'))).toEqual([]);
    clock.advance(5000);
    expect(await listing.keysUnder(dirOf('ad'))).toEqual(['shares/ad/other/3']);
  });

  it('a listing that a write raced with is not kept', async () => {
    const { store, watched, listing } = setup({ pageSize: 1 });
    store.keys.add('shares/aa/x/0');
    store.keys.add('shares/ab/y/0');
    let raced = false;
    store.beforePage = () => {
      if (raced) return;
      raced = true;
      // Written while the listing of `aa` is under way, under a prefix it will cover.
      void watched.put('shares/ac/late/0', new Uint8Array());
    };
    await listing.keysUnder(dirOf('aa'));
    store.beforePage = undefined;
    expect(await listing.keysUnder(dirOf('ac'))).toEqual(['shares/ac/late/0']);
  });

  it('property: with every write through the backend, each call lists exactly the keys there are', async () => {
    const key = fc
      .tuple(fc.constantFrom(...PREFIXES.slice(0, 6), 'zz'), fc.integer({ min: 0, max: 5 }))
      .map(([prefix, n]) => `shares/${prefix}/s${n}/0`);
    const op = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), key }),
      fc.record({ kind: fc.constant('delete' as const), key }),
      fc.record({
        kind: fc.constant('list' as const),
        prefix: fc.constantFrom(...PREFIXES.slice(0, 6), 'zz', 'zy'),
      }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 6000 }) }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(op, { maxLength: 60 }),
        async (pageSize, ops) => {
          const { store, watched, listing, clock } = setup({ pageSize });
          for (const o of ops) {
            if (o.kind === 'put') await watched.put(o.key, new Uint8Array());
            else if (o.kind === 'delete') await watched.delete(o.key);
            else if (o.kind === 'tick') clock.advance(o.ms);
            else
              expect(await listing.keysUnder(dirOf(o.prefix))).toEqual(
                truth(store, dirOf(o.prefix)),
              );
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
