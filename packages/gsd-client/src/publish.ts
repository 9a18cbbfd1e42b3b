import type { BodyOf, DocumentKind } from './bodies.js';
import { parseReadCap, parseWriteCap, type ReadCap } from './caps.js';
import { deriveSlotSecrets } from './derive.js';
import { type GsdDocument, openDocument, sealDocument } from './document.js';
import { errorMessage, GsdError, type GsdErrorCode } from './errors.js';
import { decodeSlotData, encodeSlotData, slotHeaderOf } from './slot.js';
import type { SlotServer } from './slot-server.js';

/** Why one server's copy was not used. */
export interface ServerProblem {
  nurl: string;
  /** `UNREACHABLE`, `BAD_DOCUMENT`, `BAD_BODY`, `ROLLBACK` or `CONFLICT`. */
  code: GsdErrorCode;
  problem: string;
}

/** The outcome of a write: per server, written, lost to another writer, or failed. */
export interface PublishResult {
  /** The seqnum written (or that would have been, if nothing was). */
  seqnum: number;
  /** NURLs of the servers that now hold the new document. */
  written: string[];
  /** NURLs whose slot changed between our read and our write: left as the other writer made it. */
  conflicts: string[];
  /** NURLs that could not be read or written. */
  failed: { nurl: string; reason: string }[];
}

/** The outcome of a read across servers. */
export interface ReadResult<B> {
  /** The valid document with the highest seqnum, if any server holds one. */
  document: GsdDocument<B> | undefined;
  /** The NURL it was read from. */
  from: string | undefined;
  /** Servers whose copy was refused or that could not be read. */
  problems: ServerProblem[];
  /** Servers holding a valid but older document (they missed a write; not an attack). */
  stale: string[];
  /** Servers that answered (with a share or without). */
  answered: string[];
}

/** Options of {@link publishDocument} and {@link updateDocument}. */
export interface PublishOptions {
  /** The clock, in Unix seconds (default: the system clock). */
  now?: () => number;
}

/** Options of {@link readDocument}. */
export interface ReadOptions {
  /** The lowest seqnum acceptable (the highest seen before): lower ones are refused as rollbacks. */
  atLeast?: number;
}

const systemNow = () => Math.floor(Date.now() / 1000);

interface Copy {
  server: SlotServer;
  data: Uint8Array | undefined;
  document: GsdDocument<unknown> | undefined;
}

/**
 * Reads every server at once; each copy is opened, or becomes a problem. Copies and problems are
 * in the callers' server order: results do not depend on which server answered first.
 */
async function readCopies(
  servers: readonly SlotServer[],
  readcap: ReadCap,
  kind: DocumentKind,
): Promise<{ copies: Copy[]; problems: ServerProblem[] }> {
  const outcomes = await Promise.all(
    servers.map(async (server): Promise<{ copy?: Copy; problem?: ServerProblem }> => {
      let data: Uint8Array | undefined;
      try {
        data = await server.read(readcap.storageIndex);
      } catch (err) {
        return { problem: { nurl: server.nurl, code: 'UNREACHABLE', problem: errorMessage(err) } };
      }
      if (data === undefined) return { copy: { server, data, document: undefined } };
      try {
        const slot = decodeSlotData(data);
        const document = openDocument(slot.document, readcap, kind);
        if (document.seqnum !== slot.seqnum) {
          throw new GsdError(
            'BAD_DOCUMENT',
            `the slot header says seqnum ${slot.seqnum}, the document ${document.seqnum}`,
            { reason: 'seqnum' },
          );
        }
        return { copy: { server, data, document } };
      } catch (err) {
        if (!(err instanceof GsdError)) throw err;
        return {
          copy: { server, data, document: undefined },
          problem: { nurl: server.nurl, code: err.code, problem: err.message },
        };
      }
    }),
  );
  return {
    copies: outcomes.flatMap((o) => o.copy ?? []),
    problems: outcomes.flatMap((o) => o.problem ?? []),
  };
}

/**
 * The copy to trust: the highest seqnum; two different documents with one seqnum (two writers
 * raced) are settled by comparing their bytes, so every reader picks the same one.
 */
function newest(copies: readonly Copy[]): Copy | undefined {
  let best: Copy | undefined;
  for (const copy of copies) {
    if (copy.document === undefined) continue;
    if (
      best === undefined ||
      copy.document.seqnum > best.document!.seqnum ||
      (copy.document.seqnum === best.document!.seqnum &&
        Buffer.compare(Buffer.from(copy.data!), Buffer.from(best.data!)) > 0)
    ) {
      best = copy;
    }
  }
  return best;
}

/**
 * Reads a document from every server at once and keeps the valid copy with the highest seqnum.
 * Servers that are down, copies that fail verification and copies older than `atLeast` are
 * reported in `problems` and ignored. Any one server holding the newest copy is enough.
 */
