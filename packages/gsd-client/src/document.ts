import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { decodeCbor, encodeCbor, signEd25519, verifyEd25519 } from '@ostrom/protocol';
import { z } from 'zod';
import {
  type BodyOf,
  bodyFromWire,
  bodyToWire,
  checkBody,
  DOCUMENT_KINDS,
  type DocumentKind,
  describeIssue,
  toPlain,
  uintSchema,
} from './bodies.js';
import type { ReadCap } from './caps.js';
import { type DocumentReason, GsdError } from './errors.js';

/** A verified, decrypted document. */
export interface GsdDocument<B> {
  kind: DocumentKind;
  /** Version number: each write raises it; readers never accept a lower one than seen. */
  seqnum: number;
  /** When it was written (Unix seconds, the writer's clock; informative only). */
  timestamp: number;
  body: B;
}

/** The keys a writer seals with: its Ed25519 seed, with the readcap's parts. */
export interface SealingKeys {
  seed: Uint8Array;
  verifyingKey: Uint8Array;
  readKey: Uint8Array;
}

/** Format version of a document. */
export const DOCUMENT_VERSION = 1;
/** Domain separation of everything signed or authenticated. */
const DOMAIN = 'ostrom-gsd-v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

const bytes = (length?: number) =>
  length === undefined
    ? z.instanceof(Uint8Array)
    : z.instanceof(Uint8Array).refine((b) => b.length === length, `${length} bytes`);

const documentSchema = z.strictObject({
  v: uintSchema,
  kind: z.string(),
  seqnum: uintSchema,
  timestamp: uintSchema,
  key: bytes(32),
  nonce: bytes(NONCE_BYTES),
  ciphertext: bytes().refine((b) => b.length >= TAG_BYTES, 'at least the 16-byte tag'),
  signature: bytes(64),
});

function associatedData(kind: DocumentKind, seqnum: number, timestamp: number): Uint8Array {
  return encodeCbor([DOMAIN, kind, seqnum, timestamp]);
}

function signedBytes(
  kind: DocumentKind,
  seqnum: number,
  timestamp: number,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array {
  return encodeCbor([DOMAIN, kind, seqnum, timestamp, nonce, ciphertext]);
}

function checkUint(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a safe integer ≥ 0`);
}

/**
 * Encrypts and signs a body into a document (CBOR). The body is checked first: GsdError
 * `BAD_BODY` if it does not have its kind's shape.
 */
export function sealDocument<K extends DocumentKind>(
  keys: SealingKeys,
  kind: K,
  seqnum: number,
  timestamp: number,
  body: BodyOf[K],
): Uint8Array {
  if (!DOCUMENT_KINDS.includes(kind)) throw new TypeError(`kind must be one of ${DOCUMENT_KINDS}`);
  checkUint('seqnum', seqnum);
  checkUint('timestamp', timestamp);
  const checked = checkBody(kind, body);
  if (!checked.ok) {
    throw new GsdError('BAD_BODY', `not a valid ${kind} body: ${checked.problem}`, {
      reason: 'body',
    });
  }
  const plaintext = encodeCbor(bodyToWire(kind, checked.body));
  const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
  const cipher = createCipheriv('aes-256-gcm', keys.readKey, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(kind, seqnum, timestamp));
  const ciphertext = new Uint8Array(
    Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]),
  );
  const signature = signEd25519(keys.seed, signedBytes(kind, seqnum, timestamp, nonce, ciphertext));
  return encodeCbor({
    v: DOCUMENT_VERSION,
    kind,
    seqnum,
    timestamp,
    key: keys.verifyingKey,
    nonce,
    ciphertext,
    signature,
  });
}

function refuse(reason: DocumentReason, message: string, cause?: unknown): never {
  throw new GsdError('BAD_DOCUMENT', message, { reason, cause });
}

/**
 * Verifies and decrypts a document for a readcap. Checks, in this order: CBOR, shape, version,
 * kind, `key` equal to the readcap's verifying key, signature, decryption, body. GsdError
 * `BAD_DOCUMENT` (or `BAD_BODY`) with `reason` naming the first check that failed.
 */
export function openDocument<K extends DocumentKind>(
  bytesIn: Uint8Array,
  readcap: Pick<ReadCap, 'verifyingKey' | 'readKey'>,
  kind: K,
): GsdDocument<BodyOf[K]> {
  let decoded: unknown;
  try {
    decoded = decodeCbor(bytesIn);
  } catch (cause) {
    refuse('cbor', 'the document is not well-formed CBOR', cause);
  }
  const parsed = documentSchema.safeParse(toPlain(decoded));
  if (!parsed.success) {
    refuse('shape', `not a document: ${describeIssue(parsed.error)}`);
  }
  const doc = parsed.data;
  if (doc.v !== DOCUMENT_VERSION) refuse('version', `unsupported document version ${doc.v}`);
  if (doc.kind !== kind) refuse('kind', `expected a ${kind}, found "${doc.kind.slice(0, 32)}"`);
  if (!Buffer.from(doc.key).equals(Buffer.from(readcap.verifyingKey))) {
    refuse('key', "signed by another key than the readcap's");
  }
  const message = signedBytes(kind, doc.seqnum, doc.timestamp, doc.nonce, doc.ciphertext);
  if (!verifyEd25519(readcap.verifyingKey, message, doc.signature)) {
    refuse('signature', 'the signature does not verify');
  }
  let plaintext: Buffer;
  try {
    const split = doc.ciphertext.length - TAG_BYTES;
    const decipher = createDecipheriv('aes-256-gcm', readcap.readKey, doc.nonce, {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(associatedData(kind, doc.seqnum, doc.timestamp));
    decipher.setAuthTag(doc.ciphertext.subarray(split));
    plaintext = Buffer.concat([
      decipher.update(doc.ciphertext.subarray(0, split)),
      decipher.final(),
    ]);
  } catch (cause) {
    refuse('decrypt', 'the ciphertext does not decrypt with the read key', cause);
  }
  let value: unknown;
  try {
    value = decodeCbor(new Uint8Array(plaintext));
  } catch (cause) {
    throw new GsdError('BAD_BODY', 'the body is not CBOR', { reason: 'body', cause });
  }
  const checked = checkBody(kind, bodyFromWire(kind, value));
  if (!checked.ok) {
    throw new GsdError('BAD_BODY', `not a valid ${kind} body: ${checked.problem}`, {
      reason: 'body',
    });
  }
  return { kind, seqnum: doc.seqnum, timestamp: doc.timestamp, body: checked.body };
}
