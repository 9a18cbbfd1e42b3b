import { randomUUID } from 'node:crypto';
import { type FileHandle, open, readFile, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { ByteBudget } from './byte-budget.js';
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
    throw new HttpError('UNSUPPORTED_MEDIA_TYPE', 'request bodies must be application/cbor');
  }
}

/** What is read and thrown away of a body after an answer given without reading it. */
const DISCARD_BYTES = 1024 * 1024;
/** How long a connection stays open after such an answer, at most. */
const DISCARD_MS = 5000;

/**
 * After an answer given before the body was read (or while it was being read): reads and drops
 * up to {@link DISCARD_BYTES} of the rest for up to {@link DISCARD_MS}, then closes the
 * connection unless the body ended by then (it is then kept for the client's next request).
 * Closing at once would reset a connection the client is still sending on, and the reset can
 * destroy the answer before the client reads it; reading all of the body would let a client
 * hold the connection, and the node's time, for as long as it keeps sending.
 */
export function discardBody(req: IncomingMessage): void {
  if (req.complete) return;
  let discarded = 0;
  const stop = () => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', stop);
  };
  const onData = (chunk: Buffer) => {
    discarded += chunk.length;
    // Enough: leave the rest unread (the sender waits) until the connection closes.
    if (discarded > DISCARD_BYTES) req.pause();
  };
  const timer = setTimeout(() => {
    stop();
    req.socket.destroy();
  }, DISCARD_MS);
  timer.unref();
  req.on('data', onData);
  req.on('end', stop);
  req.resume();
}

/** Whether the request announces a body (so an early answer drops a bounded part of it). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The announced body length (Content-Length), or undefined for a chunked body. */
export function contentLength(req: IncomingMessage): number | undefined {
  const announced = req.headers['content-length'];
  return announced === undefined ? undefined : Number(announced);
}

/**
 * Reads the whole request body into memory, refusing more than `limit` bytes with `tooLarge()`
 * (default a 413): first by the announced Content-Length (before reading anything), then by
 * counting bytes as they arrive, for a chunked body. A body that ends early or a failed stream
 * is a 400.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  tooLarge: () => Error = () =>
    new HttpError('PAYLOAD_TOO_LARGE', `request body is over ${limit} bytes`),
): Promise<Uint8Array> {
  const announced = contentLength(req);
  if (announced !== undefined && announced > limit) return Promise.reject(tooLarge());
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
        // Stop buffering; after the answer a bounded part of the rest is dropped (discardBody).
        req.pause();
        settle(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => settle(undefined);
    const onClose = () => settle(new HttpError('BAD_REQUEST', 'request body was cut short'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}

/**
 * Feeds the body to `onChunk` as it arrives, the stream paused while a promise `onChunk` returned
 * runs (so a slow consumer slows the sender instead of buffering). Resolves at the body's end;
 * rejects with what `onChunk` throws (the stream left paused: the rest is not read) or with a 400
 * when the body is cut short.
 */
