import { base32Decode, base32Encode, parseFurl, parseNurl } from '@ostrom/protocol';
import { z } from 'zod';
import { parseReadCap } from './caps.js';

/** The kinds of document. */
export const DOCUMENT_KINDS = ['directory', 'announcement'] as const;

export type DocumentKind = (typeof DOCUMENT_KINDS)[number];

/** One entry of a directory: an announcement's readcap and the operator's name for it. */
export interface DirectoryEntry {
  readcap: string;
  petname: string;
}

/** The body of a directory document. */
export interface DirectoryBody {
  announcements: DirectoryEntry[];
  /**
   * The grid's membership key (a raw Ed25519 public key, 32 bytes): grid invitations signed
   * with it are honoured by the servers whose operator opted in. Absent in directories made
   * before it existed, or whose holder has not made one.
   */
  membershipKey?: Uint8Array;
}

/** The body of an announcement document: what a Tahoe client needs to use one storage server. */
export interface AnnouncementBody {
  nickname: string;
  /** The Tahoe server id, `v0-` and 52 base32 characters; only names the server. */
  serverId: string;
  /** Its storage NURLs (at least one). */
  nurls: string[];
  /** The `anonymous-storage-FURL` Tahoe clients take the tub id from. */
  anonymousStorageFurl: string;
  /** `permutation-seed-base32`: sets the server's place in Tahoe's share placement. */
  permutationSeed: string;
  availableSpace: number;
  /** Software version, free text. */
  version: string;
}

/** The body type of each kind. */
export interface BodyOf {
  directory: DirectoryBody;
  announcement: AnnouncementBody;
}

/** Entries a directory may list; far more than a grid has servers. */
export const MAX_DIRECTORY_ENTRIES = 1000;
/** NURLs an announcement may carry. */
export const MAX_NURLS = 16;
/** Bytes of a directory's membership key (a raw Ed25519 public key). */
export const MEMBERSHIP_KEY_BYTES = 32;

// Printable: no control characters (C0, DEL, C1), so names are safe in a terminal and in YAML.
const PRINTABLE = /^[^\p{Cc}]*$/u;
const SERVER_ID = /^v0-[a-z2-7]{52}$/;

/** An integer 0 … 2^53 − 1 (seqnums, timestamps, sizes). */
export const uintSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** Petnames: 1–64 printable characters, no surrounding spaces. */
export const petnameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(PRINTABLE, 'no control characters')
  .refine((s) => s.trim() === s, 'no leading or trailing spaces');

const readcapSchema = z.string().refine((s) => {
  try {
    parseReadCap(s);
    return true;
  } catch {
    return false;
  }
}, 'not a readcap');

const nurlSchema = z.string().refine((s) => {
  try {
    parseNurl(s);
    return true;
  } catch {
    return false;
  }
}, 'not a NURL');

const furlSchema = z.string().refine((s) => {
  try {
    parseFurl(s);
    return true;
  } catch {
    return false;
  }
}, 'not a fURL');

const base32Schema = z
  .string()
  .min(1)
  .max(128)
  .refine((s) => base32Decode(s) !== undefined, 'not lowercase base32');

export const directoryBodySchema = z
  .object({
    announcements: z
      .array(z.object({ readcap: readcapSchema, petname: petnameSchema }))
      .max(MAX_DIRECTORY_ENTRIES),
    membershipKey: z
      .instanceof(Uint8Array, { message: `${MEMBERSHIP_KEY_BYTES} bytes` })
      .refine((b) => b.length === MEMBERSHIP_KEY_BYTES, `${MEMBERSHIP_KEY_BYTES} bytes`)
      .optional(),
  })
  .superRefine((body, ctx) => {
    const petnames = new Set<string>();
    const readcaps = new Set<string>();
    for (const [i, entry] of body.announcements.entries()) {
      if (petnames.has(entry.petname)) {
        ctx.addIssue({
          code: 'custom',
          message: 'petnames are unique',
          path: ['announcements', i],
        });
      }
      if (readcaps.has(entry.readcap)) {
        ctx.addIssue({
          code: 'custom',
          message: 'readcaps are unique',
          path: ['announcements', i],
        });
      }
      petnames.add(entry.petname);
      readcaps.add(entry.readcap);
    }
  });

