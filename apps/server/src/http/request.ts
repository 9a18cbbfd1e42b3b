import type { IncomingMessage } from 'node:http';
import { HttpError } from './status.js';

const CBOR = 'application/cbor';
const JSON_TYPE = 'application/json';
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Every value of a request header, one per header line. Node's `req.headers` joins repeats of
 * most headers with ", " (and drops repeats of others), which would merge the repeated
 * `X-Tahoe-Authorization` secrets a Tahoe client sends (docs/TAHOE-COMPATIBILITY.md fact 8).
 */
export function headerValues(req: IncomingMessage, name: string): string[] {
  return req.headersDistinct[name.toLowerCase()] ?? [];
}

/** The first value of a header, as Twisted's `getRawHeaders(name)[0]` gives it to Tahoe. */
export function firstHeader(req: IncomingMessage, name: string): string | undefined {
  return headerValues(req, name)[0];
}

/**
 * Whether a header value, as the bytes on the wire, is UTF-8. Node hands header bytes over as
 * latin1 characters, so the original bytes are recovered losslessly.
 */
export function isUtf8Header(value: string): boolean {
  try {
    utf8.decode(Buffer.from(value, 'latin1'));
    return true;
  } catch {
    return false;
  }
}

function mediaType(value: string): string {
  return value.split(';')[0]!.trim().toLowerCase();
}

interface AcceptItem {
  readonly type: string;
  /** 3 for `a/b`, 2 for `a/*`, 0 for `*\/*`. */
  readonly specificity: number;
  readonly quality: number;
  readonly index: number;
}

/** The media ranges of an `Accept` value, most specific first, then highest quality. */
function acceptItems(header: string): AcceptItem[] {
  const items: AcceptItem[] = [];
  header.split(',').forEach((raw, index) => {
    const [type, ...params] = raw.split(';');
    const value = type!.trim().toLowerCase();
    if (value === '') return;
    let quality = 1;
    for (const param of params) {
      const [key, v] = param.split('=');
      if (key?.trim().toLowerCase() === 'q') {
        const q = Number(v?.trim());
        quality = Number.isFinite(q) ? Math.min(1, Math.max(0, q)) : 1;
      }
    }
    const [major, minor] = value.split('/');
    const specificity = (major !== '*' ? 2 : 0) + (minor !== undefined && minor !== '*' ? 1 : 0);
    items.push({ type: value, specificity, quality, index });
  });
  return items.sort(
    (a, b) => b.specificity - a.specificity || b.quality - a.quality || a.index - b.index,
  );
}

/**
 * Whether a response may be CBOR, as Tahoe's `_send_encoded` decides: no `Accept` means CBOR;
 * otherwise the first `Accept` header's best item (werkzeug's `MIMEAccept.best`: most specific
 * first, then highest quality, ties in header order) must be `application/cbor`. So `*\/*` alone
 * is a 406 there, and here.
 */
export function acceptsCbor(req: IncomingMessage): boolean {
  const header = firstHeader(req, 'accept');
  if (header === undefined) return true;
  return acceptItems(header)[0]?.type === CBOR;
}

/**
 * Whether a response may be JSON (the feed, which is ours, not Tahoe's): as HTTP says (RFC 9110
 * §12.5.1), the most specific range matching `application/json` must not have q=0. So no
 * `Accept`, `*\/*` (curl's) and `application/*` take JSON; `application/cbor` alone does not.
 */
export function acceptsJson(req: IncomingMessage): boolean {
  const header = firstHeader(req, 'accept');
  if (header === undefined) return true;
  const match = acceptItems(header).find(
    ({ type }) => type === JSON_TYPE || type === 'application/*' || type === '*/*',
  );
  return match !== undefined && match.quality > 0;
}

/** Tahoe's `_read_encoded`: a missing Content-Type counts as CBOR; any other type is a 415. */
export function checkCborContentType(req: IncomingMessage): void {
  const header = firstHeader(req, 'content-type');
  if (header !== undefined && mediaType(header) !== CBOR) {
    throw new HttpError(415, 'request bodies must be application/cbor');
  }
}

/** Whether the request announces a body (so an early answer should close the connection). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Reads the whole request body into memory, refusing more than `limit` bytes with a 413: first
 * by the announced Content-Length (before reading anything), then by counting bytes as they
 * arrive, for a chunked body. A body that ends early or a failed stream is a 400.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const announced = req.headers['content-length'];
  if (announced !== undefined && Number(announced) > limit) {
    return Promise.reject(new HttpError(413, `request body is over ${limit} bytes`));
  }
  return new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      if (error !== undefined) {
        reject(error);
        return;
      }
      const body = Buffer.concat(chunks, size);
      resolve(new Uint8Array(body.buffer, body.byteOffset, body.length));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Stop buffering; the answer closes the connection, which discards the rest.
        req.pause();
        settle(new HttpError(413, `request body is over ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => settle(undefined);
    const onClose = () => settle(new HttpError(400, 'request body was cut short'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}
