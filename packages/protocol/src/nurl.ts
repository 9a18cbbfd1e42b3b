import { base64urlnopad } from '@scure/base';
import { ProtocolError } from './errors.js';

/** NURL schemes: `pb` for TCP, `pb+tor` for onion hosts (Tahoe `docs/specifications/url.rst`). */
export const NURL_SCHEMES = ['pb', 'pb+tor'] as const;

export type NurlScheme = (typeof NURL_SCHEMES)[number];

/** A storage NURL `pb://<spki-hash>@<host>:<port>/<swissnum>#v=1`, taken apart. */
export interface ParsedNurl {
  /** base64url (no padding) of SHA-256 of the server certificate's DER SubjectPublicKeyInfo. */
  spkiHash: string;
  /** A DNS name or IPv4 address, or an IPv6 address without its brackets. */
  host: string;
  port: number;
  swissnum: string;
  /** The only version Tahoe's client accepts (`StorageClientFactory` asserts it). */
  version: 1;
  scheme: NurlScheme;
}

// The pin is 43 base64url chars (256 bits; `url.rst`'s "38 bytes" is wrong:
// docs/TAHOE-COMPATIBILITY.md fact 50).
const NURL =
  /^(pb|pb\+tor):\/\/([A-Za-z0-9_-]{43})@(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/([A-Za-z0-9._~-]+)#v=1$/;
const SWISSNUM = /^[A-Za-z0-9._~-]+$/;
const HOST = /^(?:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*|[A-Za-z0-9.-]+)$/;

/** Whether `s` is a well-formed SPKI pin: 43 base64url chars encoding exactly 32 bytes. */
export function isSpkiHash(s: unknown): s is string {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(s)) return false;
  try {
    return base64urlnopad.decode(s).length === 32;
  } catch {
    return false;
  }
}

function checkPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

/** Parses a storage NURL; ProtocolError `INVALID_NURL` for anything else. */
export function parseNurl(s: string): ParsedNurl {
  const m = NURL.exec(typeof s === 'string' ? s : '');
  if (m === null)
    throw new ProtocolError('INVALID_NURL', 'not a pb://<pin>@<host>:<port>/<swissnum>#v=1 NURL');
  const [, scheme, spkiHash, rawHost, rawPort, swissnum] = m as unknown as [
    string,
    NurlScheme,
    string,
    string,
    string,
    string,
  ];
  const port = Number(rawPort);
  if (!checkPort(port)) throw new ProtocolError('INVALID_NURL', 'port must be 1..65535');
  if (!isSpkiHash(spkiHash)) throw new ProtocolError('INVALID_NURL', 'bad SPKI hash');
  const bracketed = rawHost.startsWith('[');
  const host = bracketed ? rawHost.slice(1, -1) : rawHost;
  if (bracketed && !host.includes(':')) {
    throw new ProtocolError('INVALID_NURL', 'brackets are only for IPv6 hosts');
  }
  return { spkiHash, host, port, swissnum, version: 1, scheme };
}

/** Formats a NURL (IPv6 hosts get brackets); TypeError/RangeError for parts that cannot form one. */
export function formatNurl(
  parts: Omit<ParsedNurl, 'version' | 'scheme'> & Partial<ParsedNurl>,
): string {
  const scheme = parts.scheme ?? 'pb';
  if (!NURL_SCHEMES.includes(scheme)) throw new TypeError('scheme must be pb or pb+tor');
  if (!isSpkiHash(parts.spkiHash)) throw new TypeError('spkiHash must be a 43-char base64url pin');
  if (typeof parts.host !== 'string' || !HOST.test(parts.host)) throw new TypeError('bad host');
  if (!checkPort(parts.port)) throw new RangeError('port must be 1..65535');
  if (typeof parts.swissnum !== 'string' || !SWISSNUM.test(parts.swissnum)) {
    throw new TypeError('bad swissnum');
  }
  const host = parts.host.includes(':') ? `[${parts.host}]` : parts.host;
  return `${scheme}://${parts.spkiHash}@${host}:${parts.port}/${parts.swissnum}#v=1`;
}

/** A Foolscap fURL `pb://<tubid>@<hint>,<hint>/<swissnum>`, taken apart. */
export interface ParsedFurl {
  /** 32 chars of lowercase base32 (20 bytes); seeds every client lease secret (fact 13). */
  tubId: string;
  /** Connection hints such as `tcp:127.0.0.1:1` or `tor:xyz.onion:80`. */
  hints: string[];
  swissnum: string;
}

const TUB_ID = /^[a-z2-7]{32}$/;
const HINT = /^[^,/@\s]+$/;
const FURL = /^pb:\/\/([a-z2-7]{32})@([^/\s]*)\/([A-Za-z0-9._~-]+)$/;

/**
 * Formats the fURL a storage server announces as `anonymous-storage-FURL`. Over HTTP only its
 * tub id matters (clients derive lease secrets and write enablers from it); hints are never
 * dialled (fact 13).
 */
export function formatFurl(parts: ParsedFurl): string {
  if (typeof parts.tubId !== 'string' || !TUB_ID.test(parts.tubId)) {
    throw new TypeError('tubId must be 32 chars of lowercase base32');
  }
  if (
    !Array.isArray(parts.hints) ||
    parts.hints.some((h) => typeof h !== 'string' || !HINT.test(h))
  ) {
    throw new TypeError('hints must be strings without , / @ or spaces');
  }
  if (typeof parts.swissnum !== 'string' || !SWISSNUM.test(parts.swissnum)) {
    throw new TypeError('bad swissnum');
  }
  return `pb://${parts.tubId}@${parts.hints.join(',')}/${parts.swissnum}`;
}

/** Parses a fURL; ProtocolError `INVALID_NURL` if it is not one. */
export function parseFurl(s: string): ParsedFurl {
  const m = FURL.exec(typeof s === 'string' ? s : '');
  if (m === null)
    throw new ProtocolError('INVALID_NURL', 'not a pb://<tubid>@<hints>/<swissnum> fURL');
  const hints = m[2] === '' ? [] : m[2]!.split(',');
  if (hints.some((h) => !HINT.test(h))) throw new ProtocolError('INVALID_NURL', 'bad hint');
  return { tubId: m[1]!, hints, swissnum: m[3]! };
}

/**
 * The tub id of a fURL, found as Tahoe's `storage_client._parse_announcement` does (the word
 * after `pb://`); ProtocolError `INVALID_NURL` if there is none.
 */
export function tubIdFromFurl(furl: string): string {
  return parseFurl(furl).tubId;
}
