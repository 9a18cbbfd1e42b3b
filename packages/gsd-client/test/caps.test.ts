import { base32Encode } from '@ostrom/protocol';
import { describe, expect, it } from 'vitest';
import {
  createWriteCap,
  formatIntroduction,
  GsdError,
  memorySlotServer,
  parseIntroduction,
  parseReadCap,
  parseWriteCap,
  READCAP_PREFIX,
  readCapOf,
  WRITECAP_PREFIX,
  writeCapFromSeed,
} from '../src/index.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof GsdError ? err.code : `not a GsdError: ${(err as Error).message}`;
  }
  return undefined;
}

/** Replaces the character at `i` with another of the base32 alphabet. */
function typo(text: string, i: number): string {
  const c = text[i]!;
  const other = c === 'a' ? 'b' : 'a';
  return text.slice(0, i) + other + text.slice(i + 1);
}

describe('caps', () => {
  it('createWriteCap() is gsd:w1: and 58 lowercase base32 characters, and parses back', () => {
    const w = createWriteCap();
    expect(w).toMatch(/^gsd:w1:[a-z2-7]{58}$/);
    const parsed = parseWriteCap(w);
    expect(parsed.seed).toHaveLength(32);
    expect(writeCapFromSeed(parsed.seed)).toBe(w);
    expect(parsed.storageIndex).toMatch(/^[a-z2-7]{26}$/);
  });

  it('readCapOf(writecap) is gsd:r1: with 109 characters, parses to the same storage index', () => {
    const w = createWriteCap();
    const r = readCapOf(w);
    expect(r).toMatch(/^gsd:r1:[a-z2-7]{109}$/);
    const read = parseReadCap(r);
    expect(read.verifyingKey).toHaveLength(32);
    expect(read.readKey).toHaveLength(32);
    expect(read.storageIndex).toBe(parseWriteCap(w).storageIndex);
    expect(readCapOf(w)).toBe(r);
  });

  it('distinct writecaps give distinct readcaps and storage indexes', () => {
    const a = parseWriteCap(createWriteCap());
    const b = parseWriteCap(createWriteCap());
    expect(a.readcap).not.toBe(b.readcap);
    expect(a.storageIndex).not.toBe(b.storageIndex);
  });

  it('a single-character typo anywhere in a cap is caught (checksum or alphabet)', () => {
    const w = createWriteCap();
    const r = readCapOf(w);
    for (let i = WRITECAP_PREFIX.length; i < w.length; i++) {
      expect(code(() => parseWriteCap(typo(w, i)))).toBe('BAD_CAP');
    }
    for (let i = READCAP_PREFIX.length; i < r.length; i++) {
      expect(code(() => parseReadCap(typo(r, i)))).toBe('BAD_CAP');
    }
  });

  it('two adjacent characters swapped are caught', () => {
    const r = readCapOf(createWriteCap());
    for (let i = READCAP_PREFIX.length; i < r.length - 1; i++) {
      if (r[i] === r[i + 1]) continue;
      const swapped = r.slice(0, i) + r[i + 1] + r[i] + r.slice(i + 2);
      expect(code(() => parseReadCap(swapped))).toBe('BAD_CAP');
    }
  });

  it('every malformed form is refused with BAD_CAP', () => {
    const w = createWriteCap();
    const r = readCapOf(w);
    const body = w.slice(WRITECAP_PREFIX.length);
    const bad: unknown[] = [
      '',
      'gsd:w1:',
      body,
      `GSD:W1:${body}`,
      `gsd:w2:${body}`,
      `gsd:w1:${body.toUpperCase()}`,
      `gsd:w1:${body}a`,
      `gsd:w1:${body.slice(1)}`,
      `gsd:w1:${body.slice(0, -1)}1`,
      `gsd:w1:${body.slice(0, -1)}=`,
      ` ${w}`,
      `${w} `,
      `${w}\n`,
      `gsd:w1:${body.slice(0, 20)} ${body.slice(21)}`,
      r, // a readcap is not a writecap
      `gsd:w1:${base32Encode(new Uint8Array(36))}`, // right length, wrong checksum
      42,
      undefined,
      null,
    ];
    for (const text of bad)
      expect(
        code(() => parseWriteCap(text as string)),
        String(text),
      ).toBe('BAD_CAP');
    const badRead: unknown[] = [
      w,
      r.slice(0, -1),
      `${r}a`,
      r.toUpperCase(),
      `gsd:r1:${'a'.repeat(109)}`,
      {},
    ];
    for (const text of badRead)
      expect(
        code(() => parseReadCap(text as string)),
        String(text),
      ).toBe('BAD_CAP');
    expect(code(() => readCapOf(r))).toBe('BAD_CAP');
  });

  it('non-zero spare bits in the last character are refused (one cap, one spelling)', () => {
    const w = createWriteCap();
    // 36 bytes = 288 bits in 58 characters: the last character holds 3 bits and 2 spare ones.
    const last = w.at(-1)!;
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
    const value = alphabet.indexOf(last);
    for (const flip of [1, 2, 3]) {
      const variant = `${w.slice(0, -1)}${alphabet[value ^ flip]}`;
      expect(code(() => parseWriteCap(variant))).toBe('BAD_CAP');
    }
  });

  it('writeCapFromSeed() refuses a seed that is not 32 bytes (TypeError)', () => {
    expect(() => writeCapFromSeed(new Uint8Array(31))).toThrow(TypeError);
  });
});

describe('introduction text', () => {
  const readcap = readCapOf(createWriteCap());
  const a = memorySlotServer().nurl;
  const b = memorySlotServer().nurl;

  it('formatIntroduction() and parseIntroduction() round-trip', () => {
    const text = formatIntroduction(readcap, [a, b]);
    expect(text).toBe(`${readcap},${a},${b}`);
    expect(parseIntroduction(text)).toEqual({ readcap, nurls: [a, b] });
  });

  it('parseIntroduction() refuses every malformed form with BAD_INTRODUCTION', () => {
    const writecap = createWriteCap();
    const bad = [
      '',
      readcap,
      `${readcap},`,
      `${readcap}, ${a}`,
      `${readcap},${a},`,
      `${readcap},${a},${a}`,
      `${writecap},${a}`,
      `${a},${readcap}`,
      `${readcap},pb://nothing`,
      `${readcap},${a.replace('#v=1', '')}`,
      `${readcap};${a}`,
    ];
    for (const text of bad)
      expect(
        code(() => parseIntroduction(text)),
        text,
      ).toBe('BAD_INTRODUCTION');
    expect(code(() => formatIntroduction(readcap, []))).toBe('BAD_INTRODUCTION');
  });
});
