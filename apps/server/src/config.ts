import { isIP } from 'node:net';
import {
  ACCOUNTING_MODES,
  type AccountingMode,
  ANONYMOUS_DEFAULTS,
  APPROVAL_MODES,
  type ApprovalMode,
  DIRECTORY_SLOTS_DEFAULTS,
  MAX_READ_VECTOR_BYTES,
  MAX_SHARES_PER_ALLOCATION,
  UPLOAD_LIMIT_DEFAULTS,
} from '@ostrom/accountant';
import { GsdError, parseIntroduction } from '@ostrom/gsd-client';
import { BODY_LIMIT_DEFAULTS, CONNECTION_LIMIT_DEFAULTS } from '@ostrom/http';
import { DEFAULT_LEASE_POLICY } from '@ostrom/leasedb';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { NodeError } from './errors.js';
import { formatSize, parseDuration, parseSize } from './size.js';

/** The config file's name inside a node directory. */
export const CONFIG_FILE = 'ostrom.toml';

/**
 * The default storage port. Not Tahoe's 3456: that is the web gateway port of every Tahoe
 * client, which often runs on the same machine as a storage node. A fixed port rather than a
 * random one, because the port is part of the NURL every client is configured with.
 */
export const DEFAULT_PORT = 3457;

export const BACKEND_KINDS = ['disk', 's3'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

/** Where shares are kept: a Tahoe-compatible storage directory. */
export interface DiskBackendConfig {
  readonly kind: 'disk';
  /** Relative paths are relative to the node directory. */
  readonly path: string;
}

/** Where shares are kept: an S3-compatible bucket. Credentials never live in the config. */
export interface S3BackendConfig {
  readonly kind: 's3';
  readonly bucket: string;
  /** Undefined for AWS itself. */
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly prefix: string;
  readonly forcePathStyle: boolean;
  /** How long one request to the store may take before it is cut and tried again, seconds. */
  readonly requestTimeoutSeconds: number;
}

export type DatabaseConfig =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'postgres'; readonly url: string };

/** A validated `ostrom.toml`, with every default filled in. */
export interface OstromConfig {
  readonly node: { readonly nickname: string };
  readonly storage: {
    readonly listen: string;
    readonly port: number;
    /** The host written into NURLs. */
    readonly publicHostname: string;
    /**
     * The port written into NURLs when it is not the one this process listens on (copies of one
     * node on several ports behind one address); undefined: the listening port.
     */
    readonly publicPort: number | undefined;
    readonly reservedBytes: number;
    readonly capacityBytes: number | undefined;
    /** Bounds on uploads in progress: in this process, of one account, through one connection. */
    readonly maxUploads: number;
    readonly maxUploadsPerAccount: number;
    readonly maxUploadsPerConnection: number;
    /** Connections held at once: in all, and from one client address (an IPv6 client's /64). */
    readonly maxConnections: number;
    readonly maxConnectionsPerAddress: number;
    /**
     * Bounds on request bodies and reads (the storage API's `BodyLimits`): read-test-write bodies
     * held in memory and spooled to disk at once, node-wide, and what one read-test-write may
     * return.
     */
    readonly requestMemoryBytes: number;
    readonly requestSpoolBytes: number;
    readonly readVectorMaxBytes: number;
  };
  readonly backend: DiskBackendConfig | S3BackendConfig;
  readonly database: DatabaseConfig;
  readonly accounting: {
    readonly mode: AccountingMode;
    /** Undefined: automatic when mode is `enabled`, manual when `required`. */
    readonly approval: ApprovalMode | undefined;
    readonly defaultHardQuotaBytes: number | null;
    readonly defaultSoftQuotaBytes: number | null;
    /** Whether `GET /accounting/v1/feed` shows members the digest and each account's usage. */
    readonly feed: boolean;
    /**
     * Whether grid invitations (signed by the grid's membership key, from the directory of
     * `[gsd] introduction`) make active accounts here, and the hard quota those accounts get.
     */
    readonly honourGridInvitations: boolean;
    readonly gridInvitationQuotaBytes: number | null;
    /**
     * The anonymous account's hard quota while its row sets none, and what its uploads may
     * reserve through one connection (null: none). Undefined: the accountant's default for the
     * mode (`ANONYMOUS_DEFAULTS` in `enabled` and `required`, none in `disabled`).
     */
    readonly anonymousHardQuotaBytes: number | null | undefined;
    readonly anonymousReservedBytesPerConnection: number | null | undefined;
  };
  readonly leases: { readonly durationSeconds: number; readonly maxDurationSeconds: number };
  /** The admin API and `/metrics`: plain HTTP on {@link ADMIN_LISTEN} only. */
  readonly admin: { readonly enabled: boolean; readonly port: number };
  /** Several server processes sharing one database and one store. */
  readonly cluster: {
    /** This process's id among them; undefined: `<host name>-<port>`, chosen at start. */
    readonly processId: string | undefined;
    /** Where the others reach this process's storage API; undefined: from listen and port. */
    readonly peerUrl: string | undefined;
    readonly crossProcessLocks: boolean;
    /** PostgreSQL connections holding the cross-process locks. */
    readonly lockPoolSize: number;
  };
  /** The accounting crawler and the lease database's backups. */
  readonly crawler: {
    /**
     * Crawl in the background (the start-up reconciliation of a lost database runs anyway); of
     * the processes sharing a database, the one holding the crawler's claim crawls.
     */
    readonly enabled: boolean;
    /** Share of wall time the background crawl may use. */
    readonly allowedFraction: number;
    /** A background cycle takes at least this long. */
    readonly minCycleSeconds: number;
    /** Delete shares left without a lease after the grace period (false: report them only). */
    readonly deleteUnleased: boolean;
    readonly deletionGraceSeconds: number;
    /** Seconds between backups of a SQLite database (0: none, not even at shutdown). */
    readonly backupIntervalSeconds: number;
    readonly backupsKept: number;
  };
  /** The grid service directory: this node's own announcement. */
  readonly gsd: {
    /**
     * The grid's introduction text (`<directory readcap>,<nurl>[,<nurl>...]`); undefined: the
     * node takes no part (it still stores the slots other nodes write to it).
     */
    readonly introduction: string | undefined;
    /** With an introduction: publish this node's announcement and keep it up to date. */
    readonly announce: boolean;
    /** The announcement is written again this often (renewing its leases) even when unchanged. */
    readonly republishIntervalSeconds: number;
    /**
     * How often the node re-reads the directory, measures its available space, publishes when
     * something changed, and retries what failed.
     */
    readonly checkIntervalSeconds: number;
    /**
     * With `[accounting] mode = "required"`: the hard quota of the account that the anonymous
     * writes of the directory's and the listed announcements' slots are made as (null: none).
     */
    readonly directoryQuotaBytes: number | null;
  };
}

