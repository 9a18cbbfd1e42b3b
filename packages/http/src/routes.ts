import { type EndpointName, isStorageIndex, MAX_SHNUM } from '@ostrom/protocol';

/** How a route's request body is read. */
export type BodyKind = 'none' | 'cbor' | 'raw';

/**
 * What a route answers, for content negotiation: CBOR or JSON (an `Accept` that refuses it is a
 * 406), or something every client takes (share bytes, empty bodies: Accept is ignored).
 */
export type AnswerKind = 'cbor' | 'json' | 'other';

/** One route of the storage protocol or of the accounting extension. */
export interface RouteSpec {
  readonly name: EndpointName;
  readonly method: string;
  /** Path segments after the leading slash; `:si` and `:shnum` are parameters. */
  readonly segments: readonly string[];
  readonly body: BodyKind;
  readonly answer: AnswerKind;
}

const route = (
  name: EndpointName,
  method: string,
  path: string,
  body: BodyKind,
  answer: AnswerKind,
): RouteSpec => ({ name, method, segments: path.slice(1).split('/'), body, answer });

// Tahoe mounts `HTTPServer` under /storage (`http_server.py` routes "/v1/..."). Share reads,
// abort, corrupt and the lease answer no CBOR, so they ignore Accept
// (docs/TAHOE-COMPATIBILITY.md fact 8); PATCH answers `{required}` in CBOR (fact 10), so it
// checks Accept although it sends no Content-Type.
/** Every route, in the order they are matched. */
export const ROUTES: readonly RouteSpec[] = [
  route('version', 'GET', '/storage/v1/version', 'none', 'cbor'),
  route('allocate', 'POST', '/storage/v1/immutable/:si', 'cbor', 'cbor'),
  route('listImmutable', 'GET', '/storage/v1/immutable/:si/shares', 'none', 'cbor'),
  route('write', 'PATCH', '/storage/v1/immutable/:si/:shnum', 'raw', 'cbor'),
  route('readImmutable', 'GET', '/storage/v1/immutable/:si/:shnum', 'none', 'other'),
  route('abort', 'PUT', '/storage/v1/immutable/:si/:shnum/abort', 'none', 'other'),
  route('adviseImmutable', 'POST', '/storage/v1/immutable/:si/:shnum/corrupt', 'cbor', 'other'),
  route('addOrRenewLease', 'PUT', '/storage/v1/lease/:si', 'none', 'other'),
  route('readTestWrite', 'POST', '/storage/v1/mutable/:si/read-test-write', 'cbor', 'cbor'),
  route('listMutable', 'GET', '/storage/v1/mutable/:si/shares', 'none', 'cbor'),
  route('readMutable', 'GET', '/storage/v1/mutable/:si/:shnum', 'none', 'other'),
  route('adviseMutable', 'POST', '/storage/v1/mutable/:si/:shnum/corrupt', 'cbor', 'other'),
  route('requestAccount', 'POST', '/accounting/v1/account', 'cbor', 'cbor'),
  route('getAccount', 'GET', '/accounting/v1/account', 'none', 'cbor'),
  route('setLeaseDuration', 'PUT', '/accounting/v1/lease-duration', 'cbor', 'cbor'),
  route('getServer', 'GET', '/accounting/v1/server', 'none', 'cbor'),
  // JSON for people's tools, unlike the rest of the extension (packages/protocol README).
  route('getFeed', 'GET', '/accounting/v1/feed', 'none', 'json'),
];

/** A matched route with its path parameters. */
export interface RouteMatch {
  readonly route: RouteSpec;
  readonly storageIndex: string;
  readonly shnum: number;
}

/** What routing found: a route, a path with other methods (405), or nothing (404). */
export type RoutingResult =
  | { readonly kind: 'match'; readonly match: RouteMatch }
  | { readonly kind: 'method-not-allowed'; readonly allow: readonly string[] }
  | { readonly kind: 'not-found' };

const SHNUM = /^[0-9]{1,3}$/;

function matchSegments(
  spec: RouteSpec,
  parts: readonly string[],
): { storageIndex: string; shnum: number } | undefined {
  if (spec.segments.length !== parts.length) return undefined;
  let storageIndex = '';
  let shnum = -1;
  for (let i = 0; i < parts.length; i++) {
    const want = spec.segments[i]!;
    const got = parts[i]!;
    if (want === ':si') {
      // `StorageIndexConverter`: 26 chars of lowercase base32 that decode to 16 bytes, else the
      // route does not match and the answer is a 404 (fact 21).
      if (!isStorageIndex(got)) return undefined;
      storageIndex = got;
    } else if (want === ':shnum') {
      // Werkzeug's `int(signed=False)`; beyond Tahoe's 256 shares no share can exist, so we let
      // the route fail (404) rather than carry absurd numbers further.
      if (!SHNUM.test(got) || Number(got) > MAX_SHNUM) return undefined;
      shnum = Number(got);
    } else if (want !== got) {
      return undefined;
    }
  }
  return { storageIndex, shnum };
}

/** Finds the route for a method and a request target (query strings are ignored). */
export function matchRoute(method: string, target: string): RoutingResult {
  const query = target.indexOf('?');
  const path = query < 0 ? target : target.slice(0, query);
  if (!path.startsWith('/')) return { kind: 'not-found' };
  const parts = path.slice(1).split('/');
  const allow: string[] = [];
  for (const spec of ROUTES) {
    const params = matchSegments(spec, parts);
    if (params === undefined) continue;
    if (spec.method === method) return { kind: 'match', match: { route: spec, ...params } };
    allow.push(spec.method);
  }
  return allow.length > 0 ? { kind: 'method-not-allowed', allow } : { kind: 'not-found' };
}
