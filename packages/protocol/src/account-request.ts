import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { decodeCbor, encodeCbor } from './cbor.js';
import { ProtocolError } from './errors.js';
import { base32Encode } from './storage-index.js';

/** The domain-separation string that opens every canonical account request. */
export const ACCOUNT_REQUEST_TAG = 'ostrom-account-request-v1';

/** What a client asks of one server when it wants an account (README "Accounting extension"). */
export interface AccountRequest {
  /** The id of the server asked, so the request cannot be replayed at another server. */
  serverId: string;
  /** The client's Ed25519 public key, 32 bytes; it names the account. */
  publicKey: Uint8Array;
  /** 1..64 characters, no control characters. */
  nickname: string;
  /** Unix seconds at signing; the server decides how old a request may be. */
  timestamp: number;
  /** 16..64 random bytes; the server rejects reuse. */
  nonce: Uint8Array;
}

/** A canonical account request and the Ed25519 signature over exactly those bytes. */
export interface SignedAccountRequest {
  /** The canonical CBOR of the request ({@link encodeAccountRequest}). */
  request: Uint8Array;
  /** 64 bytes. */
  signature: Uint8Array;
}

/** An Ed25519 key pair as raw bytes. */
export interface AccountKeyPair {
  /** The 32-byte seed (RFC 8032 private key). */
  privateKey: Uint8Array;
  /** The 32-byte public key. */
  publicKey: Uint8Array;
}

// DER prefixes that wrap a raw Ed25519 key as PKCS#8 / SPKI (RFC 8410), so node:crypto can use
// raw 32-byte keys without a JWK round trip.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
// Control characters (C0, DEL, C1) would let a nickname rewrite an operator's terminal or UI.
const CONTROL_CHARS = /\p{Cc}/u;

const MAX_SERVER_ID_CHARS = 256;

/** The reason `req` is not a valid account request, or undefined. */
function problem(req: AccountRequest): { field: string; range: boolean } | undefined {
  if (typeof req !== 'object' || req === null) return { field: 'request', range: false };
  const { serverId, publicKey, nickname, timestamp, nonce } = req;
  if (typeof serverId !== 'string') return { field: 'serverId', range: false };
  if (serverId.length < 1 || serverId.length > MAX_SERVER_ID_CHARS || CONTROL_CHARS.test(serverId))
    return { field: 'serverId', range: true };
  if (!(publicKey instanceof Uint8Array)) return { field: 'publicKey', range: false };
  if (publicKey.length !== 32) return { field: 'publicKey', range: true };
  if (typeof nickname !== 'string') return { field: 'nickname', range: false };
  const chars = [...nickname].length;
  if (chars < 1 || chars > 64 || CONTROL_CHARS.test(nickname))
    return { field: 'nickname', range: true };
  if (typeof timestamp !== 'number' || !Number.isInteger(timestamp))
    return { field: 'timestamp', range: false };
  if (timestamp < 0 || timestamp > Number.MAX_SAFE_INTEGER)
    return { field: 'timestamp', range: true };
  if (!(nonce instanceof Uint8Array)) return { field: 'nonce', range: false };
  if (nonce.length < 16 || nonce.length > 64) return { field: 'nonce', range: true };
  return undefined;
}

function assertRequest(req: AccountRequest): void {
  const p = problem(req);
  if (p === undefined) return;
  const message = `account request: invalid ${p.field}`;
  throw p.range ? new RangeError(message) : new TypeError(message);
}

/**
 * The canonical bytes of an account request: the CBOR array `[tag, serverId, publicKey,
 * nickname, timestamp, nonce]`. A fixed-order array has one encoding, unlike a map.
 */
export function encodeAccountRequest(req: AccountRequest): Uint8Array {
  assertRequest(req);
  return encodeCbor([
    ACCOUNT_REQUEST_TAG,
    req.serverId,
    req.publicKey,
    req.nickname,
    req.timestamp,
    req.nonce,
  ]);
}

/**
 * Decodes canonical account-request bytes without checking a signature; ProtocolError
 * `INVALID_ACCOUNT_REQUEST` for any other shape or a non-canonical encoding.
 */