/**
 * The only address the admin API listens on. It is plain HTTP guarded by a bearer token, so it
 * must never be reachable from the network; remote operators use an SSH tunnel.
 */
export const ADMIN_LISTEN = '127.0.0.1';

function days(seconds: number): string {
  return `${seconds / 86_400}d`;
}

// ---------------------------------------------------------------------------- field checks

/**
 * A zod schema for one value: `parse` returns the value or undefined, and a refusal becomes
 * an issue saying what was expected. The message is assembled (with the key and the value
 * given) in `describeIssue`, so every error reads the same way.
 */
function field<T>(expected: string, parse: (value: unknown) => T | undefined) {
  return z.unknown().transform((value, ctx): T => {
    const parsed = value === undefined ? undefined : parse(value);
    if (parsed === undefined) {
      ctx.addIssue({ code: 'custom', message: expected, input: value });
      return z.NEVER;
    }
    return parsed;
  });
}

const CONTROL_CHARS = /\p{Cc}/u;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

const text = (max: number) =>
  field(`expected a string of 1–${max} characters without control characters`, (v) =>
    typeof v === 'string' && v.length > 0 && [...v].length <= max && !CONTROL_CHARS.test(v)
      ? v
      : undefined,
  );
const host = field('expected an IP address or a host name', (v) =>
  typeof v === 'string' && (isIP(v) !== 0 || HOSTNAME.test(v)) ? v : undefined,
);
const port = field('expected an integer 1–65535', (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535 ? v : undefined,
);
const SIZE_EXPECTED = 'expected a size such as "5GB", "512MiB" or a number of bytes';
const size = field(SIZE_EXPECTED, (v) =>
  typeof v === 'string' || typeof v === 'number' ? parseSize(v) : undefined,
);
const quota = field(`${SIZE_EXPECTED}, or "none"`, (v): number | null | undefined =>
  v === 'none' ? null : typeof v === 'string' || typeof v === 'number' ? parseSize(v) : undefined,
);
const duration = field('expected a duration such as "31d", "12h" or a number of seconds', (v) =>
  typeof v === 'string' || typeof v === 'number' ? parseDuration(v) : undefined,
);
const durationOrZero = field(
  'expected a duration such as "14d", "1h", a number of seconds, or 0',
  (v) =>
    v === 0 || v === '0'
      ? 0
      : typeof v === 'string' || typeof v === 'number'
        ? parseDuration(v)
        : undefined,
);
const fraction = field('expected a number greater than 0 and at most 1', (v) =>
  typeof v === 'number' && v > 0 && v <= 1 ? v : undefined,
);
/** A size of at least `min` bytes (a bound that smaller would refuse what Tahoe clients send). */
const sizeAtLeast = (min: number, words: string) =>
  field(`${SIZE_EXPECTED}, at least ${words}`, (v) => {
    const bytes = typeof v === 'string' || typeof v === 'number' ? parseSize(v) : undefined;
    return bytes !== undefined && bytes >= min ? bytes : undefined;
  });
const MIB = 1024 * 1024;
const uploadBound = field(
  `expected an integer of at least ${MAX_SHARES_PER_ALLOCATION} (one allocation of every share number)`,
  (v) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= MAX_SHARES_PER_ALLOCATION
      ? v
      : undefined,
);
const connectionBound = field('expected an integer of at least 1', (v) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? v : undefined,
);
const backupsKept = field('expected an integer 1–1000', (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 1000 ? v : undefined,
);
const path = field('expected a non-empty path', (v) =>
  typeof v === 'string' && v.length > 0 && !v.includes('\0') ? v : undefined,
);
const bool = field('expected true or false', (v) => (typeof v === 'boolean' ? v : undefined));
const oneOf = <T extends string>(values: readonly T[]) =>
  field(`expected one of ${values.map((v) => `"${v}"`).join(', ')}`, (v) =>
    values.includes(v as T) ? (v as T) : undefined,
  );
const postgresUrl = field('expected a postgres:// or postgresql:// URL', (v) =>
  typeof v === 'string' && /^postgres(?:ql)?:\/\/./.test(v) ? v : undefined,
);
const httpUrl = field('expected an http:// or https:// URL', (v) =>
  typeof v === 'string' && /^https?:\/\/[^\s]+$/.test(v) ? v : undefined,
);
const processId = field('expected 1–64 characters of A-Z, a-z, 0-9, ".", "_" and "-"', (v) =>
  typeof v === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(v) ? v : undefined,
);
const httpsOrigin = field('expected https://host:port', (v) =>
  typeof v === 'string' && /^https:\/\/[^/\s]+$/.test(v) && URL.canParse(v) ? v : undefined,
);
const lockPoolSize = field('expected an integer 1–100', (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 100 ? v : undefined,
);
// S3's rules for bucket names (the backend checks them again).
const bucket = field('expected an S3 bucket name (3–63 of a-z 0-9 . -)', (v) =>
  typeof v === 'string' && /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v) ? v : undefined,
);
const prefix = field('expected "" or /-terminated segments such as "node-1/"', (v) =>
  typeof v === 'string' && /^(?:[A-Za-z0-9._-]+\/)*$/.test(v) ? v : undefined,
);

/** An introduction text; what is wrong with one is said in `parseConfig`. */
const introduction = field(
  'expected an introduction text "<directory readcap>,<nurl>[,<nurl>...]" (as `ostrom gsd introduction-text` prints it)',
  (v) => (typeof v === 'string' ? v.trim() : undefined),
);
const durationAtLeast = (min: number, what: string) =>
  field(`expected a duration of at least ${what}, such as "24h" or a number of seconds`, (v) => {
    const seconds = typeof v === 'string' || typeof v === 'number' ? parseDuration(v) : undefined;
    return seconds !== undefined && seconds >= min ? seconds : undefined;
  });

const schema = z.strictObject({
  node: z.strictObject({ nickname: text(64).optional() }).optional(),
  storage: z
    .strictObject({
      listen: host.optional(),
      port: port.optional(),
      public_hostname: host.optional(),
      public_port: port.optional(),
      reserved_space: size.optional(),
      capacity: size.optional(),
      max_uploads: uploadBound.optional(),
      max_uploads_per_account: uploadBound.optional(),
      max_uploads_per_connection: uploadBound.optional(),
      max_connections: connectionBound.optional(),
      max_connections_per_address: connectionBound.optional(),
      request_memory: sizeAtLeast(MIB, '1MiB').optional(),
      request_spool: sizeAtLeast(MIB, '1MiB').optional(),
      read_vector_max: sizeAtLeast(MIB, '1MiB').optional(),
    })
    .optional(),
  backend: z
    .strictObject({
      kind: oneOf(BACKEND_KINDS).optional(),
      path: path.optional(),
      endpoint: httpUrl.optional(),
      bucket: bucket.optional(),
      region: text(64).optional(),
      prefix: prefix.optional(),
      force_path_style: bool.optional(),
      request_timeout: durationAtLeast(1, '1 s').optional(),
    })
    .optional(),
  database: z.strictObject({ path: path.optional(), url: postgresUrl.optional() }).optional(),
  accounting: z
    .strictObject({
      mode: oneOf(ACCOUNTING_MODES).optional(),
      approval: oneOf(APPROVAL_MODES).optional(),
      default_hard_quota: quota.optional(),
      default_soft_quota: quota.optional(),
      feed: bool.optional(),
      honour_grid_invitations: bool.optional(),
      grid_invitation_quota: quota.optional(),
      anonymous_hard_quota: quota.optional(),
      anonymous_reserved_per_connection: quota.optional(),
    })
    .optional(),
  leases: z
    .strictObject({ duration: duration.optional(), max_duration: duration.optional() })
    .optional(),
  admin: z
    .strictObject({ enabled: bool.optional(), port: port.optional(), listen: host.optional() })
    .optional(),
  cluster: z
    .strictObject({
      process_id: processId.optional(),
      peer_url: httpsOrigin.optional(),
      cross_process_locks: bool.optional(),
      lock_pool_size: lockPoolSize.optional(),
    })
    .optional(),
  crawler: z
    .strictObject({
      enabled: bool.optional(),
      allowed_fraction: fraction.optional(),
      min_cycle: durationOrZero.optional(),
      delete_unleased: bool.optional(),
      deletion_grace: durationOrZero.optional(),
      backup_interval: durationOrZero.optional(),
      backups_kept: backupsKept.optional(),
    })
    .optional(),
  gsd: z
    .strictObject({
      introduction: introduction.optional(),
      announce: bool.optional(),
      republish_interval: durationAtLeast(3600, '1 hour').optional(),
      check_interval: durationAtLeast(10, '10 seconds').optional(),
      directory_quota: quota.optional(),
    })
    .optional(),
});

/** A size as the config file writes it: "8MiB", "10GB", "0". */
function sizeText(bytes: number): string {
  if (bytes === 0) return '0';
  for (const [unit, factor] of [
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['GB', 1e9],
    ['MB', 1e6],
  ] as const) {
    if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return String(bytes);
}

/**
 * Every option's default as the config file writes it: the one source. `parseConfig` fills these
 * in, `renderConfig` writes them as the commented lines, and the README's table is checked
 * against them (test/config.test.ts). Defaults the packages own (upload, connection and body
 * bounds, leases) are read from them. Not here: defaults that follow from other options
 * (`public_hostname`, `approval`, the anonymous quotas, `force_path_style`, `[admin] port`,
 * `process_id`, `peer_url`), said in words where they are written.
 */
export const CONFIG_DEFAULTS = {
  node: { nickname: 'ostrom' },
  storage: {
    listen: '127.0.0.1',
    port: DEFAULT_PORT,
    reserved_space: '0',
    max_uploads: UPLOAD_LIMIT_DEFAULTS.maxUploads,
    max_uploads_per_account: UPLOAD_LIMIT_DEFAULTS.maxUploadsPerAccount,
    max_uploads_per_connection: UPLOAD_LIMIT_DEFAULTS.maxUploadsPerConnection,
    max_connections: CONNECTION_LIMIT_DEFAULTS.maxConnections,
    max_connections_per_address: CONNECTION_LIMIT_DEFAULTS.maxConnectionsPerAddress,
    request_memory: sizeText(BODY_LIMIT_DEFAULTS.memoryBytes),
    request_spool: sizeText(BODY_LIMIT_DEFAULTS.spoolBytes),
    read_vector_max: sizeText(MAX_READ_VECTOR_BYTES),
  },
  backend: {
    kind: 'disk',
    path: 'storage',
    region: 'us-east-1',
    prefix: '',
    // A hung store answers 503 after its retries, about 5 times this.
    request_timeout: '30s',
  },
  database: { path: 'leasedb.sqlite' },
  accounting: {
    mode: 'enabled',
    default_hard_quota: 'none',
    default_soft_quota: 'none',
    feed: false,
    honour_grid_invitations: false,
    grid_invitation_quota: 'none',
  },
  leases: {
    duration: days(DEFAULT_LEASE_POLICY.leaseDurationSeconds),
    max_duration: days(DEFAULT_LEASE_POLICY.maxLeaseDurationSeconds),
  },
  admin: { enabled: true },
  cluster: { cross_process_locks: true, lock_pool_size: 4 },
  crawler: {
    enabled: true,
    allowed_fraction: 0.1,
    min_cycle: '1h',
    delete_unleased: true,
    deletion_grace: '14d',
    backup_interval: '1h',
    backups_kept: 24,
  },
  gsd: {
    announce: true,
    // A day: leases last 31 days by default. Shorter leases shorten it (see parseConfig).
    republish_interval: '24h',
    check_interval: '10m',
    directory_quota: sizeText(DIRECTORY_SLOTS_DEFAULTS.hardQuotaBytes),
  },
} as const;

type ParsedConfig = z.output<typeof schema>;
type Section = keyof typeof CONFIG_DEFAULTS;
/** {@link CONFIG_DEFAULTS} parsed as a config file's values are: seconds, bytes, null for "none". */
type ParsedDefaults = {
  [S in Section]: Pick<
    Required<NonNullable<ParsedConfig[S]>>,
    keyof (typeof CONFIG_DEFAULTS)[S] & keyof NonNullable<ParsedConfig[S]>
  >;
};
const DEFAULT = schema.parse(CONFIG_DEFAULTS) as ParsedDefaults;

const CREDENTIAL_KEYS = new Set([
  'access_key_id',
  'secret_access_key',
  'credentials',
  'aws_access_key_id',
  'aws_secret_access_key',
]);

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date';
  if (value === undefined) return 'nothing';
  return 'a table';
}

function where(section: string | undefined, key?: string): string {
  if (section === undefined) return key === undefined ? '' : `${key}: `;
  return key === undefined ? `[${section}] ` : `[${section}] ${key}: `;
}

function describeIssue(file: string, issue: z.core.$ZodIssue): string {
  const [section, key] = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const unknown = issue.keys[0]!;
    if (section === undefined) return `${file}: unknown section [${unknown}]`;
    if (section === 'backend' && CREDENTIAL_KEYS.has(unknown)) {
      return `${file}: [backend] ${unknown}: credentials do not belong in the config file; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or write private/s3-credentials`;
    }
    return `${file}: [${section}] unknown key "${unknown}"`;
  }
  if (key === undefined && issue.code === 'invalid_type') {
    return `${file}: ${where(undefined, section === undefined ? undefined : `[${section}]`)}expected a table, got ${describeValue(issue.input)}`;
  }
  const got = 'input' in issue ? `, got ${describeValue(issue.input)}` : '';
  return `${file}: ${where(section, key)}${issue.message}${got}`;
}

function formatDuration(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  return `${seconds} s`;
}

function invalid(file: string, section: string, key: string, message: string): never {
  throw new NodeError('CONFIG_INVALID', `${file}: [${section}] ${key}: ${message}`);
}

/**
 * Parses and validates the text of an `ostrom.toml`, filling in defaults. Unknown keys, wrong
 * types and contradictions throw NodeError `CONFIG_INVALID` with one message naming the key.
 */
/**
 * Parses `ostrom.toml`. `privateDatabaseUrl` is the content of `private/database-url`, when the
 * node keeps its PostgreSQL URL (with its password) there instead of in the config.
 */
export function parseConfig(
  source: string,
  file: string = CONFIG_FILE,
  privateDatabaseUrl?: string,
): OstromConfig {
  let raw: unknown;
  try {
    raw = parseToml(source);
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = error.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      throw new NodeError(
        'CONFIG_INVALID',
        `${file}: line ${error.line}, column ${error.column}: ${reason}`,
        { cause: error },
      );
    }
    throw error;
  }
  const result = schema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    throw new NodeError('CONFIG_INVALID', describeIssue(file, result.error.issues[0]!), {
      cause: result.error,
    });
  }
  const c = result.data;

  const listen = c.storage?.listen ?? DEFAULT.storage.listen;
  const wildcard = listen === '0.0.0.0' || listen === '::';
  if (wildcard && c.storage?.public_hostname === undefined) {
    invalid(file, 'storage', 'public_hostname', `required when listening on ${listen}`);
  }
  const maxConnections = c.storage?.max_connections ?? DEFAULT.storage.max_connections;
  const maxConnectionsPerAddress =
    c.storage?.max_connections_per_address ??
    Math.min(DEFAULT.storage.max_connections_per_address, maxConnections);
  if (maxConnectionsPerAddress > maxConnections) {
    invalid(file, 'storage', 'max_connections_per_address', 'must not exceed max_connections');
  }

  const b = c.backend ?? {};
  const kind = b.kind ?? DEFAULT.backend.kind;
  let backend: DiskBackendConfig | S3BackendConfig;
  if (kind === 'disk') {
    const s3Keys = [
      'endpoint',
      'bucket',
      'region',
      'prefix',
      'force_path_style',
      'request_timeout',
    ] as const;
    for (const key of s3Keys) {
      if (b[key] !== undefined) invalid(file, 'backend', key, 'only for kind = "s3"');
    }
    backend = { kind, path: b.path ?? DEFAULT.backend.path };
  } else {
    if (b.path !== undefined) invalid(file, 'backend', 'path', 'only for kind = "disk"');
    if (b.bucket === undefined) invalid(file, 'backend', 'bucket', 'required for kind = "s3"');
    backend = {
      kind,
      bucket: b.bucket,
      endpoint: b.endpoint,
      region: b.region ?? DEFAULT.backend.region,
      prefix: b.prefix ?? DEFAULT.backend.prefix,
      forcePathStyle: b.force_path_style ?? b.endpoint !== undefined,
      requestTimeoutSeconds: b.request_timeout ?? DEFAULT.backend.request_timeout,
    };
    if (backend.requestTimeoutSeconds > 3600) {
      invalid(file, 'backend', 'request_timeout', 'must be at most 1h');
    }
  }

  const d = c.database ?? {};
  if (d.path !== undefined && d.url !== undefined) {
    invalid(file, 'database', 'url', 'give either path (SQLite) or url (PostgreSQL), not both');
  }
  let url = d.url;
  if (privateDatabaseUrl !== undefined) {
    const fromFile = privateDatabaseUrl.trim();
    if (d.path !== undefined || d.url !== undefined) {
      invalid(
        file,
        'database',
        d.url !== undefined ? 'url' : 'path',
        'the database is given in private/database-url too: keep it in one place',
      );
    }
    if (!/^postgres(?:ql)?:\/\/./.test(fromFile)) {
      throw new NodeError(
        'CONFIG_INVALID',
        'private/database-url: expected a postgres:// or postgresql:// URL on its first line',
      );
    }
    url = fromFile;
  }
  const database: DatabaseConfig =
    url !== undefined
      ? { kind: 'postgres', url }
      : { kind: 'sqlite', path: d.path ?? DEFAULT.database.path };

  const a = c.accounting ?? {};
  const hard = a.default_hard_quota ?? DEFAULT.accounting.default_hard_quota;
  const soft = a.default_soft_quota ?? DEFAULT.accounting.default_soft_quota;
  if (hard !== null && soft !== null && soft > hard) {
    invalid(file, 'accounting', 'default_soft_quota', 'must not exceed default_hard_quota');
  }

  const l = c.leases ?? {};
  const maxDurationSeconds = l.max_duration ?? DEFAULT.leases.max_duration;
  const durationSeconds = l.duration ?? DEFAULT.leases.duration;
  if (durationSeconds > maxDurationSeconds) {
    invalid(file, 'leases', 'duration', 'must not exceed max_duration');
  }
  if (DEFAULT_LEASE_POLICY.starterLeaseDurationSeconds > maxDurationSeconds) {
    invalid(file, 'leases', 'max_duration', 'must be at least 60d (the starter lease)');
  }

  const storagePort = c.storage?.port ?? DEFAULT.storage.port;
  const ad = c.admin ?? {};
  if (ad.listen !== undefined && ad.listen !== ADMIN_LISTEN) {
    invalid(
      file,
      'admin',
      'listen',
      `the admin API listens on ${ADMIN_LISTEN} only (got ${JSON.stringify(ad.listen)}); reach it from elsewhere through an SSH tunnel`,
    );
  }
  if (ad.port === undefined && storagePort === 65535) {
    invalid(
      file,
      'admin',
      'port',
      'required when [storage] port is 65535 (the default is port + 1)',
    );
  }
  const adminPort = ad.port ?? storagePort + 1;
  if (adminPort === storagePort) {
    invalid(file, 'admin', 'port', 'must differ from [storage] port');
  }

  const cr = c.crawler ?? {};
  if (database.kind === 'postgres') {
    // Backups are SQLite snapshots; a setting that would never take effect is a mistake to report.
    for (const key of ['backup_interval', 'backups_kept'] as const) {
      if (cr[key] !== undefined && !(key === 'backup_interval' && cr[key] === 0)) {
        invalid(
          file,
          'crawler',
          key,
          'backups are made of a SQLite database only; back up PostgreSQL with pg_dump',
        );
      }
    }
  }

  const g = c.gsd ?? {};
  if (g.introduction !== undefined) {
    try {
      parseIntroduction(g.introduction);
    } catch (error) {
      if (!(error instanceof GsdError)) throw error;
      const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
      invalid(
        file,
        'gsd',
        'introduction',
        `not an introduction text "<directory readcap>,<nurl>[,<nurl>...]": ${error.message}${cause}`,
      );
    }
  }
  // The slots' leases are renewed by republishing: they must not lapse in between (other
  // servers are assumed to grant leases about as long as this one). The defaults follow a
  // short lease duration; a value given that would let them lapse is refused.
  const republishIntervalSeconds =
    g.republish_interval ??
    Math.min(DEFAULT.gsd.republish_interval, Math.floor(durationSeconds / 2));
  if (g.republish_interval !== undefined && republishIntervalSeconds * 2 > durationSeconds) {
    invalid(
      file,
      'gsd',
      'republish_interval',
      `must be at most half of [leases] duration (${formatDuration(durationSeconds)}), so the leases of the announcement and the directory are renewed before they expire`,
    );
  }
  const checkIntervalSeconds =
    g.check_interval ?? Math.min(DEFAULT.gsd.check_interval, republishIntervalSeconds);
  if (checkIntervalSeconds > republishIntervalSeconds) {
    invalid(file, 'gsd', 'check_interval', 'must not exceed republish_interval');
  }

  return {
    node: { nickname: c.node?.nickname ?? DEFAULT.node.nickname },
    storage: {
      listen,
      port: storagePort,
      publicHostname: c.storage?.public_hostname ?? listen,
      publicPort: c.storage?.public_port,
      reservedBytes: c.storage?.reserved_space ?? DEFAULT.storage.reserved_space,
      capacityBytes: c.storage?.capacity,
      maxUploads: c.storage?.max_uploads ?? DEFAULT.storage.max_uploads,
      maxUploadsPerAccount:
        c.storage?.max_uploads_per_account ?? DEFAULT.storage.max_uploads_per_account,
      maxUploadsPerConnection:
        c.storage?.max_uploads_per_connection ?? DEFAULT.storage.max_uploads_per_connection,
      maxConnections,
      maxConnectionsPerAddress,
      requestMemoryBytes: c.storage?.request_memory ?? DEFAULT.storage.request_memory,
      requestSpoolBytes: c.storage?.request_spool ?? DEFAULT.storage.request_spool,
      readVectorMaxBytes: c.storage?.read_vector_max ?? DEFAULT.storage.read_vector_max,
    },
    backend,
    database,
    accounting: {
      mode: a.mode ?? DEFAULT.accounting.mode,
      approval: a.approval,
      defaultHardQuotaBytes: hard,
      defaultSoftQuotaBytes: soft,
      feed: a.feed ?? DEFAULT.accounting.feed,
      honourGridInvitations:
        a.honour_grid_invitations ?? DEFAULT.accounting.honour_grid_invitations,
      gridInvitationQuotaBytes: a.grid_invitation_quota ?? null,
      anonymousHardQuotaBytes: a.anonymous_hard_quota,
      anonymousReservedBytesPerConnection: a.anonymous_reserved_per_connection,
    },
    leases: { durationSeconds, maxDurationSeconds },
    admin: { enabled: ad.enabled ?? DEFAULT.admin.enabled, port: adminPort },
    cluster: {
      processId: c.cluster?.process_id,
      peerUrl: c.cluster?.peer_url,
      crossProcessLocks: c.cluster?.cross_process_locks ?? DEFAULT.cluster.cross_process_locks,
      lockPoolSize: c.cluster?.lock_pool_size ?? DEFAULT.cluster.lock_pool_size,
    },
    crawler: {
      enabled: cr.enabled ?? DEFAULT.crawler.enabled,
      allowedFraction: cr.allowed_fraction ?? DEFAULT.crawler.allowed_fraction,
      minCycleSeconds: cr.min_cycle ?? DEFAULT.crawler.min_cycle,
      deleteUnleased: cr.delete_unleased ?? DEFAULT.crawler.delete_unleased,
      deletionGraceSeconds: cr.deletion_grace ?? DEFAULT.crawler.deletion_grace,
      backupIntervalSeconds:
        database.kind === 'sqlite' ? (cr.backup_interval ?? DEFAULT.crawler.backup_interval) : 0,
      backupsKept: cr.backups_kept ?? DEFAULT.crawler.backups_kept,
    },
    gsd: {
      introduction: g.introduction,
      announce: g.announce ?? DEFAULT.gsd.announce,
      republishIntervalSeconds,
      checkIntervalSeconds,
      directoryQuotaBytes:
        g.directory_quota === undefined ? DEFAULT.gsd.directory_quota : g.directory_quota,
    },
  };
}