export const announcementBodySchema = z.object({
  nickname: z.string().max(256).regex(PRINTABLE, 'no control characters'),
  serverId: z.string().regex(SERVER_ID, 'v0- and 52 base32 characters'),
  nurls: z.array(nurlSchema).min(1).max(MAX_NURLS),
  anonymousStorageFurl: furlSchema,
  permutationSeed: base32Schema,
  availableSpace: uintSchema,
  version: z.string().max(256).regex(PRINTABLE, 'no control characters'),
});

// Wire names of announcement fields (those of Tahoe's announcements where there is one).
const ANNOUNCEMENT_WIRE = {
  nickname: 'nickname',
  serverId: 'server-id',
  nurls: 'nurls',
  anonymousStorageFurl: 'anonymous-storage-FURL',
  permutationSeed: 'permutation-seed-base32',
  availableSpace: 'available-space',
  version: 'version',
} as const satisfies Record<keyof AnnouncementBody, string>;

/** The first issue of a failed zod parse, as `path: message`. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid';
  const path = issue.path.map(String).join('.');
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}

/**
 * Checks a body for its kind. Returns a normalised copy (unknown fields dropped) or the first
 * problem found.
 */
export function checkBody<K extends DocumentKind>(
  kind: K,
  body: unknown,
): { ok: true; body: BodyOf[K] } | { ok: false; problem: string } {
  const schema = kind === 'directory' ? directoryBodySchema : announcementBodySchema;
  const result = schema.safeParse(body);
  if (!result.success) return { ok: false, problem: describeIssue(result.error) };
  return { ok: true, body: result.data as BodyOf[K] };
}

// Wire name of the directory's membership key: base32 text, as the other binary values of
// bodies (`permutation-seed-base32`), not a CBOR byte string.
const MEMBERSHIP_KEY_WIRE = 'membership-key';

/** The CBOR value of a (checked) body: text-keyed maps, announcement fields by wire name. */
export function bodyToWire(kind: DocumentKind, body: DirectoryBody | AnnouncementBody): unknown {
  if (kind === 'directory') {
    const directory = body as DirectoryBody;
    return {
      announcements: directory.announcements.map((e) => ({
        readcap: e.readcap,
        petname: e.petname,
      })),
      ...(directory.membershipKey === undefined
        ? {}
        : { [MEMBERSHIP_KEY_WIRE]: base32Encode(directory.membershipKey) }),
    };
  }
  const announcement = body as AnnouncementBody;
  const wire: Record<string, unknown> = {};
  for (const [field, name] of Object.entries(ANNOUNCEMENT_WIRE)) {
    wire[name] = announcement[field as keyof AnnouncementBody];
  }
  return wire;
}

/** The body value (still unchecked) of decoded CBOR; maps with text keys become objects. */
export function bodyFromWire(kind: DocumentKind, value: unknown): unknown {
  const plain = toPlain(value);
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) return plain;
  const wire = plain as Record<string, unknown>;
  if (kind === 'directory') {
    // `membershipKey` is the API's name only: on the wire it is `membership-key`.
    const { [MEMBERSHIP_KEY_WIRE]: key, membershipKey: _apiName, ...rest } = wire;
    if (!Object.hasOwn(wire, MEMBERSHIP_KEY_WIRE)) return rest;
    // Anything but base32 text (a CBOR byte string too) becomes null, which the schema refuses.
    const decoded = typeof key === 'string' ? base32Decode(key) : undefined;
    return { ...rest, membershipKey: decoded ?? null };
  }
  const body: Record<string, unknown> = {};
  for (const [field, name] of Object.entries(ANNOUNCEMENT_WIRE)) {
    if (Object.hasOwn(wire, name)) body[field] = wire[name];
  }
  return body;
}

/** Maps whose keys are all strings become null-prototype objects, recursively. */
export function toPlain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toPlain);
  if (value instanceof Map) {
    if (![...value.keys()].every((k) => typeof k === 'string')) return value;
    const out: Record<string, unknown> = Object.create(null);
    for (const [k, v] of value) out[k as string] = toPlain(v);
    return out;
  }
  return value;
}
