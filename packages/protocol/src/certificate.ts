import {
  createHash,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { base64urlnopad } from '@scure/base';
import { ProtocolError } from './errors.js';

/** A server's TLS identity: PEM key and certificate, and the pin that goes into its NURL. */
export interface SelfSignedCertificate {
  keyPem: string;
  certPem: string;
  spkiHash: string;
}

/** Options of {@link createSelfSignedCertificate}. */
export interface SelfSignedCertificateOptions {
  /** Subject and issuer CN; Tahoe ignores it (default `ostrom`). */
  commonName?: string;
  /** Validity in days; Tahoe's client ignores dates too (default 3650). */
  validityDays?: number;
  /** The clock, for tests (default `Date.now()`). */
  now?: number;
}

/**
 * The SPKI pin of a certificate (PEM or DER): base64url without padding of SHA-256 over its DER
 * SubjectPublicKeyInfo (`http_common.get_spki_hash`); ProtocolError `INVALID_CERTIFICATE` if it
 * does not parse.
 */
export function spkiHash(certificate: string | Uint8Array): string {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(
      typeof certificate === 'string' ? certificate : Buffer.from(certificate),
    );
  } catch (cause) {
    throw new ProtocolError('INVALID_CERTIFICATE', 'not an X.509 certificate', { cause });
  }
  return spkiHashOfKey(cert.publicKey);
}

/** The SPKI pin of a public key. */
export function spkiHashOfKey(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return base64urlnopad.encode(createHash('sha256').update(der).digest());
}

/**
 * A fresh EC P-256 key and a self-signed certificate for it, as `openssl req -x509 -newkey ec`
 * makes (fact 2). Built with node:crypto and a few lines of DER: `@peculiar/x509` needs a
 * global `reflect-metadata` polyfill (through tsyringe), which a library must not install.
 */
export function createSelfSignedCertificate(
  options: SelfSignedCertificateOptions = {},
): SelfSignedCertificate {
  const commonName = options.commonName ?? 'ostrom';
  const validityDays = options.validityDays ?? 3650;
  const now = options.now ?? Date.now();
  if (typeof commonName !== 'string' || commonName.length < 1 || commonName.length > 64) {
    throw new RangeError('commonName must be 1..64 characters');
  }
  if (!Number.isInteger(validityDays) || validityDays < 1) {
    throw new RangeError('validityDays must be a positive integer');
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and minimal, as RFC 5280 §4.1.2.2 asks
  const name = seq(set(seq(OID_COMMON_NAME, tlv(0x0c, Buffer.from(commonName, 'utf8')))));
  // A day of slack for peers whose clocks run behind.
  const notBefore = new Date(now - 86_400_000);
  const notAfter = new Date(now + validityDays * 86_400_000);
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    ECDSA_WITH_SHA256,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    spki,
  );
  const signature = sign('sha256', tbs, privateKey); // DER ECDSA-Sig-Value
  const der = seq(tbs, ECDSA_WITH_SHA256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { keyPem, certPem, spkiHash: spkiHashOfKey(publicKey) };
}

// --- minimal DER ----------------------------------------------------------------------------

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let header: number[];
  if (n < 0x80) header = [tag, n];
  else {
    const len: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) len.unshift(v & 0xff);
    header = [tag, 0x80 | len.length, ...len];
  }
  return Buffer.concat([Buffer.from(header), content]);
}

function seq(...items: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

function set(...items: Buffer[]): Buffer {
  return tlv(0x31, Buffer.concat(items));
}

function integer(bigEndian: Buffer): Buffer {
  return tlv(0x02, bigEndian);
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  const year = date.getUTCFullYear();
  return year < 2050
    ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`, 'ascii'))
    : tlv(0x18, Buffer.from(`${iso}Z`, 'ascii'));
}

const OID_COMMON_NAME = Buffer.from('0603550403', 'hex'); // 2.5.4.3
const ECDSA_WITH_SHA256 = Buffer.from('300a06082a8648ce3d040302', 'hex'); // 1.2.840.10045.4.3.2
