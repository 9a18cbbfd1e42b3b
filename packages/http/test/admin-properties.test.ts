import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { startAdminServer } from './admin-setup.js';

describe('createAdminHandler: arbitrary input', () => {
  it('answers random paths, queries and bodies with a 2xx or 4xx, never a 5xx', async () => {
    const t = await startAdminServer({
      crawlerStatus: () => ({ cycle: null }),
      gsdStatus: () => ({ published: false }),
    });
    const segment = fc.oneof(
      fc.constantFrom('admin', 'v1', 'accounts', 'usage', 'events', 'digest', 'nurl', 'health'),
      fc.constantFrom('traffic', 'crawler', 'gsd', 'metrics', 'import', 'refuse', 'nickname'),
      fc.constantFrom('0', '1', '2', '99', 'approve', 'freeze', 'thaw', 'delete', 'quota'),
      fc.string({ maxLength: 12 }).map(encodeURIComponent),
    );
    const path = fc.oneof(
      fc.array(segment, { maxLength: 3 }).map((parts) => `/admin/v1/${parts.join('/')}`),
      fc.array(segment, { maxLength: 5 }).map((parts) => `/${parts.join('/')}`),
    );
    const queryKey = fc.constantFrom(
      'status',
      'search',
      'orderBy',
      'direction',
      'limit',
      'offset',
      'since',
      'until',
      'accountId',
      'kinds',
      'afterId',
      'account',
      'order',
      'x',
    );
    const queryValue = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.integer().map(String),
      fc.constantFrom('normal', 'bytes', 'desc', '1e309', '2024-13-45', 'share-stored,', '%'),
    );
    const query = fc
      .array(fc.tuple(queryKey, queryValue), { maxLength: 4 })
      .map((pairs) => new URLSearchParams(pairs).toString());
    const body = fc.oneof(
      fc.constant(undefined),
      fc.json(),
      fc.string({ maxLength: 50 }),
      fc.record(
        {
          publicKey: fc.oneof(fc.string(), fc.constant('a'.repeat(64))),
          nickname: fc.oneof(fc.string({ maxLength: 80 }), fc.integer()),
          hardBytes: fc.oneof(fc.constant(null), fc.integer(), fc.double(), fc.string()),
          softBytes: fc.oneof(fc.constant(null), fc.integer(), fc.string()),
        },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
        path,
        query,
        body,
        async (method, p, q, b) => {
          const raw =
            b === undefined || method === 'GET'
              ? undefined
              : typeof b === 'string'
                ? b
                : JSON.stringify(b);
          const res = await t.call(method, `${p}${q ? `?${q}` : ''}`, {
            ...(raw === undefined ? {} : { raw }),
            headers: method === 'GET' ? {} : { 'Content-Type': 'application/json' },
          });
          expect(res.status, `${method} ${p}?${q} ${raw}`).toBeLessThan(500);
        },
      ),
      { numRuns: 300 },
    );
    expect((await t.call('GET', '/admin/v1/health')).status).toBe(200);
  });
});
