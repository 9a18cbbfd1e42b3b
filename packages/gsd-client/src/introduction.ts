import { parseNurl } from '@ostrom/protocol';
import { parseReadCap } from './caps.js';
import { GsdError } from './errors.js';

/** An introduction text, taken apart. */
export interface Introduction {
  readcap: string;
  nurls: string[];
}

/**
 * Parses `<directory readcap>,<nurl>[,<nurl>...]`: no spaces, at least one NURL, each one
 * parsed; GsdError `BAD_INTRODUCTION` (with the cap's or NURL's error as `cause`) otherwise.
 * Neither a readcap nor a NURL contains a comma, so the split is unambiguous.
 */
export function parseIntroduction(text: string): Introduction {
  if (typeof text !== 'string') throw new GsdError('BAD_INTRODUCTION', 'an introduction is text');
  const parts = text.split(',');
  const [readcap, ...nurls] = parts;
  if (readcap === undefined || nurls.length === 0) {
    throw new GsdError('BAD_INTRODUCTION', 'an introduction is <readcap>,<nurl>[,<nurl>...]');
  }
  try {
    parseReadCap(readcap);
  } catch (cause) {
    throw new GsdError('BAD_INTRODUCTION', `its readcap is not one: ${(cause as Error).message}`, {
      cause,
    });
  }
  for (const [i, nurl] of nurls.entries()) {
    try {
      parseNurl(nurl);
    } catch (cause) {
      throw new GsdError('BAD_INTRODUCTION', `NURL ${i + 1} is not a storage NURL`, { cause });
    }
  }
  if (new Set(nurls).size !== nurls.length) {
    throw new GsdError('BAD_INTRODUCTION', 'a NURL appears twice');
  }
  return { readcap, nurls };
}

/** Formats an introduction text; the same checks as {@link parseIntroduction}. */
export function formatIntroduction(readcap: string, nurls: readonly string[]): string {
  const text = [readcap, ...nurls].join(',');
  parseIntroduction(text);
  return text;
}
