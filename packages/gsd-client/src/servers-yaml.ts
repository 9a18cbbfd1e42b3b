import { stringify } from 'yaml';
import type { AnnouncementBody } from './bodies.js';

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
}

/** Options of {@link serversYaml}. */
export interface ServersYamlOptions {
  /** Leave out servers that did not answer the last poll (default false: Tahoe copes with them). */
  reachableOnly?: boolean;
}

/**
 * Tahoe-LAFS's `private/servers.yaml` for these servers (docs/TAHOE-COMPATIBILITY.md fact 18):
 * a `storage:` map keyed by server id, each with the `ann:` fields a client reads. Tahoe parses
 * it with PyYAML, a YAML 1.1 parser, so the text is written for 1.1 with every string value
 * double-quoted: a nickname such as `yes`, `on` or `12:30` stays a string. When two
 * announcements claim one server id, the first in the directory wins (a map has one entry per key).
 */
export function serversYaml(
  servers: readonly ServersYamlEntry[],
  options: ServersYamlOptions = {},
): string {
  const storage: Record<string, unknown> = {};
  for (const server of servers) {
    if (options.reachableOnly && server.reachable === false) continue;
    const a = server.announcement;
    if (Object.hasOwn(storage, a.serverId)) continue;
    storage[a.serverId] = {
      ann: {
        nickname: a.nickname,
        'anonymous-storage-FURL': a.anonymousStorageFurl,
        'anonymous-storage-NURLs': [...a.nurls],
        'permutation-seed-base32': a.permutationSeed,
      },
    };
  }
  return stringify(
    { storage },
    { version: '1.1', defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN', lineWidth: 0 },
  );
}
