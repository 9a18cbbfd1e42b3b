import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ENDPOINT_SECRETS,
  formatAuthorization,
  formatContentRange,
  formatSecretHeaders,
  parseAuthorization,
  parseContentRange,
  parseRangeHeader,
  parseSecretHeaders,
  planRead,
  SECRET_KINDS,
  type SecretKind,
} from '../src/headers.js';

// "fact N" in test names: the numbered facts of docs/TAHOE-COMPATIBILITY.md.

const code = (c: string) => expect.objectContaining({ code: c });
const b64 = (n: number) => Buffer.alloc(n, 7).toString('base64');

describe('Authorization', () => {
  it('formatAuthorization(swissnum) is Tahoe-LAFS <std base64 of ASCII>', () => {
    expect(formatAuthorization('wppkyi6olstvdr5gotk5m7vy3cc5td3i')).toBe(
      `Tahoe-LAFS ${Buffer.from('wppkyi6olstvdr5gotk5m7vy3cc5td3i').toString('base64')}`,
    );
    expect(() => formatAuthorization('')).toThrow(TypeError);
  });

  it('parseAuthorization(formatAuthorization(s)) round-trips; junk is undefined', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z2-7]{1,40}$/), (s) => {
        expect(parseAuthorization(formatAuthorization(s))).toBe(s);
      }),
    );
    for (const bad of [
      undefined,
      '',
      'Tahoe-LAFS',
      'Bearer eA==',
      'Tahoe-LAFS !!',
      'tahoe-lafs eA==',
    ]) {
      expect(parseAuthorization(bad)).toBeUndefined();
    }
  });
});

describe('X-Tahoe-Authorization', () => {
  const renew = `lease-renew-secret ${b64(32)}`;
  const cancel = `lease-cancel-secret ${b64(32)}`;
  const upload = `upload-secret ${b64(20)}`;

  it('parseSecretHeaders accepts the exact set for allocate', () => {
    const s = parseSecretHeaders([renew, cancel, ` ${upload} `], ENDPOINT_SECRETS.allocate);
    expect(s['upload-secret']).toEqual(new Uint8Array(20).fill(7));
    expect(s['lease-renew-secret'].length).toBe(32);
  });

  it('parseSecretHeaders refuses missing, extra and repeated kinds', () => {
    expect(() => parseSecretHeaders([renew, cancel], ENDPOINT_SECRETS.allocate)).toThrow(
      code('INVALID_SECRETS'),
    );
    expect(() => parseSecretHeaders([upload], ENDPOINT_SECRETS.version)).toThrow(
      code('INVALID_SECRETS'),
    );
    expect(() => parseSecretHeaders([upload, upload], ENDPOINT_SECRETS.write)).toThrow(
      code('INVALID_SECRETS'),
    );
    expect(parseSecretHeaders([], ENDPOINT_SECRETS.version)).toEqual({});
  });

  it('parseSecretHeaders refuses malformed values', () => {
    for (const bad of [
      'upload-secret',
      'upload-secret ',
      `unknown-secret ${b64(20)}`,
      'upload-secret not*base64',
      'upload-secret YQ',
      `lease-renew-secret ${b64(31)}`,
      `lease-cancel-secret ${b64(33)}`,
    ]) {
      const kind = bad.split(' ')[0] as SecretKind;
      const required = SECRET_KINDS.includes(kind) ? [kind] : ['upload-secret' as const];
      expect(() => parseSecretHeaders([bad], required)).toThrow(code('INVALID_SECRETS'));
    }
  });

  it('parseSecretHeaders(formatSecretHeaders(x), keys(x)) round-trips', () => {
    const secret = fc.uint8Array({ minLength: 1, maxLength: 64 });
    const lease = fc.uint8Array({ minLength: 32, maxLength: 32 });
    const secrets = fc.record(
      {
        'lease-renew-secret': lease,
        'lease-cancel-secret': lease,
        'upload-secret': secret,
        'write-enabler': secret,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(secrets, (x) => {
        const kinds = Object.keys(x) as SecretKind[];
        expect(parseSecretHeaders(formatSecretHeaders(x), kinds)).toEqual(x);
      }),
    );
  });

  it('ENDPOINT_SECRETS holds the secrets table of fact 27', () => {
    expect(ENDPOINT_SECRETS.addOrRenewLease).toEqual(['lease-renew-secret', 'lease-cancel-secret']);
    expect(ENDPOINT_SECRETS.readTestWrite).toEqual([
      'lease-renew-secret',
      'lease-cancel-secret',
      'write-enabler',
    ]);
    expect(ENDPOINT_SECRETS.abort).toEqual(['upload-secret']);
    expect(ENDPOINT_SECRETS.readImmutable).toEqual([]);
  });
});

describe('ranges', () => {
  it('parseRangeHeader takes exactly one closed bytes range', () => {
    expect(parseRangeHeader('bytes=1190-3237')).toEqual({ begin: 1190, end: 3238 });
    expect(parseRangeHeader('bytes=0-0')).toEqual({ begin: 0, end: 1 });
    for (const bad of ['bytes=5-4', 'bytes=0-', 'bytes=-5', 'bytes=0-1,3-4', 'items=0-1', '']) {
      expect(() => parseRangeHeader(bad)).toThrow(code('INVALID_RANGE'));
    }
  });

  it('formatContentRange / parseContentRange use an inclusive end and /* or /total', () => {
    expect(formatContentRange(0, 1059)).toBe('bytes 0-1059/*');
    expect(parseContentRange('bytes 0-1506/*')).toEqual({ begin: 0, end: 1507, total: undefined });
    expect(parseContentRange('bytes 0-1506/1507')).toEqual({ begin: 0, end: 1507, total: 1507 });
    for (const bad of ['bytes 0-1059', 'items 0-1/*', 'bytes */5', 'bytes 5-4/*', 'bytes 0-5/5']) {
      expect(() => parseContentRange(bad)).toThrow(code('INVALID_RANGE'));
    }
  });

  it('planRead follows fact 9', () => {
    expect(planRead({ begin: 1190, end: 3238 }, 1507)).toEqual({
      status: 206,
      begin: 1190,
      end: 1507,
      contentRange: 'bytes 1190-1506/*',
    });
    expect(planRead({ begin: 31463731, end: 31465446 }, 31463731).status).toBe(204);
    expect(planRead(undefined, 10)).toEqual({ status: 200, begin: 0, end: 10 });
  });

  it('planRead invariants: body length is the clipped length; 204 iff empty', () => {
    fc.assert(
      fc.property(fc.nat(1e6), fc.nat(1e6), fc.nat(1e6), (a, len, shareLength) => {
        const range = { begin: a, end: a + len + 1 };
        const plan = planRead(range, shareLength);
        const clipped = Math.max(0, Math.min(range.end, shareLength) - a);
        expect(plan.end - plan.begin).toBe(clipped);
        expect(plan.status === 204).toBe(clipped === 0);
        if (plan.status === 206) {
          expect(parseContentRange(plan.contentRange ?? '')).toMatchObject({
            begin: plan.begin,
            end: plan.end,
          });
        } else expect(plan.contentRange).toBeUndefined();
      }),
    );
  });
});
