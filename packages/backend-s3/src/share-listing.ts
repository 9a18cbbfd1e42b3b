import type { ObjectStore } from './object-store.js';

// The crawler asks for the share sets of the 1,024 prefixes one after another, and on all but
// the largest stores most prefixes are empty: one LIST per prefix is 1,024 requests a cycle even
// for an empty bucket (tens of seconds against S3, where a rebuild keeps the node down). So a
// listing reads on past its own prefix, to the end of the page that passes it, and the calls
// for the prefixes that follow are answered from what it read while that is fresh: younger than
// `readAheadMs`, and no share written or deleted through this backend since it began. A share
// another process wrote meanwhile may be missing from such an answer, as from any listing taken a
// moment earlier; the crawler looks at each share again before it acts on one.

export interface ShareListing {
  /** Every key under `dir` (a `shares/<pp>/` directory, `/`-terminated), in key order. */
  keysUnder(dir: string): Promise<string[]>;
  /** Wraps `store` so that every write or delete under the shares root drops what was read. */
  watch(store: ObjectStore): ObjectStore;
}

export interface ShareListingOptions {
  /** How long keys read ahead answer later calls, ms; 0 reads every prefix afresh. */
  readonly readAheadMs: number;
  /** The clock read-ahead ages by, ms. */
  readonly now: () => number;
}

interface ReadAhead {
  /** The listing started after this key: it holds every key above it... */
  readonly after: string;
  /** ...up to and including this one; undefined: up to the end of the shares root. */
  readonly through: string | undefined;
  /** The keys read, in order. */
  readonly keys: readonly string[];
  readonly at: number;
  /** The write generation it was read in. */
  readonly generation: number;
}

export function createShareListing(
  store: ObjectStore,
  sharesRoot: string,
  options: ShareListingOptions,
): ShareListing {
  let readAhead: ReadAhead | undefined;
  // Bumped before and after every write under the shares root, so that a listing that raced
  // with a write is not kept.
  let generation = 0;
  const changed = () => {
    generation++;
    readAhead = undefined;
  };

  /** Keys of `dir` run from `dir` to just below `upper` ('0' follows '/'). */
  const upperOf = (dir: string) => `${dir.slice(0, -1)}0`;

  const fromReadAhead = (dir: string): string[] | undefined => {
    const r = readAhead;
    if (r === undefined || r.generation !== generation) return undefined;
    if (options.now() - r.at >= options.readAheadMs) return undefined;
    if (r.after >= dir || (r.through !== undefined && r.through < upperOf(dir))) return undefined;
    return r.keys.filter((key) => key.startsWith(dir));
  };

  return {
    async keysUnder(dir) {
      const cached = fromReadAhead(dir);
      if (cached !== undefined) return cached;
      const started = generation;
      const at = options.now();
      const upper = upperOf(dir);
      // Start just below `dir`: `shares/pp` sorts before every key of `shares/pp/`.
      const after = dir.slice(0, -1);
      const keys: string[] = [];
      let through: string | undefined;
      const pages =
        options.readAheadMs > 0 ? store.list(sharesRoot, undefined, after) : store.list(dir);
      for await (const page of pages) {
        for (const { key } of page.keys) keys.push(key);
        const last = keys.at(-1);
        if (last !== undefined && last >= upper) {
          through = last;
          break;
        }
      }
      if (options.readAheadMs > 0 && generation === started) {
        readAhead = { after, through, keys, at, generation };
      }
      return keys.filter((key) => key.startsWith(dir));
    },

    watch(inner) {
      const touches = (key: string) => key.startsWith(sharesRoot);
      const around = async <T>(write: () => Promise<T>): Promise<T> => {
        changed();
        try {
          return await write();
        } finally {
          changed();
        }
      };
      return {
        ...inner,
        put: (key, body, metadata) =>
          touches(key)
            ? around(() => inner.put(key, body, metadata))
            : inner.put(key, body, metadata),
        completeMultipart: (key, uploadId, parts, token) =>
          touches(key)
            ? around(() => inner.completeMultipart(key, uploadId, parts, token))
            : inner.completeMultipart(key, uploadId, parts, token),
        delete: (key) => (touches(key) ? around(() => inner.delete(key)) : inner.delete(key)),
        deleteMany: (keys) =>
          keys.some(touches) ? around(() => inner.deleteMany(keys)) : inner.deleteMany(keys),
      };
    },
  };
}