// ---------------------------------------------------------------------------- rendering

/** The values `ostrom init` may set; everything else is written with its default. */
export interface ConfigValues {
  readonly nickname?: string;
  readonly listen?: string;
  readonly port?: number;
  readonly publicHostname?: string;
  readonly reservedSpace?: string;
  readonly backend?: BackendKind;
  readonly diskPath?: string;
  readonly s3?: {
    readonly bucket: string;
    readonly endpoint?: string;
    readonly region?: string;
    readonly prefix?: string;
    readonly forcePathStyle?: boolean;
  };
  readonly databaseUrl?: string;
  readonly mode?: AccountingMode;
  readonly approval?: ApprovalMode;
  readonly defaultHardQuota?: string;
  readonly defaultSoftQuota?: string;
  /** `[accounting] feed` (default false). */
  readonly feed?: boolean;
  /**
   * `[accounting] anonymous_hard_quota` and `anonymous_reserved_per_connection` (a size or
   * "none"; default: the mode's). A node adopting a Tahoe-LAFS directory sets both to "none".
   */
  readonly anonymousHardQuota?: string;
  readonly anonymousReservedPerConnection?: string;
  readonly leaseDuration?: string;
  /** `[admin] port` (default: the storage port + 1). */
  readonly adminPort?: number;
  /** `[admin] enabled` (default true). */
  readonly adminEnabled?: boolean;
  /** `[crawler] enabled` (default true). */
  readonly crawlerEnabled?: boolean;
  /** `[gsd] introduction` (default none). */
  readonly gsdIntroduction?: string;
}

