import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { SignedAccountRequest } from './account-request.js';
import { spkiHashOfKey } from './certificate.js';
import { ProtocolError, StorageClientError } from './errors.js';
import { type ByteRange, isShareNumber, isStorageIndex } from './facts.js';
import { decodeFeed, type Feed } from './feed.js';
import {
  formatAuthorization,
  formatSecretHeaders,
  parseContentRange,
  SECRET_HEADER,
} from './headers.js';
import {
  ACCOUNTING_PATHS,
  type AccountInfo,
  type AccountResponse,
  type AllocateResponse,
  decodeAccountInfo,
  decodeAccountResponse,
  decodeAllocateResponse,
  decodeLeaseDurationResponse,
  decodeReadTestWriteResponse,
  decodeServerInfo,
  decodeShareNumbers,
  decodeVersion,
  decodeWriteResponse,
  encodeAccountRequestBody,
  encodeAllocateRequest,
  encodeCorruptionAdvisory,
  encodeLeaseDurationRequest,
  encodeReadTestWriteRequest,
  type ReadTestWriteRequest,
  type ReadTestWriteResponse,
  type ServerInfo,
  type Version,
} from './messages.js';
import { type ParsedNurl, parseNurl } from './nurl.js';

/** Options of {@link createStorageClient}. */
export interface StorageClientOptions {
  /** The server's NURL; its pin, host, port and swissnum are all that is used. */
  nurl: string | ParsedNurl;
  /** Time for a whole request, from sending to the last response byte (default 60 000, as Tahoe). */
  timeoutMs?: number;
  /** Persistent connections kept to the server (default 10, Tahoe's `maxPersistentPerHost`). */
  maxSockets?: number;
}

/** A request for {@link StorageClient.raw}. */
export interface RawRequest {
  method: string;
  /** Path and query, e.g. `/storage/v1/version`. */
  path: string;
  /**
   * Extra headers; arrays repeat a header. `authorization: null` sends no Authorization (it is
   * added otherwise), and `accept: null` no Accept.
   */
  headers?: Record<string, string | string[] | number | null>;
  body?: Uint8Array;
}

/** Any response, as received. */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Uint8Array;
}

/** Lease secrets sent with allocate, add-or-renew and read-test-write (32 bytes each). */
export interface LeaseSecrets {
  readonly renewSecret: Uint8Array;
  readonly cancelSecret: Uint8Array;
}

/** Arguments of {@link ImmutableClient.allocate}. */
export interface AllocateOptions extends LeaseSecrets {
  /** A random secret per upload (Tahoe uses 20 bytes) that the later PATCHes must present. */
  readonly uploadSecret: Uint8Array;
  readonly shareNumbers: readonly number[];
  /** Size of each share's data, in bytes. */
  readonly allocatedSize: number;
}

/** Arguments of {@link ImmutableClient.write}. */
export interface WriteOptions {
  uploadSecret: Uint8Array;
  offset: number;
  data: Uint8Array;
}

/** The outcome of one PATCH. */
export interface WriteResult {
  /** True on 201: the share is complete and durable. */
  complete: boolean;
  /** Ranges still missing (`[]` when complete). */
  required: ByteRange[];
}

/** A ranged read; without one the whole share is read. */
export interface ReadRange {
  offset: number;
  length: number;
}

/** Arguments of {@link MutableClient.readTestWrite}. */
export interface ReadTestWriteOptions extends LeaseSecrets, ReadTestWriteRequest {
  readonly writeEnabler: Uint8Array;
}

