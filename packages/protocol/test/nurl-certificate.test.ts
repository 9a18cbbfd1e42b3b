import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
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

  it('createSelfSignedCertificate verifies with its own key and has exactly the asked validity', () => {
    const DAY = 86_400_000;
    for (const [now, validityDays] of [
      [Date.UTC(2026, 0, 1, 12, 34, 56), 30],
      [Date.UTC(2030, 5, 15, 1, 2, 3), 1],
      [Date.UTC(2049, 6, 1), 365],
    ] as const) {
      const c = createSelfSignedCertificate({ now, validityDays });
      const x = new X509Certificate(c.certPem);
      expect(x.verify(x.publicKey)).toBe(true);
      expect(x.verify(createPublicKey(c.keyPem))).toBe(true);
      expect(x.checkPrivateKey(createPrivateKey(c.keyPem))).toBe(true);
      expect(x.subject).toBe('CN=ostrom');
      expect(x.issuer).toBe('CN=ostrom');
      // One day of slack before `now`, `validityDays` after it.
      expect(new Date(x.validFrom).getTime()).toBe(now - DAY);
      expect(new Date(x.validTo).getTime()).toBe(now + validityDays * DAY);
    }
    // X.509 times have whole seconds: milliseconds are dropped, never rounded up.
    const x = new X509Certificate(
      createSelfSignedCertificate({ now: Date.UTC(2026, 0, 1, 0, 0, 0, 999), validityDays: 2 })
        .certPem,
    );
    expect(new Date(x.validFrom).getTime()).toBe(Date.UTC(2025, 11, 31));
    expect(new Date(x.validTo).getTime()).toBe(Date.UTC(2026, 0, 3));
  });

  it('createSelfSignedCertificate encodes UTCTime through 2049 and GeneralizedTime after', () => {
    const raw = (now: number, validityDays: number) =>
      Buffer.from(
        new X509Certificate(createSelfSignedCertificate({ now, validityDays }).certPem).raw,
      );
    const utc = (s: string) => Buffer.concat([Buffer.from([0x17, s.length]), Buffer.from(s)]);
    const gen = (s: string) => Buffer.concat([Buffer.from([0x18, s.length]), Buffer.from(s)]);
    // notBefore 2049-06-30 (UTCTime), notAfter 2050-07-01 (GeneralizedTime, RFC 5280 §4.1.2.5).
    const across = raw(Date.UTC(2049, 6, 1), 365);
    expect(across.includes(utc('490630000000Z'))).toBe(true);
    expect(across.includes(gen('20500701000000Z'))).toBe(true);
    // The boundary: the last second of 2049 is UTCTime, the first of 2050 GeneralizedTime.
    const last = raw(Date.UTC(2049, 11, 30, 23, 59, 59), 1);
    expect(last.includes(utc('491229235959Z'))).toBe(true);
    expect(last.includes(utc('491231235959Z'))).toBe(true);
    const first = raw(Date.UTC(2049, 11, 31), 1);
    expect(first.includes(utc('491230000000Z'))).toBe(true);
    expect(first.includes(gen('20500101000000Z'))).toBe(true);
    const early = raw(Date.UTC(2026, 0, 1), 30);
    expect(early.includes(utc('251231000000Z'))).toBe(true);
    expect(early.includes(utc('260131000000Z'))).toBe(true);
  });

  it('spkiHash(junk) is INVALID_CERTIFICATE', () => {
    expect(() => spkiHash('not a certificate')).toThrow(code('INVALID_CERTIFICATE'));
  });
});