const str = (value: string) => JSON.stringify(value);

// The anonymous account's defaults as the config file writes sizes ("10GB").
const ANONYMOUS_QUOTA_TEXT = formatSize(ANONYMOUS_DEFAULTS.hardQuotaBytes).replace(' ', '');
const ANONYMOUS_RESERVED_TEXT = formatSize(ANONYMOUS_DEFAULTS.reservedBytesPerConnection).replace(
  ' ',
  '',
);

/** An option's default as `ostrom.toml` writes it, from {@link CONFIG_DEFAULTS}. */
function shown<S extends Section>(section: S, key: keyof (typeof CONFIG_DEFAULTS)[S]): string {
  const value: unknown = CONFIG_DEFAULTS[section][key];
  return typeof value === 'string' ? str(value) : String(value);
}

/** `key = value` when set, else the commented default (so the file documents every option). */
function line(key: string, value: string | undefined, fallback: string): string {
  return value === undefined ? `# ${key} = ${fallback}` : `${key} = ${value}`;
}

/**
 * The commented `ostrom.toml` with every option: those given in `values` set, the others
 * commented out at their default. `parseConfig` of the result reflects `values`.
 */
export function renderConfig(values: ConfigValues = {}): string {
  const s3 = values.backend === 's3' ? values.s3 : undefined;
  if (values.backend === 's3' && !s3) throw new TypeError('an s3 backend needs s3.bucket');
  const q = (v: string | undefined) => (v === undefined ? undefined : str(v));
  return `# ostrom.toml: the configuration of an Ostrom storage node.
# Every option is listed; a commented line shows its default. Relative paths are relative to
# this node directory. Sizes: "5GB", "1.5TB" (powers of 1000), "512MiB" (powers of 1024), or
# a number of bytes. Durations: "31d", "12h", "90m", or a number of seconds.

[node]
# Shown to clients in the server's announcement and on their welcome page.
${line('nickname', q(values.nickname), shown('node', 'nickname'))}

[storage]
# The HTTPS storage API (Tahoe-LAFS's HTTP storage protocol and the accounting extension).
${line('listen', q(values.listen), shown('storage', 'listen'))}
# Part of every NURL: changing it means reconfiguring every client.
${line('port', values.port === undefined ? undefined : String(values.port), shown('storage', 'port'))}
# The host clients connect to, written into NURLs (default: the listen address; required when
# listening on 0.0.0.0 or ::).
${line('public_hostname', q(values.publicHostname), str('127.0.0.1'))}
# The port written into NURLs, when clients reach this node on another port than it listens on:
# copies of one node listening on different ports behind one address (a TCP load balancer) share
# one NURL (default: the listening port).
# public_port = 443
# Space kept free on the disk (Tahoe's reserved_space).
${line('reserved_space', q(values.reservedSpace), shown('storage', 'reserved_space'))}
# A ceiling on what this node stores in total, for stores without one (S3); default none.
# capacity = "1TB"
# Uploads in progress this node holds at most: in all, of one account (the anonymous account
# counts as one: all clients without an account together), and allocated through one
# connection. Each costs memory and reserves its space until it completes or stays idle for
# 30 minutes; an allocation past a bound is refused with 503 and Retry-After (a Tahoe-LAFS
# client then places its shares on other servers). Each is at least 256, one allocation of
# every share number.
# max_uploads = ${shown('storage', 'max_uploads')}
# max_uploads_per_account = ${shown('storage', 'max_uploads_per_account')}
# max_uploads_per_connection = ${shown('storage', 'max_uploads_per_connection')}
# Connections held at once, in all and from one client address (an IPv6 client's /64); each
# costs a descriptor and memory, whether or not it sends anything. A connection past a bound is
# closed as it is accepted (the client retries later). Clients behind one NAT share an address.
# max_connections = ${shown('storage', 'max_connections')}
# max_connections_per_address = ${shown('storage', 'max_connections_per_address')}
# Read-test-write bodies (a Tahoe client sends a whole mutable share in one) held in memory at
# once, and received into temporary files (in spool/ of the node directory) at once, node-wide;
# the second is also the largest mutable write taken (413 above it, 503 and Retry-After when
# full). And the most one read-test-write may return (416 above it). Each at least 1MiB.
# request_memory = ${shown('storage', 'request_memory')}
# request_spool = ${shown('storage', 'request_spool')}
# read_vector_max = ${shown('storage', 'read_vector_max')}

[backend]
# "disk": a Tahoe-compatible storage directory; "s3": an S3-compatible bucket.
${line('kind', values.backend === undefined ? undefined : str(values.backend), shown('backend', 'kind'))}
${
  s3
    ? `bucket = ${str(s3.bucket)}
${line('endpoint', q(s3.endpoint), '"https://s3.example.net"   # default: AWS')}
${line('region', q(s3.region), shown('backend', 'region'))}
${line('prefix', q(s3.prefix), shown('backend', 'prefix'))}
${line(
  'force_path_style',
  s3.forcePathStyle === undefined ? undefined : String(s3.forcePathStyle),
  'true   # default: true when an endpoint is given',
)}
# One request to the store that takes longer is cut and tried again (5 attempts in all); a hung
# store then answers clients 503 after about 5 times this.
# request_timeout = ${shown('backend', 'request_timeout')}
# Credentials are never written here: they come from private/s3-credentials
# (access_key_id = "...", secret_access_key = "...") or from the environment
# (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).`
    : `${line('path', q(values.diskPath), shown('backend', 'path'))}
# For kind = "s3": bucket = "...", endpoint = "https://...", region = "us-east-1",
# prefix = "node-1/", force_path_style = true. Credentials are never written here: they come
# from private/s3-credentials or from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.`
}

