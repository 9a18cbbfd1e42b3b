import type { IncomingMessage, ServerResponse } from 'node:http';
import { AccountantError } from '@ostrom/accountant';
import {
  createStorageClient,
  formatNurl,
  type RawResponse,
  type StorageClient,
} from '@ostrom/protocol';
import { HttpError } from './status.js';

/**
 * Marks a request one server process sent another, so that it is never sent on again (a
 * misconfiguration, two processes under one id, could otherwise bounce it around).
 */
export const FORWARDED_HEADER = 'x-ostrom-forwarded-by';

/** Headers the holder needs to judge the request as if the client had sent it there. */
const PASSED_HEADERS = [
  'authorization',
  'x-tahoe-authorization',
  'content-range',
  'content-type',
  'accept',
] as const;

/** Headers of the holder's answer given back to the client. */
const ANSWER_HEADERS = ['content-type', 'allow'] as const;

/**
 * Sends requests about an upload that another server process holds (chunks, aborts) to that
 * process, and its answer back. The processes share the node's identity, so the connection is
 * pinned to our own certificate's key: nothing else can receive a client's chunks.
 */
export interface UploadForwarder {
  /**
   * If `error` says the upload is held elsewhere, forwards the request (with `body`, already
   * read) and answers with the holder's response, returning true; false for any other error.
   */
  forward(
    error: unknown,
    req: IncomingMessage,
    res: ServerResponse,
    body?: Uint8Array,
  ): Promise<boolean>;
  /**
   * If `error` says the upload is held elsewhere, sends the request there with `piece` as its
   * body and Content-Range (one piece of a chunk, so that a chunk is passed on as it arrives) and
   * returns the holder's answer without answering the client; undefined for any other error.
   */
  send(
    error: unknown,
    req: IncomingMessage,
    piece: { readonly contentRange: string; readonly body: Uint8Array },
  ): Promise<RawResponse | undefined>;
  /** Answers the client with a holder's answer. */
  answer(res: ServerResponse, answer: RawResponse): void;
  close(): void;
}

export function createUploadForwarder(options: {
  /** Our own certificate's pin (the NURL's user part): every peer has the same key. */
  readonly spkiHash: string;
  /** This process's id, sent in {@link FORWARDED_HEADER}. */
  readonly processId: string;
  readonly timeoutMs?: number;
}): UploadForwarder {
  const clients = new Map<string, StorageClient>();

  function clientFor(peerUrl: string): StorageClient {
    let client = clients.get(peerUrl);
    if (!client) {
      const url = new URL(peerUrl);
      const nurl = formatNurl({
        spkiHash: options.spkiHash,
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: Number(url.port || 443),
        // Never sent: each forwarded request carries the client's own Authorization.
        swissnum: 'forwarded',
      });
      client = createStorageClient({ nurl, timeoutMs: options.timeoutMs ?? 60_000 });
      clients.set(peerUrl, client);
    }
    return client;
  }

  async function send(
    error: unknown,
    req: IncomingMessage,
    body: Uint8Array | undefined,
    contentRange: string | undefined,
  ): Promise<RawResponse | undefined> {
    if (!(error instanceof AccountantError && error.code === 'UPLOAD_ELSEWHERE')) return undefined;
    const peerUrl = error.details.url as string;
    if (req.headers[FORWARDED_HEADER] !== undefined) {
      throw new HttpError('NOT_FOUND', 'no such upload here (already forwarded once)');
    }
    const headers: Record<string, string | string[] | null> = {
      [FORWARDED_HEADER]: options.processId,
      authorization: null,
      accept: null,
    };
    for (const name of PASSED_HEADERS) {
      const value = req.headers[name];
      if (value !== undefined) headers[name] = value;
    }
    if (contentRange !== undefined) headers['content-range'] = contentRange;
    try {
      return await clientFor(peerUrl).raw({
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers,
        ...(body === undefined ? {} : { body }),
      });
    } catch (cause) {
      throw new AccountantError(
        'UNAVAILABLE',
        `the server process holding this upload (${error.details.processId}) cannot be reached`,
        { cause },
      );
    }
  }

  function answer(res: ServerResponse, response: RawResponse): void {
    res.statusCode = response.status;
    for (const name of ANSWER_HEADERS) {
      const value = response.headers[name];
      if (value !== undefined) res.setHeader(name, value);
    }
    if (response.status !== 204) res.setHeader('Content-Length', String(response.body.length));
    res.end(response.body.length > 0 ? Buffer.from(response.body) : undefined);
  }

  return {
    async forward(error, req, res, body) {
      const response = await send(error, req, body, undefined);
      if (response === undefined) return false;
      answer(res, response);
      return true;
    },
    send: (error, req, piece) => send(error, req, piece.body, piece.contentRange),
    answer,
    close() {
      for (const client of clients.values()) client.close();
      clients.clear();
    },
  };
}