function consumeBody(
  req: IncomingMessage,
  onChunk: (chunk: Buffer) => Promise<void> | undefined,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let busy: Promise<void> = Promise.resolve();
    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      if (error === undefined) resolve();
      else {
        req.pause();
        reject(error);
      }
    };
    const onData = (chunk: Buffer) => {
      let pending: Promise<void> | undefined;
      try {
        pending = onChunk(chunk);
      } catch (error) {
        settle(error);
        return;
      }
      if (pending === undefined) return;
      req.pause();
      busy = pending.then(
        () => {
          if (!settled) req.resume();
        },
        (error: unknown) => settle(error),
      );
    };
    const onEnd = () => {
      void busy.then(() => settle());
    };
    const onClose = () => {
      if (!req.complete) settle(new HttpError('BAD_REQUEST', 'request body was cut short'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}

const EMPTY = new Uint8Array(0);

/**
 * Reads a body of exactly `length` bytes in pieces of about `pieceBytes` and hands each to
 * `onPiece` (with its offset in the body) before reading on, so no more than one piece is held
 * in memory. The last piece takes a tail of up to a sixteenth of `pieceBytes` with it, so a
 * Tahoe client's first chunk (1 MiB + 36 bytes, fact 10) is one piece. A body of another length
 * is a 400 once that shows; the pieces before it were handed over (an empty body is one empty
 * piece).
 */
export async function readPieces(
  req: IncomingMessage,
  length: number,
  pieceBytes: number,
  onPiece: (offset: number, piece: Uint8Array) => Promise<void>,
): Promise<void> {
  const mismatch = () =>
    new HttpError('BAD_REQUEST', 'the body length differs from the Content-Range');
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let offset = 0;
  let received = 0;
  const target = () => {
    const remaining = length - offset;
    return remaining <= pieceBytes + pieceBytes / 16 ? remaining : pieceBytes;
  };
  const flush = async (bytes: number) => {
    const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    const rest = all.subarray(bytes);
    pending = rest.length > 0 ? [rest] : [];
    pendingBytes = rest.length;
    await onPiece(offset, all.subarray(0, bytes));
    offset += bytes;
  };
  await consumeBody(req, (chunk) => {
    received += chunk.length;
    if (received > length) throw mismatch();
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes < target()) return undefined;
    return (async () => {
      while (pendingBytes > 0 && pendingBytes >= target()) await flush(target());
    })();
  });
  if (received < length) throw mismatch();
  if (pendingBytes > 0) await flush(pendingBytes);
  if (length === 0) await onPiece(0, EMPTY);
}

/** A request body written to a temporary file as it arrived (see {@link spoolBody}). */
export interface SpooledBody {
  readonly size: number;
  /** The whole body, read back into memory. */
  read(): Promise<Uint8Array>;
  /** Deletes the file and gives its bytes back to the spool's budget; idempotent. */
  remove(): Promise<void>;
}

/** Bytes a chunked body reserves from the spool's budget at a time, as it grows. */
const SPOOL_STEP_BYTES = 1024 * 1024;
/** Bytes of a body gathered in memory before they are written to its file. */
const SPOOL_WRITE_BYTES = 256 * 1024;

/**
 * Writes the request body to a new file in `dir` as it arrives, holding no more than
 * {@link SPOOL_WRITE_BYTES} of it in memory. Its bytes count against `budget` (the node's
 * spool): an announced Content-Length is taken whole before anything is read; a chunked body
 * takes more as it grows. More than `limit` bytes is a 413; a budget that cannot take them, or a
 * file that cannot be written, is a 503 with Retry-After (`retryAfterSeconds`). On any failure the
 * file is gone and its bytes given back.
 */
export async function spoolBody(
  req: IncomingMessage,
  options: {
    readonly dir: string;
    readonly limit: number;
    readonly budget: ByteBudget;
    readonly retryAfterSeconds: number;
  },
): Promise<SpooledBody> {
  const { dir, limit, budget } = options;
  const announced = contentLength(req);
  const tooLarge = () => new HttpError('PAYLOAD_TOO_LARGE', `request body is over ${limit} bytes`);
  if (announced !== undefined && announced > limit) throw tooLarge();
  const releases: (() => void)[] = [];
  let reserved = 0;
  const reserve = (bytes: number) => {
    const release = budget.tryTake(bytes);
    if (release === undefined) {
      throw new HttpError(
        'OVERLOADED',
        'too many large request bodies are arriving; try again later',
        {
          headers: { 'Retry-After': String(options.retryAfterSeconds) },
        },
      );
    }
    releases.push(release);
    reserved += bytes;
  };
  const giveBack = () => {
    for (const release of releases.splice(0)) release();
  };
  if (announced !== undefined) reserve(announced);
  const path = join(dir, `ostrom-body-${randomUUID()}`);
  let size = 0;
  try {
    const handle = await open(path, 'wx', 0o600);
    try {
      // The socket's chunks (16 KiB under TLS) are written a few at a time, in one call.
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = () => {
        const chunks = pending;
        pending = [];
        pendingBytes = 0;
        return writeAll(handle, chunks);
      };
      await consumeBody(req, (chunk) => {
        size += chunk.length;
        if (size > limit) throw tooLarge();
        if (size > reserved) reserve(Math.max(SPOOL_STEP_BYTES, size - reserved));
        pending.push(chunk);
        pendingBytes += chunk.length;
        return pendingBytes >= SPOOL_WRITE_BYTES ? flush() : undefined;
      });
      if (pendingBytes > 0) await flush();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await rm(path, { force: true }).catch(() => undefined);
    giveBack();
    throw error instanceof HttpError ? error : spoolFailed(error, options.retryAfterSeconds);
  }
  return {
    size,
    read: async () => {
      try {
        const bytes = await readFile(path);
        return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
      } catch (error) {
        throw spoolFailed(error, options.retryAfterSeconds);
      }
    },
    remove: async () => {
      await rm(path, { force: true }).catch(() => undefined);
      giveBack();
    },
  };
}

/**
 * The node could not keep a body in its temporary file (a full or missing directory): nothing was
 * taken, and the client may send it again later (503).
 */
function spoolFailed(error: unknown, retryAfterSeconds: number): HttpError {
  const reason = error instanceof Error ? error.message : String(error);
  return new HttpError('OVERLOADED', `cannot take the body now: ${reason}`, {
    headers: { 'Retry-After': String(retryAfterSeconds) },
    cause: error,
  });
}

/** Writes every byte of `chunks` at the file's position (writes may be partial). */
async function writeAll(handle: FileHandle, chunks: readonly Buffer[]): Promise<void> {
  let left = chunks;
  while (left.length > 0) {
    let { bytesWritten } = await handle.writev([...left]);
    const rest: Buffer[] = [];
    for (const chunk of left) {
      if (bytesWritten >= chunk.length) bytesWritten -= chunk.length;
      else {
        rest.push(chunk.subarray(bytesWritten));
        bytesWritten = 0;
      }
    }
    left = rest;
  }
}