/** Calls on immutable shares (`/storage/v1/immutable`). */
export interface ImmutableClient {
  /** Reserves shares for an upload; answers which the server already has and which it allocated. */
  allocate(storageIndex: string, options: AllocateOptions): Promise<AllocateResponse>;
  /** Uploads one chunk of a share (PATCH with `Content-Range: bytes a-b/*`, no Content-Type). */
  write(storageIndex: string, shnum: number, options: WriteOptions): Promise<WriteResult>;
  /** Abandons an upload in progress. */
  abort(storageIndex: string, shnum: number, uploadSecret: Uint8Array): Promise<void>;
  /** The share numbers held for a storage index (an unknown index gives `[]`). */
  listShares(storageIndex: string): Promise<number[]>;
  /** Reads a share or a range of it; a range past the end gives fewer bytes, or none. */
  read(storageIndex: string, shnum: number, range?: ReadRange): Promise<Uint8Array>;
  /** Reports a corrupt share. */
  adviseCorrupt(storageIndex: string, shnum: number, reason: string): Promise<void>;
}

/** Calls on mutable shares (`/storage/v1/mutable`). */
export interface MutableClient {
  /** Tests, then writes, then reads mutable shares atomically; a failed test is `success: false`. */
  readTestWrite(
    storageIndex: string,
    options: ReadTestWriteOptions,
  ): Promise<ReadTestWriteResponse>;
  /** The share numbers held for a storage index. */
  listShares(storageIndex: string): Promise<number[]>;
  /** Reads a share or a range of it. */
  read(storageIndex: string, shnum: number, range?: ReadRange): Promise<Uint8Array>;
  /** Reports a corrupt share. */
  adviseCorrupt(storageIndex: string, shnum: number, reason: string): Promise<void>;
}

/** Calls of Ostrom's accounting extension (`/accounting/v1`). */
export interface AccountingClient {
  /** Asks for an account: active (with its NURL), pending (retry later) or refused. */
  requestAccount(
    signed: SignedAccountRequest,
    options?: {
      /** The secret of an invitation code (`parseInvitation`): an active account at once. */
      invitation?: Uint8Array;
      /** A grid invitation's bytes (`parseGridInvitationCode(code).bytes`). */
      gridInvitation?: Uint8Array;
      /** A member's invitation's bytes (`parseMemberInvitationCode(code).bytes`). */
      memberInvitation?: Uint8Array;
    },
  ): Promise<AccountResponse>;
  /** The account this client's swissnum belongs to, with usage and quotas. */
  getAccount(): Promise<AccountInfo>;
  /** Asks for a lease duration; answers the duration granted after the server's clamping. */
  setLeaseDuration(seconds: number): Promise<number>;
  /** `GET /accounting/v1/server`: the server's id and accounting policy. */
  getServer(): Promise<ServerInfo>;
  /**
   * `GET /accounting/v1/feed`: the server's public digest and usage table (JSON). A server whose
   * operator did not enable it answers 404 (`HTTP_STATUS`).
   */
  getFeed(): Promise<Feed>;
}

/** A typed client of one storage server over pinned HTTPS. */
export interface StorageClient {
  /** `GET /storage/v1/version`. */
  getVersion(): Promise<Version>;
  immutable: ImmutableClient;
  mutable: MutableClient;
  /** `PUT /storage/v1/lease/:si`: adds a lease to every share of the index, or renews it. */
  addOrRenewLease(storageIndex: string, secrets: LeaseSecrets): Promise<void>;
  accounting: AccountingClient;
  /** Any request over the same pinned connections; never throws for a status. */
  raw(request: RawRequest): Promise<RawResponse>;
  /** Closes every connection; the client must not be used afterwards. */
  close(): void;
}

const CBOR = 'application/cbor';
const JSON_TYPE = 'application/json';
const OCTET_STREAM = 'application/octet-stream';
// Tahoe's client reads at most 30 MiB of a CBOR body (`http_client.limited_content`).
const MAX_CBOR_RESPONSE_BYTES = 30 * 1024 * 1024;
const ERROR_BODY_CHARS = 4096;

/**
 * An https.Agent that pins the server's public key: each new TLS connection is handed to HTTP
 * only after its certificate's SPKI hash matched the NURL's, so nothing (not even the swissnum
 * in `Authorization`) reaches an impostor. Node does not call `checkServerIdentity` once chain
 * verification has failed — always, for a self-signed certificate — so the check lives here.
 * As in Tahoe (`http_client._TLSContextFactory`), CA chain, names and dates are ignored.
 */
