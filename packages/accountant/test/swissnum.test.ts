import fc from 'fast-check';
import { expect, it } from 'vitest';
import { accountIdForSwissnum, SwissnumBook, swissnumFor } from '../src/swissnum.js';

const SECRET = new Uint8Array(32).fill(3);

it('a SwissnumBook answers as the functions do, for issued swissnums and forgeries alike', () => {
  const book = new SwissnumBook(SECRET, 8);
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.integer({ min: 0, max: 20 }).map((id) => swissnumFor(SECRET, id)),
          fc.integer({ min: 0, max: 20 }).map((id) => `${swissnumFor(SECRET, id)}x`),
          fc
            .tuple(fc.integer({ min: 2, max: 20 }), fc.integer({ min: 2, max: 20 }))
            .map(([id, other]) => `${other}-${swissnumFor(SECRET, id).split('-')[1]}`),
          fc.string({ maxLength: 40 }),
        ),
        { maxLength: 40 },
      ),
      (swissnums) => {
        for (const swissnum of swissnums) {
          expect(book.accountIdFor(swissnum)).toBe(accountIdForSwissnum(SECRET, swissnum));
        }
        for (let id = 0; id < 20; id++) expect(book.swissnumFor(id)).toBe(swissnumFor(SECRET, id));
      },
    ),
  );
});

it('a SwissnumBook keeps at most its limit, however many ids clients name', () => {
  const book = new SwissnumBook(SECRET, 100);
  for (let id = 1; id <= 5000; id++) book.accountIdFor(`${id}-${'a'.repeat(32)}`);
  expect(book.size).toBe(100);
  // The oldest went first; a kept and a dropped id still answer right.
  expect(book.accountIdFor(swissnumFor(SECRET, 4999))).toBe(4999);
  expect(book.accountIdFor(swissnumFor(SECRET, 1))).toBe(1);
  expect(book.size).toBe(100);
});
