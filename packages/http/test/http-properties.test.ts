import { ENDPOINT_SECRETS, encodeCbor, formatSecretHeaders } from '@ostrom/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ROUTES } from '../src/routes.js';
import { bytes, startServer, storageIndex, uploadShare } from './http-setup.js';

/** CBOR of a JSON value; cbor refuses integers past 64 bits (huge doubles), so those become {}. */
function cborOrEmptyMap(value: unknown): Uint8Array {
  try {
    return encodeCbor(value);
  } catch {
    return new Uint8Array([0xa0]);
  }
}

const SECRET_KINDS = [
  'lease-renew-secret',
  'lease-cancel-secret',
  'upload-secret',
  'write-enabler',
  'junk',
];

describe('storage API: random garbage never produces a 5xx', () => {
  it('random bodies and headers on every route', async () => {
    const t = await startServer();
    const client = t.client();
    const si = storageIndex('prop');
    await uploadShare(client, si, bytes(200));
    const paths = ROUTES.map((r) => ({
      method: r.method,
      path: `/${r.segments.join('/')}`.replace(':si', si).replace(':shnum', '0'),
      // The exact secret set the route wants, so that bodies reach the decoders.
      secrets: formatSecretHeaders(
        Object.fromEntries(
          ENDPOINT_SECRETS[r.name].map((kind) => [kind, new Uint8Array(32).fill(1)]),
        ),
      ),
    }));
    const header = fc.oneof(
      fc.constant(undefined),
      fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
      fc.constantFrom('application/cbor', 'bytes=0-10', 'bytes 0-9/*', 'bytes=5-', '*/*'),
    );
    const secret = fc
      .tuple(fc.constantFrom(...SECRET_KINDS), fc.uint8Array({ minLength: 0, maxLength: 40 }))
      .map(([kind, value]) => `${kind} ${Buffer.from(value).toString('base64')}`);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', undefined),
        fc.option(
          fc.oneof(
            fc.uint8Array({ maxLength: 300 }),
            fc.jsonValue({ maxDepth: 3 }).map(cborOrEmptyMap),
            fc
              .record({
                'share-numbers': fc
                  .uniqueArray(fc.integer({ min: -2, max: 300 }), { maxLength: 4 })
                  .map((a) => new Set(a)),
                'allocated-size': fc.oneof(fc.integer(), fc.constant(2 ** 53)),
              })
              .map((v) => encodeCbor(v)),
          ),
          { nil: undefined },
        ),
        fc.oneof(fc.array(secret, { maxLength: 4 }), fc.constant('valid' as const)),
        header,
        header,
        header,
        fc.boolean(),
        async (route, method, body, secretHeaders, contentType, range, accept, noAuth) => {
          const headers: Record<string, string | string[] | null> = {};
          const chosen = secretHeaders === 'valid' ? route.secrets : secretHeaders;
          if (chosen.length > 0) headers['X-Tahoe-Authorization'] = chosen;
          if (contentType !== undefined) headers['Content-Type'] = contentType;
          if (range !== undefined) {
            headers.Range = range;
            headers['Content-Range'] = range;
          }
          if (accept !== undefined) headers.Accept = accept;
          if (noAuth) headers.authorization = null;
          const res = await client.raw({
            method: method ?? route.method,
            path: route.path,
            headers,
            body,
          });
          expect(res.status).toBeLessThan(500);
        },
      ),
      { numRuns: 80, seed: 4242 },
    );
    expect(t.logged.filter((entry) => entry.level === 'error')).toEqual([]);
  });
});