[database]
# The lease database: a SQLite file, or a PostgreSQL URL (several nodes may share one). Keep a
# password out of this file: leave it out of the URL and set PGPASSWORD (or ~/.pgpass), or put
# the whole URL in private/database-url (mode 0600) instead of here.
${
  values.databaseUrl === undefined
    ? `# path = ${shown('database', 'path')}
# url = "postgres://user@db.example.net/ostrom"`
    : `url = ${str(values.databaseUrl)}`
}

[accounting]
# "disabled": everyone is anonymous; "enabled": anonymous clients are served and clients may
# obtain accounts; "required": only accounts may write.
${line('mode', q(values.mode), shown('accounting', 'mode'))}
# "automatic": account requests are granted at once; "manual": they wait for
# \`ostrom accounts approve\`. Default: automatic when mode is "enabled", manual when "required".
${line('approval', q(values.approval), str('automatic'))}
# Quotas given to accounts created from requests ("none" = no limit).
${line('default_hard_quota', q(values.defaultHardQuota), shown('accounting', 'default_hard_quota'))}
${line('default_soft_quota', q(values.defaultSoftQuota), shown('accounting', 'default_soft_quota'))}
# The public feed: GET /accounting/v1/feed on the storage port gives anyone holding a NURL of
# this node (any member of the grid) the digest of the last 24 hours and each account's
# nickname, shares, bytes and uploads, as JSON (\`ostrom grid feed NURL\` prints it). Never keys,
# swissnums or NURLs; but nicknames and usage become visible to the whole grid.
${line('feed', values.feed === undefined ? undefined : String(values.feed), shown('accounting', 'feed'))}
# Grid invitations: codes the grid directory's holder signs (\`ostrom gsd invite\`) with the
# membership key the directory publishes. With this on, such a code makes an active account here
# at once, whatever the approval, bound to the first key that uses it here, with this hard
# quota ("none" = no limit). Needs [gsd] introduction (the grid whose invitations count).
# honour_grid_invitations = ${shown('accounting', 'honour_grid_invitations')}
# grid_invitation_quota = ${shown('accounting', 'grid_invitation_quota')}
# The anonymous account (every client using the node's NURL without an account of its own):
# its hard quota, all such clients together, unless set on the account itself (\`ostrom accounts
# set-quota 0\`), and what its uploads in progress may reserve through one connection, so that
# one client cannot take that quota from the others. Default: ${ANONYMOUS_QUOTA_TEXT} and ${ANONYMOUS_RESERVED_TEXT} with
# mode "enabled" or "required"; "none" with mode "disabled", where every client is anonymous.${
    values.anonymousHardQuota === 'none' && values.anonymousReservedPerConnection === 'none'
      ? `
# None here: this node serves a Tahoe-LAFS storage directory, whose shares were adopted by the
# anonymous account, and its clients upload as before.`
      : ''
  }
