import {
  createHash,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  Certificate,
  Name,
  RelativeDistinguishedName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';
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
 * makes (docs/TAHOE-COMPATIBILITY.md fact 2). node:crypto makes the key and the signature;
 * `@peculiar/asn1-x509` encodes the X.509 structures synchronously (its `Time` picks UTCTime
 * through 2049, GeneralizedTime after, RFC 5280 §4.1.2.5). Not `@peculiar/x509`: it needs a
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
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and minimal, as RFC 5280 §4.1.2.2 asks
  const name = new Name([
    new RelativeDistinguishedName([
      new AttributeTypeAndValue({
        type: OID_COMMON_NAME,
        value: new AttributeValue({ utf8String: commonName }),
      }),
    ]),
  ]);
  const signatureAlgorithm = new AlgorithmIdentifier({ algorithm: OID_ECDSA_WITH_SHA256 });
  const tbsCertificate = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array(serial).buffer, // a copy: randomBytes may share a pool
    signature: signatureAlgorithm,
    issuer: name,
    // A day of slack for peers whose clocks run behind.
    validity: new Validity({
      notBefore: new Date(now - 86_400_000),
      notAfter: new Date(now + validityDays * 86_400_000),
    }),
    subject: name,
    subjectPublicKeyInfo: AsnConvert.parse(
      publicKey.export({ type: 'spki', format: 'der' }),
      SubjectPublicKeyInfo,
    ),
  });
  const tbs = Buffer.from(AsnConvert.serialize(tbsCertificate));
  const signature = sign('sha256', tbs, privateKey); // DER ECDSA-Sig-Value
  const certificate = new Certificate({
    tbsCertificate,
    signatureAlgorithm,
    signatureValue: new Uint8Array(signature).buffer,
  });
  const certPem = new X509Certificate(Buffer.from(AsnConvert.serialize(certificate))).toString();
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { keyPem, certPem, spkiHash: spkiHashOfKey(publicKey) };
}

const OID_COMMON_NAME = '2.5.4.3';
const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