export function decodeAccountRequest(bytes: Uint8Array): AccountRequest {
  let value: unknown;
  try {
    value = decodeCbor(bytes);
  } catch (cause) {
    throw new ProtocolError('INVALID_ACCOUNT_REQUEST', 'account request is not CBOR', { cause });
  }
  if (!Array.isArray(value) || value.length !== 6 || value[0] !== ACCOUNT_REQUEST_TAG) {
    throw new ProtocolError(
      'INVALID_ACCOUNT_REQUEST',
      `account request must be a 6-element array opening with "${ACCOUNT_REQUEST_TAG}"`,
    );
  }
  const req = {
    serverId: value[1],
    publicKey: value[2],
    nickname: value[3],
    timestamp: value[4],
    nonce: value[5],
  } as AccountRequest;
  const p = problem(req);
  if (p !== undefined) {
    throw new ProtocolError('INVALID_ACCOUNT_REQUEST', `account request: invalid ${p.field}`);
  }
  // Only one byte string may stand for a request, so a signature cannot be reused under a
  // different encoding of the same values (and server-side caches can key on the bytes).
  if (!equalBytes(encodeAccountRequest(req), bytes)) {
    throw new ProtocolError('INVALID_ACCOUNT_REQUEST', 'account request is not canonical CBOR');
  }
  return req;
}

/** Signs a request with an Ed25519 key (a KeyObject or a 32-byte seed) matching `req.publicKey`. */
export function signAccountRequest(
  req: AccountRequest,
  privateKey: KeyObject | Uint8Array,
): SignedAccountRequest {
  const key = toPrivateKey(privateKey);
  const request = encodeAccountRequest(req);
  if (!equalBytes(rawPublicKey(createPublicKey(key)), req.publicKey)) {
    throw new RangeError('the private key does not match the request public key');
  }
  return { request, signature: new Uint8Array(sign(null, request, key)) };
}

/**
 * Checks a signed account request and returns its content. ProtocolError
 * `INVALID_ACCOUNT_REQUEST` for a malformed request, `BAD_SIGNATURE` if the signature is not the
 * embedded key's over these exact bytes. Server id, freshness and nonce reuse are the server's.
 */
export function verifyAccountRequest(signed: SignedAccountRequest): AccountRequest {
  if (!(signed?.request instanceof Uint8Array) || !(signed.signature instanceof Uint8Array)) {
    throw new TypeError('a signed account request has Uint8Array request and signature');
  }
  const req = decodeAccountRequest(signed.request);
  if (signed.signature.length !== 64) {
    throw new ProtocolError('BAD_SIGNATURE', 'an Ed25519 signature is 64 bytes');
  }
  let ok = false;
  try {
    ok = verify(null, signed.request, publicKeyObject(req.publicKey), signed.signature);
  } catch (cause) {
    // A public key that is not a curve point fails here.
    throw new ProtocolError('BAD_SIGNATURE', 'the public key cannot verify', { cause });
  }
  if (!ok) throw new ProtocolError('BAD_SIGNATURE', 'the signature does not verify');
  return req;
}

/** A fresh Ed25519 key pair for an account. */
export function generateAccountKey(): AccountKeyPair {
  const privateKey = new Uint8Array(randomBytes(32));
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) };
}

/** The 32-byte public key of a 32-byte Ed25519 seed. */
export function publicKeyFromPrivate(seed: Uint8Array): Uint8Array {
  return rawPublicKey(createPublicKey(toPrivateKey(seed)));
}

/** The 64-byte Ed25519 signature of `message` by a 32-byte seed (account keys, GSD documents). */
export function signEd25519(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, toPrivateKey(seed)));
}

/** Whether `signature` is a valid Ed25519 signature of `message` by the raw 32-byte `publicKey`. */
export function verifyEd25519(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false; // not a point on the curve
  }
}

/** A short printable name for a public key (16 base32 chars of its SHA-256), for UIs and logs. */
export function accountKeyFingerprint(publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw new RangeError('an Ed25519 public key is 32 bytes');
  }
  return base32Encode(createHash('sha256').update(publicKey).digest()).slice(0, 16);
}

function toPrivateKey(key: KeyObject | Uint8Array): KeyObject {
  if (key instanceof Uint8Array) {
    if (key.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
    return createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519_PREFIX, key]),
      format: 'der',
      type: 'pkcs8',
    });
  }
  if (key?.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('expected an Ed25519 private KeyObject or a 32-byte seed');
  }
  return key;
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({
    key: Buffer.concat([SPKI_ED25519_PREFIX, raw]),
    format: 'der',
    type: 'spki',
  });
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