${line('anonymous_hard_quota', q(values.anonymousHardQuota), str(ANONYMOUS_QUOTA_TEXT))}
${line(
  'anonymous_reserved_per_connection',
  q(values.anonymousReservedPerConnection),
  str(ANONYMOUS_RESERVED_TEXT),
)}

[leases]
# How long a lease added or renewed by a client lasts (Tahoe: 31 days).
${line('duration', q(values.leaseDuration), shown('leases', 'duration'))}
# The longest lease a client may ask for through the accounting extension.
${line('max_duration', undefined, shown('leases', 'max_duration'))}

[admin]
# The admin API (JSON, /admin/v1/...) and Prometheus /metrics, over plain HTTP on 127.0.0.1
# only (any other listen address is refused). Every request needs the token in
# private/admin-token: "Authorization: Bearer <token>".
${line('enabled', values.adminEnabled === undefined ? undefined : String(values.adminEnabled), shown('admin', 'enabled'))}
# listen = "127.0.0.1"   # the only address allowed
${line(
  'port',
  values.adminPort === undefined ? undefined : String(values.adminPort),
  `${(values.port ?? DEFAULT_PORT) + 1}   # default: the storage port + 1`,
)}

[cluster]
# Several server processes may serve one node (behind a load balancer): each with a copy of this
# node directory, all on one PostgreSQL database and one S3 bucket. Each needs an id of its own
# that stays the same across restarts, and an address where the others reach it: a chunk of an
# upload that another process holds is forwarded to it there.
# process_id = "<host name>-<port>"   # default
# peer_url = "https://<listen address>:<port>"   # default; 127.0.0.1 when listening on 0.0.0.0 or ::
# Writers of one storage index, and quota-limited accounts, take turns across processes
# (PostgreSQL advisory locks). Turn off only when this process is sure to be the only one.
# cross_process_locks = ${shown('cluster', 'cross_process_locks')}
# PostgreSQL connections that hold those locks (apart from the query pool).
# lock_pool_size = ${shown('cluster', 'lock_pool_size')}