export async function readDocument<K extends DocumentKind>(
  servers: readonly SlotServer[],
  readcap: string,
  kind: K,
  options: ReadOptions = {},
): Promise<ReadResult<BodyOf[K]>> {
  const cap = parseReadCap(readcap);
  const atLeast = options.atLeast ?? 0;
  const { copies, problems } = await readCopies(servers, cap, kind);
  for (const copy of copies) {
    if (copy.document !== undefined && copy.document.seqnum < atLeast) {
      problems.push({
        nurl: copy.server.nurl,
        code: 'ROLLBACK',
        problem: `it serves seqnum ${copy.document.seqnum}, older than ${atLeast} already seen`,
      });
      copy.document = undefined;
    }
  }
  const best = newest(copies);
  const stale: string[] = [];
  for (const copy of copies) {
    if (copy === best || copy.document === undefined || best === undefined) continue;
    if (copy.document.seqnum < best.document!.seqnum) stale.push(copy.server.nurl);
    else if (!Buffer.from(copy.data!).equals(Buffer.from(best.data!))) {
      problems.push({
        nurl: copy.server.nurl,
        code: 'CONFLICT',
        problem: `another document with seqnum ${copy.document.seqnum} (two writers raced)`,
      });
    }
  }
  return {
    document: best?.document as GsdDocument<BodyOf[K]> | undefined,
    from: best?.server.nurl,
    problems,
    stale,
    answered: copies.map((c) => c.server.nurl),
  };
}

/**
 * Read-modify-write of a document on every server. Reads every server, computes the new body
 * from the newest valid copy (`undefined` if none), and writes seqnum = newest + 1 to each
 * server that answered, with a test vector on the header that server had: a server written by
 * someone else in between is a conflict and keeps the other write. Never throws for a server's
 * failure; GsdError `BAD_CAP`/`BAD_BODY` for a bad writecap or body; whatever `update` throws
 * is thrown before anything is written.
 */
export async function updateDocument<K extends DocumentKind>(
  servers: readonly SlotServer[],
  writecap: string,
  kind: K,
  update: (
    current: GsdDocument<BodyOf[K]> | undefined,
    context: { answered: readonly string[] },
  ) => BodyOf[K],
  options: PublishOptions = {},
): Promise<PublishResult> {
  const cap = parseWriteCap(writecap);
  const { copies } = await readCopies(servers, cap, kind);
  const best = newest(copies);
  const current = best?.document as GsdDocument<BodyOf[K]> | undefined;
  const seqnum = (current?.seqnum ?? 0) + 1;
  const body = update(current, { answered: copies.map((c) => c.server.nurl) });
  const timestamp = (options.now ?? systemNow)();
  const data = encodeSlotData(seqnum, sealDocument(cap, kind, seqnum, timestamp, body));
  const answered = new Map(copies.map((c) => [c.server, c.data]));
  const outcomes = await Promise.all(
    servers.map(async (server): Promise<boolean | string> => {
      if (!answered.has(server)) return 'unreachable';
      try {
        const secrets = deriveSlotSecrets(cap.seed, server.serverId);
        const header = slotHeaderOf(answered.get(server));
        return await server.testAndWrite(cap.storageIndex, header, data, secrets);
      } catch (err) {
        return errorMessage(err);
      }
    }),
  );
  const result: PublishResult = { seqnum, written: [], conflicts: [], failed: [] };
  for (const [i, outcome] of outcomes.entries()) {
    const nurl = servers[i]!.nurl;
    if (outcome === true) result.written.push(nurl);
    else if (outcome === false) result.conflicts.push(nurl);
    else result.failed.push({ nurl, reason: outcome });
  }
  return result;
}

/**
 * Writes a new version of a document (seqnum = the newest seen + 1) to every server; see
 * {@link updateDocument} for what each server's outcome means.
 */
export function publishDocument<K extends DocumentKind>(
  servers: readonly SlotServer[],
  writecap: string,
  kind: K,
  body: BodyOf[K],
  options: PublishOptions = {},
): Promise<PublishResult> {
  return updateDocument(servers, writecap, kind, () => body, options);
}

/** Adds or renews the writer's lease on the slot on every server (the slot must exist there). */
export async function renewDocumentLeases(
  servers: readonly SlotServer[],
  writecap: string,
): Promise<{ renewed: string[]; failed: { nurl: string; reason: string }[] }> {
  const cap = parseWriteCap(writecap);
  const outcomes = await Promise.all(
    servers.map(async (server) => {
      const { renewSecret, cancelSecret } = deriveSlotSecrets(cap.seed, server.serverId);
      try {
        await server.renewLease(cap.storageIndex, renewSecret, cancelSecret);
        return undefined;
      } catch (err) {
        return errorMessage(err);
      }
    }),
  );
  return {
    renewed: servers.filter((_, i) => outcomes[i] === undefined).map((s) => s.nurl),
    failed: servers.flatMap((s, i) => {
      const reason = outcomes[i];
      return reason === undefined ? [] : [{ nurl: s.nurl, reason }];
    }),
  };
}
