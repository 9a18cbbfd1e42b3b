import { isMap, parseDocument, stringify, YAMLMap } from 'yaml';
import type { AnnouncementBody } from './bodies.js';
import { GsdError } from './errors.js';

/**
 * One server of {@link serversYaml}: a `GridServer` of the directory, or a node's own entry
 * (what its operator hands to a client directly).
 */
export interface ServersYamlEntry {
  readonly announcement: Pick<
    AnnouncementBody,
    'serverId' | 'nickname' | 'anonymousStorageFurl' | 'nurls' | 'permutationSeed'
  >;
  /** Whether it answered the last poll (default true). */
  readonly reachable?: boolean;
  /**
   * The NURLs the client should use instead of the announced (anonymous) ones: the client's
   * account NURL on that server. Tahoe reads the entry's `anonymous-storage-NURLs` either way; the
   * swissnum inside the NURL is what names the account.
   */
  readonly nurls?: readonly string[];
}

/** Options of {@link serversYaml}. */
export interface ServersYamlOptions {
  /** Leave out servers that did not answer the last poll (default false: Tahoe copes with them). */
  reachableOnly?: boolean;
}

// Tahoe parses servers.yaml with PyYAML, a YAML 1.1 parser: every string value is double-quoted
// so that a nickname such as `yes`, `on` or `12:30` stays a string.
const TO_STRING = {
  defaultStringType: 'QUOTE_DOUBLE',
  defaultKeyType: 'PLAIN',
  lineWidth: 0,
} as const;

/** The `storage:` value of one server: the `ann:` fields a Tahoe client reads. */
function storageEntry(server: ServersYamlEntry) {
  const a = server.announcement;
  return {
    ann: {
      nickname: a.nickname,
      'anonymous-storage-FURL': a.anonymousStorageFurl,
      'anonymous-storage-NURLs': [...(server.nurls ?? a.nurls)],
      'permutation-seed-base32': a.permutationSeed,
    },
  };
}

/**
 * Tahoe-LAFS's `private/servers.yaml` for these servers (docs/TAHOE-COMPATIBILITY.md fact 18):
 * a `storage:` map keyed by server id, each with the `ann:` fields a client reads, written for
 * YAML 1.1 with every string value double-quoted. When two announcements claim one server id,
 * the first in the directory wins (a map has one entry per key).
 */
export function serversYaml(
  servers: readonly ServersYamlEntry[],
  options: ServersYamlOptions = {},
): string {
  const storage: Record<string, unknown> = {};
  for (const server of servers) {
    if (options.reachableOnly && server.reachable === false) continue;
    if (Object.hasOwn(storage, server.announcement.serverId)) continue;
    storage[server.announcement.serverId] = storageEntry(server);
  }
  return stringify({ storage }, { version: '1.1', ...TO_STRING });
}

/** What {@link mergeServersYaml} made. */
export interface MergedServersYaml {
  /** The new file's text. */
  readonly text: string;
  /** Whether it differs from the file given. */
  readonly changed: boolean;
  /** The server ids written from `servers`: what to pass as `ours` next time. */
  readonly written: string[];
  /**
   * Server ids of `servers` whose entry was left as it was because someone else wrote it (not
   * in `ours`): a person's own entry wins over the directory's.
   */
  readonly keptTheirs: string[];
  /** Server ids of `ours` no longer in `servers`, removed. */
  readonly removed: string[];
}

/**
 * Rewrites the `storage:` block of an existing servers.yaml for these servers, keeping what
 * others wrote: entries whose server id is not in `ours` (the ids this writer wrote last time)
 * are left as they are, comments and other keys too; entries in `ours` are replaced or, when
 * their server is gone, removed. GsdError `BAD_STATE` when `existing` is not YAML with a map at
 * its top and under `storage:` (the file is then better left alone for its owner to fix).
 */
export function mergeServersYaml(
  existing: string | undefined,
  servers: readonly ServersYamlEntry[],
  ours: ReadonlySet<string>,
): MergedServersYaml {
  const doc = parseDocument(existing ?? '', { version: '1.1' });
  if (doc.errors.length > 0) {
    throw new GsdError(
      'BAD_STATE',
      `servers.yaml is not YAML: ${doc.errors[0]!.message.split('\n')[0]}`,
    );
  }
  if (doc.contents === null) doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
  if (!isMap(doc.contents)) throw new GsdError('BAD_STATE', 'servers.yaml is not a map');
  let storage = doc.get('storage');
  if (storage === undefined || storage === null) {
    storage = new YAMLMap();
    doc.set('storage', storage);
  }
  if (!isMap(storage)) throw new GsdError('BAD_STATE', "servers.yaml's storage: is not a map");
  const map = storage;
  const wanted = new Map<string, ServersYamlEntry>();
  for (const server of servers) {
    if (!wanted.has(server.announcement.serverId)) wanted.set(server.announcement.serverId, server);
  }
  const removed: string[] = [];
  for (const id of ours) {
    if (!wanted.has(id) && map.has(id)) {
      map.delete(id);
      removed.push(id);
    }
  }
  const written: string[] = [];
  const keptTheirs: string[] = [];
  for (const [id, server] of wanted) {
    if (map.has(id) && !ours.has(id)) {
      keptTheirs.push(id);
      continue;
    }
    map.set(id, doc.createNode(storageEntry(server)));
    written.push(id);
  }
  const text = doc.toString(TO_STRING);
  return { text, changed: text !== existing, written, keptTheirs, removed };
}
