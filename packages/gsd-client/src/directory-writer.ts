import {
  type DirectoryBody,
  type DirectoryEntry,
  MEMBERSHIP_KEY_BYTES,
  petnameSchema,
} from './bodies.js';
import { parseReadCap, readCapOf } from './caps.js';
import type { GsdDocument } from './document.js';
import { GsdError } from './errors.js';
import {
  type PublishOptions,
  type PublishResult,
  readDocument,
  updateDocument,
} from './publish.js';
import type { SlotServer } from './slot-server.js';

/** What a directory write did: the servers' outcomes and the body now written. */
export interface DirectoryChangeResult extends PublishResult {
  body: DirectoryBody;
}

/** Options of {@link DirectoryWriter}. */
export interface DirectoryWriterOptions extends PublishOptions {}

type ServerSource = () => Promise<readonly SlotServer[]> | readonly SlotServer[];

/**
 * The operator's side of a directory, held by its writecap. Every change is one
 * read-modify-write across the servers ({@link updateDocument}); it throws GsdError
 * `CONFLICT` if another writer won on every server, `UNREACHABLE` if no server took the
 * write, and otherwise returns each server's outcome (some may have failed).
 */
export class DirectoryWriter {
  readonly #writecap: string;
  readonly #servers: ServerSource;
  readonly #options: DirectoryWriterOptions;

  constructor(writecap: string, servers: ServerSource, options: DirectoryWriterOptions = {}) {
    this.#writecap = writecap;
    this.#servers = servers;
    this.#options = options;
  }

  /**
   * Publishes an empty directory, or republishes the existing one unchanged (with a new seqnum),
   * so servers that missed it, or that are new, get a copy.
   */
  async create(): Promise<DirectoryChangeResult> {
    return await this.#change((current) => current?.body ?? { announcements: [] }, {
      mayCreate: true,
    });
  }

  /** The current directory; GsdError `NOT_FOUND` if no server holds one, `UNREACHABLE` if none answered. */
  async read(): Promise<GsdDocument<DirectoryBody>> {
    // The writecap is parsed on use, so a bad one fails the call (BAD_CAP), not the constructor.
    const readcap = readCapOf(this.#writecap);
    const result = await readDocument(await this.#servers(), readcap, 'directory');
    if (result.document !== undefined) return result.document;
    if (result.answered.length === 0) {
      throw new GsdError('UNREACHABLE', 'no server answered');
    }
    throw new GsdError('NOT_FOUND', 'no server holds the directory (create it first)');
  }

  /**
   * Lists an announcement. Without a petname, the announcement's nickname is used when it can be
   * read and is free, else `server-` and the start of its readcap. Adding a listed readcap again
   * only renames it (when a petname is given). GsdError `BAD_CAP` for a bad readcap, `BAD_BODY`
   * for a petname already in use or invalid.
   */
  async addAnnouncement(readcap: string, petname?: string): Promise<DirectoryChangeResult> {
    parseReadCap(readcap);
    const servers = await this.#servers();
    let suggested: string | undefined;
    if (petname === undefined) {
      const found = await readDocument(servers, readcap, 'announcement');
      suggested = found.document?.body.nickname;
    }
    return await this.#change(
      (current) => {
        const entries = current!.body.announcements;
        const existing = entries.find((e) => e.readcap === readcap);
        const name = petname ?? existing?.petname ?? freePetname(entries, readcap, suggested);
        const clash = entries.find((e) => e.petname === name && e.readcap !== readcap);
        if (clash !== undefined) {
          throw new GsdError('BAD_BODY', `the petname "${name}" is already used`);
        }
        // Every other field (the membership key) is kept as it is.
        if (existing !== undefined) {
          return {
            ...current!.body,
            announcements: entries.map((e) =>
              e.readcap === readcap ? { readcap, petname: name } : e,
            ),
          };
        }
        return { ...current!.body, announcements: [...entries, { readcap, petname: name }] };
      },
      { servers },
    );
  }

  /** Unlists an announcement by readcap or petname; GsdError `NOT_FOUND` if it is not listed. */
  async removeAnnouncement(readcapOrPetname: string): Promise<DirectoryChangeResult> {
    return await this.#change((current) => {
      const entries = current!.body.announcements;
      const kept = entries.filter(
        (e) => e.readcap !== readcapOrPetname && e.petname !== readcapOrPetname,
      );
      if (kept.length === entries.length) {
        throw new GsdError('NOT_FOUND', `no announcement "${readcapOrPetname}" in the directory`);
      }
      return { ...current!.body, announcements: kept };
    });
  }

  /**
   * Publishes the grid's membership key (a raw Ed25519 public key, 32 bytes) in the directory,
   * replacing any before it; the announcements stay as they are. RangeError for a key of
   * another length; GsdError `NOT_FOUND` if there is no directory yet.
   */
  async setMembershipKey(publicKey: Uint8Array): Promise<DirectoryChangeResult> {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== MEMBERSHIP_KEY_BYTES) {
      throw new RangeError(`a membership key is ${MEMBERSHIP_KEY_BYTES} bytes`);
    }
    const membershipKey = new Uint8Array(publicKey);
    return await this.#change((current) => ({ ...current!.body, membershipKey }));
  }

  async #change(
    update: (current: GsdDocument<DirectoryBody> | undefined) => DirectoryBody,
    options: { mayCreate?: boolean; servers?: readonly SlotServer[] } = {},
  ): Promise<DirectoryChangeResult> {
    const servers = options.servers ?? (await this.#servers());
    let body: DirectoryBody | undefined;
    const result = await updateDocument(
      servers,
      this.#writecap,
      'directory',
      (current, { answered }) => {
        if (answered.length === 0) throw new GsdError('UNREACHABLE', 'no server answered');
        // Only create() starts from nothing; a change needs the directory it changes.
        if (current === undefined && !options.mayCreate) {
          throw new GsdError('NOT_FOUND', 'no server holds the directory (create it first)');
        }
        body = update(current);
        return body;
      },
      this.#options,
    );
    if (result.written.length === 0) {
      if (result.conflicts.length > 0) {
        throw new GsdError('CONFLICT', 'another writer changed the directory meanwhile; try again');
      }
      const reasons = result.failed.map((f) => `${f.nurl}: ${f.reason}`).join('; ');
      throw new GsdError('UNREACHABLE', `no server took the write (${reasons})`);
    }
    return { ...result, body: body! };
  }
}

/** A petname not yet in `entries`: the nickname (made valid) if free, else `server-<readcap start>`. */
function freePetname(
  entries: readonly DirectoryEntry[],
  readcap: string,
  nickname: string | undefined,
): string {
  const taken = new Set(entries.map((e) => e.petname));
  const candidates: string[] = [];
  if (nickname !== undefined) {
    const cleaned = nickname
      .replace(/\p{Cc}/gu, '')
      .trim()
      .slice(0, 64)
      .trim();
    if (petnameSchema.safeParse(cleaned).success) candidates.push(cleaned);
  }
  const id = readcap.slice(readcap.lastIndexOf(':') + 1);
  candidates.push(
    `server-${id.slice(0, 8)}`,
    `server-${id.slice(0, 16)}`,
    `server-${id.slice(0, 32)}`,
  );
  for (const name of candidates) if (!taken.has(name)) return name;
  return `server-${id.slice(0, 56)}`;
}
