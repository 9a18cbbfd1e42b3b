import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBoundedBody } from './body.js';
import { AdminHttpError, failureAnswer } from './errors.js';
import { type AdminRoute, type AdminRouteOptions, adminRoutes } from './routes.js';

/** The admin API's path prefix; `/metrics` sits beside it. */
export const ADMIN_PREFIX = '/admin/v1';

/** The actor recorded in the activity log for an action that names none (`X-Ostrom-Actor`). */
export const ADMIN_ACTOR = 'admin-api';

/** Largest JSON body accepted: the biggest real one (an account) is a few hundred bytes. */
export const MAX_ADMIN_BODY_BYTES = 64 * 1024;

/** The subset of a (pino) logger the admin API uses. */
export interface AdminHandlerLogger {
  info(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Options of {@link createAdminHandler}. */
export interface AdminHandlerOptions extends AdminRouteOptions {
  /**
   * Whether a request may use the API, checked before anything else (a 401 with
   * `WWW-Authenticate: Bearer` otherwise): `bearerChecker(token)`, or a check of your own.
   */
  authorize(req: IncomingMessage): boolean;
  /**
   * Answers every request outside `/admin` and `/metrics`, untouched and without `authorize`
   * (the reference node's web panel, which has its own login). Without it those are the API's
   * too: 401 without the token, else 404.
   */
  readonly fallback?: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  readonly logger?: AdminHandlerLogger | undefined;
  /** Unix seconds (default the system clock). */
  readonly now?: (() => number) | undefined;
}

/** Who acts, as `X-Ostrom-Actor` may name them: printable ASCII, as the activity log keeps it. */
const ACTOR = /^[\x20-\x7e]{1,100}$/;

/**
 * The admin API of an accountant as a request handler for `node:http(s)`: JSON, with an
 * operator's commands as routes under `/admin/v1` and Prometheus metrics as `/metrics`. Every
 * request must pass `authorize` (401 otherwise); writes must be `application/json` (415
 * otherwise), which no HTML form or simple cross-site request can send. Refusals answer
 * `{"error": reason}` with the status of their code in `ADMIN_ERROR_STATUS`.
 */
export function createAdminHandler(
  options: AdminHandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  if (typeof options.authorize !== 'function') {
    throw new TypeError('authorize must be a function (bearerChecker(token), for one)');
  }
  if (typeof options.nurlFor !== 'function') throw new TypeError('nurlFor must be a function');
  if (typeof options.serverId !== 'string') throw new TypeError('serverId must be a string');
  const { logger, fallback } = options;
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const routes = adminRoutes(options, now);

  async function handle(req: IncomingMessage, res: ServerResponse, state: { consumed: boolean }) {
    // Before routing, so that nothing (not even which paths exist) is told to a caller without
    // the token.
    if (!options.authorize(req)) {
      throw new AdminHttpError(
        'UNAUTHORIZED',
        'a valid Authorization: Bearer <token> is required',
        {
          headers: { 'WWW-Authenticate': 'Bearer realm="ostrom-admin"' },
        },
      );
    }
    const target = req.url ?? '';
    let url: URL;
    try {
      url = new URL(target, 'http://admin.invalid');
    } catch (error) {
      throw new AdminHttpError('BAD_REQUEST', 'malformed request target', { cause: error });
    }
    if (!target.startsWith('/')) throw new AdminHttpError('NOT_FOUND', 'no such resource');
    const method = req.method ?? '';
    let route: AdminRoute | undefined;
    let params: string[] = [];
    const allow: string[] = [];
    for (const candidate of routes) {
      const m = candidate.path.exec(url.pathname);
      if (!m) continue;
      if (candidate.method === method) {
        route = candidate;
        // Parameters stay percent-encoded: the only one is an account id, checked to be digits.
        params = m.slice(1);
        break;
      }
      allow.push(candidate.method);
    }
    if (!route) {
      if (allow.length > 0) {
        throw new AdminHttpError('METHOD_NOT_SUPPORTED', 'method not allowed', {
          headers: { Allow: allow.join(', ') },
        });
      }
      throw new AdminHttpError('NOT_FOUND', 'no such resource');
    }
    if (route.method !== 'GET') {
      const type = req.headers['content-type'];
      const essence = (type ?? '').split(';')[0]?.trim().toLowerCase();
      if (essence !== 'application/json') {
        throw new AdminHttpError(
          'UNSUPPORTED_MEDIA_TYPE',
          'writes must be Content-Type: application/json',
        );
      }
    } else if (!state.consumed) {
      throw new AdminHttpError('BAD_REQUEST', 'GET requests take no body');
    }
    const actorHeader = req.headers['x-ostrom-actor'];
    if (
      actorHeader !== undefined &&
      (typeof actorHeader !== 'string' || !ACTOR.test(actorHeader))
    ) {
      throw new AdminHttpError(
        'BAD_REQUEST',
        'X-Ostrom-Actor must be 1–100 printable ASCII characters',
      );
    }
    // No prototype: `?toString=1` is an unknown parameter, and `?__proto__=x` a key like any other.
    const query: Record<string, string> = Object.create(null);
    for (const [key, value] of url.searchParams) {
      if (key in query) {
        throw new AdminHttpError('BAD_REQUEST', `query parameter "${key}" given twice`);
      }
      query[key] = value;
    }
    const answer = await route.handle({
      req,
      res,
      params,
      query,
      actor: actorHeader ?? ADMIN_ACTOR,
      body: async (maxBytes = MAX_ADMIN_BODY_BYTES) => {
        const body = await readJsonBody(req, maxBytes);
        state.consumed = true;
        return body;
      },
    });
    if ('json' in answer) sendJson(res, answer.status ?? 200, answer.json, answer.headers);
    else send(res, answer.status ?? 200, Buffer.from(answer.text, 'utf8'), answer.type);
  }

  const isApiPath = (target: string) =>
    fallback === undefined ||
    /^(\/admin|\/metrics)([/?]|$)/.test(target) ||
    !target.startsWith('/');

  return (req, res) => {
    if (!isApiPath(req.url ?? '')) {
      fallback!(req, res);
      return;
    }
    const state = { consumed: !hasBody(req) };
    req.on('error', (error) => logger?.info({ err: error }, 'admin request stream failed'));
    res.on('error', (error) => logger?.info({ err: error }, 'admin response stream failed'));
    handle(req, res, state).catch((error: unknown) => {
      const { status, message, headers } = failureAnswer(error, 'internal server error', (err) =>
        logger?.error({ err, method: req.method, url: req.url }, 'admin API failure'),
      );
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      const answerHeaders: Record<string, string> = { ...headers };
      // Answered before the body was read: close rather than read bytes nobody wants.
      if (!state.consumed) answerHeaders.Connection = 'close';
      const details = error instanceof AdminHttpError ? error.details : {};
      sendJson(res, status, { ...details, error: message }, answerHeaders);
    });
  };
}

// ----------------------------------------------------------------------------- HTTP helpers

function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const body = await readBoundedBody(req, maxBytes);
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (error) {
    throw new AdminHttpError('BAD_REQUEST', 'the body is not valid JSON', { cause: error });
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: Buffer,
  type: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': String(body.length),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(body);
}

function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  send(res, status, Buffer.from(`${JSON.stringify(value)}\n`, 'utf8'), 'application/json', headers);
}
