import { ANONYMOUS_ACCOUNT_ID } from '@ostrom/leasedb';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { PREFIXES } from '../src/index.js';
import {
  bytes,
  describeMatrix,
  makeWorld,
  storageIndex,
  storeOutOfBand,
  upload,
  type World,
} from './setup.js';

const DAY = 86_400;
const INDEXES = Array.from({ length: 6 }, (_, i) => storageIndex(`p${i}`));

type Step =
  | { kind: 'upload'; si: number; shnum: number; size: number }
  | { kind: 'outOfBandAdd'; si: number; shnum: number; size: number }
  | { kind: 'outOfBandDelete'; si: number; shnum: number }
  | { kind: 'time'; days: number }
  | { kind: 'crawl' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('upload' as const),
    si: fc.nat({ max: 5 }),
    shnum: fc.nat({ max: 3 }),
    size: fc.integer({ min: 1, max: 300 }),
  }),
  fc.record({
    kind: fc.constant('outOfBandAdd' as const),
    si: fc.nat({ max: 5 }),
    shnum: fc.nat({ max: 3 }),
    size: fc.integer({ min: 1, max: 300 }),
  }),
  fc.record({
    kind: fc.constant('outOfBandDelete' as const),
    si: fc.nat({ max: 5 }),
    shnum: fc.nat({ max: 3 }),
  }),
  fc.record({ kind: fc.constant('time' as const), days: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('crawl' as const) }),
);

async function apply(world: World, s: Step): Promise<void> {
  const si = 'si' in s ? INDEXES[s.si]! : '';
  switch (s.kind) {
    case 'upload':
      if ((await world.backend.statShare(si, s.shnum)) || (await world.db.getShare(si, s.shnum))) {
        return;
      }
      await upload(world, ANONYMOUS_ACCOUNT_ID, si, s.shnum, bytes(s.size, s.shnum));
      return;
    case 'outOfBandAdd':
      if (await world.backend.statShare(si, s.shnum)) return;
      await storeOutOfBand(world.backend, si, s.shnum, bytes(s.size, 7));
      return;
    case 'outOfBandDelete':
      await world.backend.deleteShare(si, s.shnum);
      return;
    case 'time':
      world.clock.advance(s.days * DAY);
      return;
    case 'crawl':
      await world.crawler({ deletionGraceSeconds: 5 * DAY }).runOnce();
      return;
  }
}

describeMatrix(
  'crawler properties',
  (matrix) => {
    it('after any steps, one full cycle leaves the database and the store in agreement and usage equal to a recount', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { maxLength: 25 }), async (steps) => {
          const world = await makeWorld(matrix);
          for (const s of steps) await apply(world, s);
          await world.crawler({ deletionGraceSeconds: 5 * DAY }).runOnce();

          const stored = new Set<string>();
          const rows = new Map<string, string>();
          for (const prefix of new Set(
            PREFIXES.filter((p) => INDEXES.some((si) => si.startsWith(p))),
          )) {
            for (const set of await world.backend.listShareSets(prefix)) {
              for (const shnum of set.shnums) stored.add(`${set.storageIndex}/${shnum}`);
            }
            for (const row of await world.db.listSharesByPrefix(prefix)) {
              rows.set(`${row.storageIndex}/${row.shnum}`, row.state);
            }
          }
          // Every stored share has a STABLE row and every row a stored share (no upload is in
          // progress at the end).
          expect([...rows.values()].every((state) => state === 'stable')).toBe(true);
          expect([...rows.keys()].sort()).toEqual([...stored].sort());
          expect(await world.db.checkUsage()).toEqual([]);
        }),
        { numRuns: 25 },
      );
    }, 120_000);
  },
  (matrix) => matrix.dialect === 'sqlite' && matrix.backend === 'memory',
);