[crawler]
# The accounting crawler walks the store in the background, a prefix at a time: it adopts shares
# the database does not know, forgets those that vanished, expires leases and deletes shares
# left without one. Processes sharing one database elect the one that crawls (a claim in the
# database under [cluster] process_id); when it stops or dies another takes over where it was.
${line('enabled', values.crawlerEnabled === undefined ? undefined : String(values.crawlerEnabled), shown('crawler', 'enabled'))}
# Share of wall time the crawl may use (Tahoe's crawlers: 10%), and the shortest cycle.
# allowed_fraction = ${shown('crawler', 'allowed_fraction')}
# min_cycle = ${shown('crawler', 'min_cycle')}
# Delete shares left without a lease, this long after their last lease expired (false: only
# report them, in \`ostrom crawler status\`). After the database is restored or rebuilt, none is
# deleted for this long either: the leases renewed after its backup are unknown.
# delete_unleased = ${shown('crawler', 'delete_unleased')}
# deletion_grace = ${shown('crawler', 'deletion_grace')}
# Backups of a SQLite lease database, sealed with private/state-key, kept in the backend beside
# the shares (and one at each clean shutdown; 0: none). PostgreSQL is backed up with pg_dump.
# backup_interval = ${shown('crawler', 'backup_interval')}
# backups_kept = ${shown('crawler', 'backups_kept')}

