import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSelfSignedCertificate, spkiHash } from '../src/certificate.js';
import { formatFurl, formatNurl, parseFurl, parseNurl, tubIdFromFurl } from '../src/nurl.js';

const PIN = 'BYiY2VnxOz7H4t_9mTTOZTS5y2aAHd8cis6h4Tvgz8g';
const NURL = `pb://${PIN}@127.0.0.1:48320/wppkyi6olstvdr5gotk5m7vy3cc5td3i#v=1`;
const code = (c: string) => expect.objectContaining({ code: c });

describe('NURLs', () => {
  it('parseNurl takes the servers.yaml NURL apart', () => {
    expect(parseNurl(NURL)).toEqual({
      spkiHash: PIN,
      host: '127.0.0.1',
      port: 48320,
      swissnum: 'wppkyi6olstvdr5gotk5m7vy3cc5td3i',
      version: 1,
      scheme: 'pb',
    });
    expect(formatNurl(parseNurl(NURL))).toBe(NURL);
  });

  it('parseNurl handles IPv6 and pb+tor', () => {
    const v6 = `pb://${PIN}@[::1]:443/abc#v=1`;
    expect(parseNurl(v6).host).toBe('::1');
    expect(formatNurl(parseNurl(v6))).toBe(v6);
    const tor = `pb+tor://${PIN}@xyz.onion:80/abc#v=1`;
    expect(parseNurl(tor).scheme).toBe('pb+tor');
  });

  it('parseNurl refuses malformed NURLs', () => {
    for (const bad of [
      NURL.replace('#v=1', ''),
      NURL.replace('#v=1', '#v=2'),
      NURL.replace(':48320', ':0'),
      NURL.replace(':48320', ':65536'),
      NURL.replace(PIN, PIN.slice(1)),
      NURL.replace(PIN, `${PIN.slice(0, 42)}h`), // non-zero padding bits
      NURL.replace('pb://', 'https://'),
      `pb://${PIN}@[127.0.0.1]:1/a#v=1`,
    ]) {
      expect(() => parseNurl(bad)).toThrow(code('INVALID_NURL'));
    }
  });

  it('fURLs: format, parse and tubIdFromFurl', () => {
    const furl =
      'pb://sjridoscmwnarh4fsiufg2eq76fqtlmz@tcp:127.0.0.1:1/wppkyi6olstvdr5gotk5m7vy3cc5td3i';
    const parsed = parseFurl(furl);
    expect(parsed).toEqual({
      tubId: 'sjridoscmwnarh4fsiufg2eq76fqtlmz',
      hints: ['tcp:127.0.0.1:1'],
      swissnum: 'wppkyi6olstvdr5gotk5m7vy3cc5td3i',
    });
    expect(formatFurl(parsed)).toBe(furl);
    expect(tubIdFromFurl(furl)).toBe('sjridoscmwnarh4fsiufg2eq76fqtlmz');
    expect(formatFurl({ ...parsed, hints: ['tcp:a:1', 'tor:b.onion:2'] })).toBe(
      'pb://sjridoscmwnarh4fsiufg2eq76fqtlmz@tcp:a:1,tor:b.onion:2/wppkyi6olstvdr5gotk5m7vy3cc5td3i',
    );
    expect(() => parseFurl('pb://short@h:1/x')).toThrow(code('INVALID_NURL'));
    expect(() => formatFurl({ ...parsed, tubId: 'X' })).toThrow(TypeError);
  });
});

describe('certificates', () => {
  it('createSelfSignedCertificate makes a P-256 certificate whose pin spkiHash recomputes', () => {
    const now = Date.UTC(2026, 0, 1);
    const c = createSelfSignedCertificate({ commonName: 'gbs-proto', validityDays: 30, now });
    const x = new X509Certificate(c.certPem);
    expect(x.subject).toBe('CN=gbs-proto');
    expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(x.verify(x.publicKey)).toBe(true);
    expect(new Date(x.validTo).getTime()).toBe(now + 30 * 86_400_000);
    expect(c.spkiHash).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(spkiHash(c.certPem)).toBe(c.spkiHash);
    expect(spkiHash(new Uint8Array(x.raw))).toBe(c.spkiHash);
    expect(c.keyPem).toContain('BEGIN PRIVATE KEY');
  });

  it('createSelfSignedCertificate gives GeneralizedTime after 2049', () => {
    const c = createSelfSignedCertificate({ now: Date.UTC(2049, 6, 1), validityDays: 365 });
    expect(new Date(new X509Certificate(c.certPem).validTo).getUTCFullYear()).toBe(2050);
  });

  it('spkiHash(junk) is INVALID_CERTIFICATE', () => {
    expect(() => spkiHash('not a certificate')).toThrow(code('INVALID_CERTIFICATE'));
  });
});