class PinnedAgent extends https.Agent {
  readonly #pin: Buffer;

  constructor(pin: string, maxSockets: number) {
    // No session cache: a resumed session would skip the certificate we check.
    super({ keepAlive: true, maxSockets, maxCachedSessions: 0 });
    this.#pin = Buffer.from(pin, 'ascii');
  }

  override createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, socket: Duplex) => void,
  ): Duplex | null | undefined {
    const socket = tls.connect({
      ...(options as tls.ConnectionOptions),
      rejectUnauthorized: false,
      session: undefined,
    });
    const onError = (err: Error) => callback?.(err, socket);
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      socket.off('error', onError);
      const cert = socket.getPeerX509Certificate();
      const actual = Buffer.from(cert === undefined ? '' : spkiHashOfKey(cert.publicKey), 'ascii');
      if (actual.length !== this.#pin.length || !timingSafeEqual(actual, this.#pin)) {
        const err = new StorageClientError(
          'PIN_MISMATCH',
          "the server's public key does not match the NURL",
        );
        socket.destroy();
        callback?.(err, socket);
        return;
      }
      callback?.(null, socket);
    });
    // Returning nothing makes the Agent wait for the callback (node:_http_agent createSocket).
    return undefined;
  }
}

function checkSi(storageIndex: string): string {
  if (!isStorageIndex(storageIndex)) throw new TypeError('not a storage index');
  return storageIndex;
}

function checkShnum(shnum: number): number {
  if (!isShareNumber(shnum)) throw new RangeError('a share number is an integer 0..255');
  return shnum;
}