[gsd]
# The grid service directory: the grid's list of storage servers, kept on the servers
# themselves (see \`ostrom gsd --help\`). With the grid's introduction text (what
# \`ostrom gsd introduction-text\` prints on the node holding the directory), this node publishes
# its own announcement (nickname, server id, NURL, fURL, permutation seed, available space,
# version) to itself, the introduction's servers and every server in the directory, and keeps it
# up to date. Hand \`ostrom gsd announcement\` to the directory's operator to be listed.
${line('introduction', q(values.gsdIntroduction), '"gsd:r1:...,pb://...#v=1"   # default: none')}
# Publish this node's announcement (false: only read the directory, e.g. on the node of an
# operator who lists other servers but does not want this one listed).
# announce = ${shown('gsd', 'announce')}
# The announcement is written again this often even when nothing changed, which renews its
# leases on every server; a node holding the directory's writecap renews the directory's leases
# as often. At most half of [leases] duration.
# republish_interval = ${shown('gsd', 'republish_interval')}
# How often the node reads the directory again, measures its available space (a change of 10%
# or more is published), and retries a publication that failed.
# check_interval = ${shown('gsd', 'check_interval')}
# With [accounting] mode = "required" (only accounts may write), the grid's nodes still write the
# directory and their announcements here through the anonymous NURL: this node takes those
# writes for the directory of its introduction, its own announcement and the announcements the
# directory lists (none other), made as the account "grid directory", with this hard quota
# ("none" = no limit). Without an introduction (and not holding the directory) it takes none.
# directory_quota = ${shown('gsd', 'directory_quota')}
`;
}