function mediaType(headers: IncomingHttpHeaders): string {
  return (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function bodyText(body: Uint8Array): string {
  return Buffer.from(body).toString('utf8').slice(0, ERROR_BODY_CHARS);
}

/**
 * A client of one storage server, speaking HTTP/1.1 over TLS pinned to the NURL's SPKI hash
 * and sending what a Tahoe 1.20 client sends (docs/TAHOE-COMPATIBILITY.md fact 8). Misuse (a
 * bad storage index, share number or secret) throws TypeError/RangeError before anything is
 * sent.
 */
export function createStorageClient(options: StorageClientOptions): StorageClient {
  const nurl = typeof options.nurl === 'string' ? parseNurl(options.nurl) : options.nurl;
  if (nurl === null || typeof nurl !== 'object' || typeof nurl.spkiHash !== 'string') {
    throw new TypeError('nurl must be a NURL string or a ParsedNurl');
  }
  const timeoutMs = options.timeoutMs ?? 60_000;
  const maxSockets = options.maxSockets ?? 10;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new RangeError('timeoutMs must be ≥ 1');
  if (!Number.isInteger(maxSockets) || maxSockets < 1)
    throw new RangeError('maxSockets must be ≥ 1');
  const agent = new PinnedAgent(nurl.spkiHash, maxSockets);
  const authorization = formatAuthorization(nurl.swissnum);

  function send(request: RawRequest, maxBytes = Number.POSITIVE_INFINITY): Promise<RawResponse> {
    const headers: OutgoingHttpHeaders = {};
    let sendAuthorization = true;
    let sendAccept = true;
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      const lower = name.toLowerCase();
      if (value === null) {
        if (lower === 'authorization') sendAuthorization = false;
        if (lower === 'accept') sendAccept = false;
        continue;
      }
      headers[name] = value;
    }
    const has = (n: string) => Object.keys(headers).some((k) => k.toLowerCase() === n);
    if (sendAuthorization && !has('authorization')) headers.Authorization = authorization;
    if (sendAccept && !has('accept')) headers.Accept = CBOR;
    if (request.body !== undefined && !has('content-length')) {
      headers['Content-Length'] = request.body.length;
    }
    return new Promise<RawResponse>((resolve, reject) => {
      let settled = false;
      const finish = (err: unknown, response?: RawResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (response !== undefined) resolve(response);
        else reject(wrapError(err));
      };
      const req = https.request({
        agent,
        host: nurl.host,
        port: nurl.port,
        method: request.method,
        path: request.path,
        headers,
      });
      const timer = setTimeout(() => {
        const err = new StorageClientError('TIMEOUT', `no complete response in ${timeoutMs} ms`);
        finish(err);
        req.destroy(err);
      }, timeoutMs);
      req.on('error', (err) => finish(err));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            const err = new StorageClientError('BAD_RESPONSE', 'response body is too long', {
              status: res.statusCode ?? 0,
            });
            finish(err);
            req.destroy(err);
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => finish(err));
        res.on('aborted', () => finish(new Error('response aborted')));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          finish(undefined, {
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: new Uint8Array(body.buffer, body.byteOffset, body.length),
          });
        });
      });
      req.end(
        request.body === undefined
          ? undefined
          : Buffer.from(request.body.buffer, request.body.byteOffset, request.body.length),
      );
    });
  }

  function wrapError(err: unknown): StorageClientError {
    if (err instanceof StorageClientError) return err;
    return new StorageClientError('NETWORK', `request failed: ${(err as Error)?.message ?? err}`, {
      cause: err,
    });
  }

  async function call(
    request: RawRequest,
    expected: readonly number[],
    maxBytes?: number,
  ): Promise<RawResponse> {
    const response = await send(request, maxBytes);
    if (!expected.includes(response.status)) {
      throw new StorageClientError('HTTP_STATUS', `unexpected status ${response.status}`, {
        status: response.status,
        body: bodyText(response.body),
      });
    }
    return response;
  }

  /** Decodes an answer of one media type; a body of another type or undecodable is BAD_RESPONSE. */
  function decoded<T>(response: RawResponse, type: string, decode: (body: Uint8Array) => T): T {
    if (mediaType(response.headers) !== type) {
      throw new StorageClientError('BAD_RESPONSE', `expected an ${type} response`, {
        status: response.status,
      });
    }
    try {
      return decode(response.body);
    } catch (cause) {
      if (!(cause instanceof ProtocolError)) throw cause;
      throw new StorageClientError('BAD_RESPONSE', `undecodable response: ${cause.message}`, {
        cause,
        status: response.status,
      });
    }
  }

  /** Decodes a CBOR answer; any 2xx with `application/cbor` is acceptable (fact 17). */
  function cbor<T>(response: RawResponse, decode: (body: Uint8Array) => T): T {
    return decoded(response, CBOR, decode);
  }

  function cborBody(body: Uint8Array): { headers: Record<string, string>; body: Uint8Array } {
    return { headers: { 'Content-Type': CBOR }, body };
  }

  /** A share read as Tahoe's `http_client.read_share_chunk` checks it. */
  async function readShare(
    kind: 'immutable' | 'mutable',
    storageIndex: string,
    shnum: number,
    range?: ReadRange,
  ): Promise<Uint8Array> {
    const path = `/storage/v1/${kind}/${checkSi(storageIndex)}/${checkShnum(shnum)}`;
    if (range === undefined) {
      const response = await call({ method: 'GET', path }, [200]);
      checkOctetStream(response);
      return response.body;
    }
    const { offset, length } = range;
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError('offset must be ≥ 0');
    if (!Number.isSafeInteger(length) || length < 1) throw new RangeError('length must be ≥ 1');
    const response = await call(
      { method: 'GET', path, headers: { Range: `bytes=${offset}-${offset + length - 1}` } },
      [204, 206],
      length,
    );
    if (response.status === 204) return new Uint8Array(0);
    checkOctetStream(response);
    let got: ByteRange;
    try {
      got = parseContentRange(response.headers['content-range'] ?? '');
    } catch (cause) {
      throw new StorageClientError('BAD_RESPONSE', 'missing or invalid Content-Range', {
        cause,
        status: response.status,
      });
    }
    if (
      got.begin !== offset ||
      got.end > offset + length ||
      got.end - got.begin !== response.body.length
    ) {
      throw new StorageClientError('BAD_RESPONSE', 'response length does not match Content-Range', {
        status: response.status,
      });
    }
    return response.body;
  }

  function checkOctetStream(response: RawResponse): void {
    if (mediaType(response.headers) !== OCTET_STREAM) {
      throw new StorageClientError('BAD_RESPONSE', 'share data must be application/octet-stream', {
        status: response.status,
      });
    }
  }

  async function listShares(kind: 'immutable' | 'mutable', storageIndex: string) {
    const response = await call(
      { method: 'GET', path: `/storage/v1/${kind}/${checkSi(storageIndex)}/shares` },
      [200],
      MAX_CBOR_RESPONSE_BYTES,
    );
    return cbor(response, decodeShareNumbers);
  }

  async function adviseCorrupt(
    kind: 'immutable' | 'mutable',
    storageIndex: string,
    shnum: number,
    reason: string,
  ): Promise<void> {
    const path = `/storage/v1/${kind}/${checkSi(storageIndex)}/${checkShnum(shnum)}/corrupt`;
    await call({ method: 'POST', path, ...cborBody(encodeCorruptionAdvisory({ reason })) }, [200]);
  }

  const immutable: ImmutableClient = {
    async allocate(storageIndex, o) {
      const body = encodeAllocateRequest({
        shareNumbers: o.shareNumbers,
        allocatedSize: o.allocatedSize,
      });
      const secrets = formatSecretHeaders({
        'lease-renew-secret': o.renewSecret,
        'lease-cancel-secret': o.cancelSecret,
        'upload-secret': o.uploadSecret,
      });
      const response = await call(
        {
          method: 'POST',
          path: `/storage/v1/immutable/${checkSi(storageIndex)}`,
          headers: { [SECRET_HEADER]: secrets, 'Content-Type': CBOR },
          body,
        },
        [200],
        MAX_CBOR_RESPONSE_BYTES,
      );
      return cbor(response, decodeAllocateResponse);
    },

    async write(storageIndex, shnum, o) {
      const path = `/storage/v1/immutable/${checkSi(storageIndex)}/${checkShnum(shnum)}`;
      if (!(o.data instanceof Uint8Array) || o.data.length === 0) {
        throw new RangeError('data must be a non-empty Uint8Array');
      }
      if (!Number.isSafeInteger(o.offset) || o.offset < 0)
        throw new RangeError('offset must be ≥ 0');
      const response = await call(
        {
          method: 'PATCH',
          path,
          headers: {
            [SECRET_HEADER]: formatSecretHeaders({ 'upload-secret': o.uploadSecret }),
            'Content-Range': `bytes ${o.offset}-${o.offset + o.data.length - 1}/*`,
          },
          body: o.data,
        },
        [200, 201],
        MAX_CBOR_RESPONSE_BYTES,
      );
      const { required } = cbor(response, decodeWriteResponse);
      return { complete: response.status === 201, required };
    },

    async abort(storageIndex, shnum, uploadSecret) {
      const path = `/storage/v1/immutable/${checkSi(storageIndex)}/${checkShnum(shnum)}/abort`;
      const secrets = formatSecretHeaders({ 'upload-secret': uploadSecret });
      await call({ method: 'PUT', path, headers: { [SECRET_HEADER]: secrets } }, [200]);
    },

    listShares: (storageIndex) => listShares('immutable', storageIndex),
    read: (storageIndex, shnum, range) => readShare('immutable', storageIndex, shnum, range),
    adviseCorrupt: (si, shnum, reason) => adviseCorrupt('immutable', si, shnum, reason),
  };

  const mutable: MutableClient = {
    async readTestWrite(storageIndex, o) {
      const body = encodeReadTestWriteRequest({
        testWriteVectors: o.testWriteVectors,
        readVector: o.readVector,
      });
      const secrets = formatSecretHeaders({
        'lease-renew-secret': o.renewSecret,
        'lease-cancel-secret': o.cancelSecret,
        'write-enabler': o.writeEnabler,
      });
      const response = await call(
        {
          method: 'POST',
          path: `/storage/v1/mutable/${checkSi(storageIndex)}/read-test-write`,
          headers: { [SECRET_HEADER]: secrets, 'Content-Type': CBOR },
          body,
        },
        [200],
        MAX_CBOR_RESPONSE_BYTES,
      );
      return cbor(response, decodeReadTestWriteResponse);
    },
    listShares: (storageIndex) => listShares('mutable', storageIndex),
    read: (storageIndex, shnum, range) => readShare('mutable', storageIndex, shnum, range),
    adviseCorrupt: (si, shnum, reason) => adviseCorrupt('mutable', si, shnum, reason),
  };

  const accounting: AccountingClient = {
    async requestAccount(signed, options = {}) {
      const body = {
        ...signed,
        ...(options.invitation === undefined ? {} : { invitation: options.invitation }),
        ...(options.gridInvitation === undefined ? {} : { gridInvitation: options.gridInvitation }),
        ...(options.memberInvitation === undefined
          ? {}
          : { memberInvitation: options.memberInvitation }),
      };
      const response = await call(
        {
          method: 'POST',
          path: ACCOUNTING_PATHS.account,
          ...cborBody(encodeAccountRequestBody(body)),
        },
        [200, 202, 403],
        MAX_CBOR_RESPONSE_BYTES,
      );
      const answer = cbor(response, decodeAccountResponse);
      const expected = { active: 200, pending: 202, refused: 403 }[answer.status];
      if (expected !== response.status) {
        throw new StorageClientError(
          'BAD_RESPONSE',
          `status ${response.status} with "${answer.status}"`,
          {
            status: response.status,
          },
        );
      }
      return answer;
    },
    async getAccount() {
      const response = await call(
        { method: 'GET', path: ACCOUNTING_PATHS.account },
        [200],
        MAX_CBOR_RESPONSE_BYTES,
      );
      return cbor(response, decodeAccountInfo);
    },
    async setLeaseDuration(seconds) {
      const response = await call(
        {
          method: 'PUT',
          path: ACCOUNTING_PATHS.leaseDuration,
          ...cborBody(encodeLeaseDurationRequest({ seconds })),
        },
        [200],
        MAX_CBOR_RESPONSE_BYTES,
      );
      return cbor(response, decodeLeaseDurationResponse).leaseDurationSeconds;
    },
    async getServer() {
      const response = await call(
        { method: 'GET', path: ACCOUNTING_PATHS.server },
        [200],
        MAX_CBOR_RESPONSE_BYTES,
      );
      return cbor(response, decodeServerInfo);
    },
    async getFeed() {
      const response = await call(
        { method: 'GET', path: ACCOUNTING_PATHS.feed, headers: { Accept: JSON_TYPE } },
        [200],
        MAX_CBOR_RESPONSE_BYTES,
      );
      return decoded(response, JSON_TYPE, decodeFeed);
    },
  };

  return {
    async getVersion() {
      const response = await call(
        { method: 'GET', path: '/storage/v1/version' },
        [200],
        MAX_CBOR_RESPONSE_BYTES,
      );
      return cbor(response, decodeVersion);
    },
    immutable,
    mutable,
    async addOrRenewLease(storageIndex, secrets) {
      const headers = {
        [SECRET_HEADER]: formatSecretHeaders({
          'lease-renew-secret': secrets.renewSecret,
          'lease-cancel-secret': secrets.cancelSecret,
        }),
      };
      // Exactly 204: Tahoe's client treats anything else, even 200, as a failed renewal (fact 12).
      await call(
        { method: 'PUT', path: `/storage/v1/lease/${checkSi(storageIndex)}`, headers },
        [204],
      );
    },
    accounting,
    raw: (request) => send(request),
    close: () => agent.destroy(),
  };
}
