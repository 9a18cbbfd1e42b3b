import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@ostrom/test-fixtures';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_DEFAULTS,
  CONFIG_FILE,
  DEFAULT_PORT,
  parseConfig,
  renderConfig,
} from '../src/config.js';
import { NodeError } from '../src/errors.js';
import { initNode, type LoadedNode } from '../src/node-dir.js';
import { processIdentity } from '../src/server.js';

function configError(text: string): NodeError {
  try {
    parseConfig(text);
  } catch (error) {
    expect(error).toBeInstanceOf(NodeError);
    expect((error as NodeError).code).toBe('CONFIG_INVALID');
    return error as NodeError;
  }
  throw new Error('expected a config error');
}

describe('parseConfig', () => {
  it('fills every default for an empty file', () => {
    expect(parseConfig('')).toEqual({
      node: { nickname: 'ostrom' },
      storage: {
        listen: '127.0.0.1',
        port: DEFAULT_PORT,
        publicHostname: '127.0.0.1',
        reservedBytes: 0,
        capacityBytes: undefined,
        maxUploads: 2048,
        maxUploadsPerAccount: 1024,
        maxUploadsPerConnection: 512,
        maxConnections: 2048,
        maxConnectionsPerAddress: 128,
        requestMemoryBytes: 8 * 2 ** 20,
        requestSpoolBytes: 2 ** 30,
        readVectorMaxBytes: 4 * 2 ** 20,
      },
      backend: { kind: 'disk', path: 'storage' },
      database: { kind: 'sqlite', path: 'leasedb.sqlite' },
      accounting: {
        mode: 'enabled',
        approval: undefined,
        defaultHardQuotaBytes: null,
        defaultSoftQuotaBytes: null,
        feed: false,
        honourGridInvitations: false,
        gridInvitationQuotaBytes: null,
      },
      leases: { durationSeconds: 31 * 86_400, maxDurationSeconds: 5 * 365 * 86_400 },
      admin: { enabled: true, port: DEFAULT_PORT + 1 },
      cluster: {
        processId: undefined,
        peerUrl: undefined,
        crossProcessLocks: true,
        lockPoolSize: 4,
      },
      crawler: {
        enabled: true,
        allowedFraction: 0.1,
        minCycleSeconds: 3600,
        deleteUnleased: true,
        deletionGraceSeconds: 14 * 86_400,
        backupIntervalSeconds: 3600,
        backupsKept: 24,
      },
      gsd: {
        introduction: undefined,
        announce: true,
        republishIntervalSeconds: 86_400,
        checkIntervalSeconds: 600,
        directoryQuotaBytes: 8 * 1024 ** 2,
      },
    });
  });

  it('reads [crawler]', () => {
    const config = parseConfig(
      '[crawler]\nenabled = false\nallowed_fraction = 0.5\nmin_cycle = "6h"\ndelete_unleased = false\ndeletion_grace = 0\nbackup_interval = "30m"\nbackups_kept = 48',
    );
    expect(config.crawler).toEqual({
      enabled: false,
      allowedFraction: 0.5,
      minCycleSeconds: 6 * 3600,
      deleteUnleased: false,
      deletionGraceSeconds: 0,
      backupIntervalSeconds: 1800,
      backupsKept: 48,
    });
    expect(parseConfig('[crawler]\nbackup_interval = "0"').crawler.backupIntervalSeconds).toBe(0);
    // No backups of PostgreSQL (pg_dump's job): off, and 0 may say so.
    const pg = 'url = "postgres://u@db/ostrom"';
    expect(parseConfig(`[database]\n${pg}`).crawler.backupIntervalSeconds).toBe(0);
    expect(
      parseConfig(`[database]\n${pg}\n[crawler]\nbackup_interval = 0`).crawler
        .backupIntervalSeconds,
    ).toBe(0);
  });

  it('reads [cluster]', () => {
    const config = parseConfig(
      '[cluster]\nprocess_id = "node-a.1"\npeer_url = "https://10.0.0.5:3457"\ncross_process_locks = false\nlock_pool_size = 8',
    );
    expect(config.cluster).toEqual({
      processId: 'node-a.1',
      peerUrl: 'https://10.0.0.5:3457',
      crossProcessLocks: false,
      lockPoolSize: 8,
    });
  });

  it('renderConfig() with no values parses to the defaults and lists every option', () => {
    const text = renderConfig();
    expect(parseConfig(text)).toEqual(parseConfig(''));
    for (const key of [
      'nickname',
      'listen',
      'port',
      'public_hostname',
      'public_port',
      'reserved_space',
      'capacity',
      'kind',
      'path',
      'url',
      'mode',
      'approval',
      'default_hard_quota',
      'default_soft_quota',
      'feed',
      'anonymous_hard_quota',
      'anonymous_reserved_per_connection',
      'max_uploads',
      'max_uploads_per_account',
      'max_uploads_per_connection',
      'max_connections',
      'max_connections_per_address',
      'request_memory',
      'request_spool',
      'read_vector_max',
      'duration',
      'max_duration',
      'process_id',
      'peer_url',
      'cross_process_locks',
      'lock_pool_size',
      'enabled',
      'allowed_fraction',
      'min_cycle',
      'delete_unleased',
      'deletion_grace',
      'backup_interval',
      'backups_kept',
      'introduction',
      'announce',
      'republish_interval',
      'check_interval',
      'directory_quota',
    ]) {
      expect(text).toMatch(new RegExp(`^# ${key} = `, 'm'));
    }
  });

  it('renderConfig(values) round-trips the values', () => {
    const config = parseConfig(
      renderConfig({
        nickname: 'n1',
        port: 4000,
        publicHostname: 'storage.example.net',
        reservedSpace: '5GB',
        backend: 's3',
        s3: { bucket: 'shares', endpoint: 'http://127.0.0.1:9000', prefix: 'node-1/' },
        databaseUrl: 'postgres://u@db/ostrom',
        mode: 'required',
        approval: 'manual',
        defaultHardQuota: '10GB',
        defaultSoftQuota: '8GB',
        feed: true,
        leaseDuration: '60d',
      }),
    );
    expect(config.node.nickname).toBe('n1');
    expect(config.storage).toMatchObject({
      port: 4000,
      publicHostname: 'storage.example.net',
      reservedBytes: 5e9,
    });
    expect(config.backend).toEqual({
      kind: 's3',
      bucket: 'shares',
      endpoint: 'http://127.0.0.1:9000',
      region: 'us-east-1',
      prefix: 'node-1/',
      forcePathStyle: true,
      requestTimeoutSeconds: 30,
    });
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://u@db/ostrom' });
    expect(config.accounting).toEqual({
      mode: 'required',
      approval: 'manual',
      defaultHardQuotaBytes: 10e9,
      defaultSoftQuotaBytes: 8e9,
      feed: true,
      honourGridInvitations: false,
      gridInvitationQuotaBytes: null,
    });
    expect(config.leases.durationSeconds).toBe(60 * 86_400);
  });

  it('[accounting] honour_grid_invitations and grid_invitation_quota: a boolean and a quota', () => {
    const config = parseConfig(
      '[accounting]\nhonour_grid_invitations = true\ngrid_invitation_quota = "3MB"\n',
    );
    expect(config.accounting).toMatchObject({
      honourGridInvitations: true,
      gridInvitationQuotaBytes: 3_000_000,
    });
    expect(() => parseConfig('[accounting]\nhonour_grid_invitations = "yes"\n')).toThrow(
      /honour_grid_invitations/,
    );
    expect(() => parseConfig('[accounting]\ngrid_invitation_quota = "lots"\n')).toThrow(
      /grid_invitation_quota/,
    );
  });

  it('[backend] request_timeout: a duration from 1 s to 1 h, for s3 only', () => {
    const s3 = (timeout: string) =>
      parseConfig(`[backend]\nkind = "s3"\nbucket = "shares"\nrequest_timeout = ${timeout}\n`);
    expect(s3('"2s"').backend).toMatchObject({ requestTimeoutSeconds: 2 });
    expect(s3('"5m"').backend).toMatchObject({ requestTimeoutSeconds: 300 });
    expect(() => s3('"0s"')).toThrow(/request_timeout/);
    expect(() => s3('"2h"')).toThrow(/request_timeout: must be at most 1h/);
    expect(() => parseConfig('[backend]\nrequest_timeout = "2s"\n')).toThrow(
      /request_timeout.*only for kind = "s3"/,
    );
  });

  it('reads sizes, quotas and durations', () => {
    const config = parseConfig(`
[storage]
reserved_space = "512MiB"
capacity = 1000
[accounting]
default_hard_quota = "1.5TB"
default_soft_quota = "none"
[leases]
duration = "12h"
[gsd]
directory_quota = "1MiB"
`);
    expect(config.storage.reservedBytes).toBe(512 * 1024 ** 2);
    expect(config.gsd.directoryQuotaBytes).toBe(1024 ** 2);
    expect(parseConfig('[gsd]\ndirectory_quota = "none"\n').gsd.directoryQuotaBytes).toBeNull();
    expect(config.storage.capacityBytes).toBe(1000);
    expect(config.accounting.defaultHardQuotaBytes).toBe(1.5e12);
    expect(config.accounting.defaultSoftQuotaBytes).toBeNull();
    expect(config.leases.durationSeconds).toBe(43_200);
  });

  it.each([
    [
      '[storage]\nport = "abc"',
      'ostrom.toml: [storage] port: expected an integer 1–65535, got "abc"',
    ],
    ['[storage]\nport = 70000', '[storage] port: expected an integer 1–65535, got 70000'],
    ['[storage]\nprot = 1', '[storage] unknown key "prot"'],
    ['[stroage]\nport = 1', 'unknown section [stroage]'],
    ['[storage]\nreserved_space = "lots"', '[storage] reserved_space: expected a size'],
    ['[storage]\nlisten = "a b"', '[storage] listen: expected an IP address or a host name'],
    [
      '[storage]\nlisten = "0.0.0.0"',
      '[storage] public_hostname: required when listening on 0.0.0.0',
    ],
    ['[node]\nnickname = 5', '[node] nickname: expected a string'],
    ['[backend]\nkind = "ftp"', '[backend] kind: expected one of "disk", "s3", got "ftp"'],
    ['[backend]\nkind = "s3"', '[backend] bucket: required for kind = "s3"'],
    ['[backend]\nbucket = "b-1"', '[backend] bucket: only for kind = "s3"'],
    [
      '[backend]\nkind = "s3"\nbucket = "b-1"\nsecret_access_key = "x"',
      '[backend] secret_access_key: credentials do not belong',
    ],
    [
      '[backend]\nkind = "s3"\nbucket = "b-1"\nforce_path_style = "yes"',
      '[backend] force_path_style: expected true or false',
    ],
    [
      '[database]\nurl = "mysql://x"',
      '[database] url: expected a postgres:// or postgresql:// URL',
    ],
    ['[database]\npath = "a"\nurl = "postgres://x/y"', '[database] url: give either path'],
    [
      '[accounting]\nmode = "on"',
      '[accounting] mode: expected one of "disabled", "enabled", "required"',
    ],
    [
      '[accounting]\ndefault_hard_quota = "1GB"\ndefault_soft_quota = "2GB"',
      '[accounting] default_soft_quota: must not exceed',
    ],
    ['[leases]\nduration = "10y"', '[leases] duration: must not exceed max_duration'],
    ['[leases]\nduration = "soon"', '[leases] duration: expected a duration'],
    ['storage = 5', '[storage]: expected a table, got 5'],
    ['[cluster]\nprocess_id = "a b"', '[cluster] process_id: expected 1–64 characters'],
    ['[cluster]\npeer_url = "http://x:1"', '[cluster] peer_url: expected https://host:port'],
    ['[cluster]\npeer_url = "https://x:1/path"', '[cluster] peer_url: expected https://host:port'],
    ['[cluster]\nlock_pool_size = 0', '[cluster] lock_pool_size: expected an integer 1–100'],
    ['[cluster]\ncross_process_locks = "yes"', '[cluster] cross_process_locks: expected true'],
    ['[storage\nport = 1', 'ostrom.toml: line 1'],
    ['[crawler]\nenabled = "yes"', '[crawler] enabled: expected true or false, got "yes"'],
    ['[accounting]\nfeed = "yes"', '[accounting] feed: expected true or false, got "yes"'],
    [
      '[crawler]\nallowed_fraction = 0',
      '[crawler] allowed_fraction: expected a number greater than 0',
    ],
    [
      '[crawler]\nallowed_fraction = 1.5',
      '[crawler] allowed_fraction: expected a number greater than 0',
    ],
    ['[crawler]\nmin_cycle = "soon"', '[crawler] min_cycle: expected a duration'],
    ['[crawler]\ndeletion_grace = -1', '[crawler] deletion_grace: expected a duration'],
    ['[crawler]\ndelete_unleased = 1', '[crawler] delete_unleased: expected true or false'],
    ['[crawler]\nbackup_interval = "hourly"', '[crawler] backup_interval: expected a duration'],
    ['[crawler]\nbackups_kept = 0', '[crawler] backups_kept: expected an integer 1–1000, got 0'],
    ['[crawler]\nbackups_kept = 2.5', '[crawler] backups_kept: expected an integer 1–1000'],
    ['[crawler]\nbackup = "1h"', '[crawler] unknown key "backup"'],
    [
      '[database]\nurl = "postgres://u@db/x"\n[crawler]\nbackups_kept = 5',
      '[crawler] backups_kept: backups are made of a SQLite database only; back up PostgreSQL with pg_dump',
    ],
    [
      '[database]\nurl = "postgres://u@db/x"\n[crawler]\nbackup_interval = "1h"',
      '[crawler] backup_interval: backups are made of a SQLite database only',
    ],
  ])('%j → one message naming the key', (text, message) => {
    const error = configError(text);
    expect(error.message).toContain(message);
    expect(error.message.split('\n')).toHaveLength(1);
  });

  it('reads the bounds on uploads in progress and the anonymous limits; absent, the accountant decides', () => {
    const empty = parseConfig('');
    expect(empty.storage).toMatchObject({
      maxUploads: 2048,
      maxUploadsPerAccount: 1024,
      maxUploadsPerConnection: 512,
    });
    expect(empty.accounting).toMatchObject({
      anonymousHardQuotaBytes: undefined,
      anonymousReservedBytesPerConnection: undefined,
    });
    const config = parseConfig(`
[storage]
max_uploads = 10000
max_uploads_per_account = 2048
max_uploads_per_connection = 256
[accounting]
anonymous_hard_quota = "50GB"
anonymous_reserved_per_connection = "none"
`);
    expect(config.storage).toMatchObject({
      maxUploads: 10_000,
      maxUploadsPerAccount: 2048,
      maxUploadsPerConnection: 256,
    });
    expect(empty.storage).toMatchObject({
      requestMemoryBytes: 8 * 2 ** 20,
      requestSpoolBytes: 2 ** 30,
      readVectorMaxBytes: 4 * 2 ** 20,
    });
    expect(
      parseConfig(
        '[storage]\nrequest_memory = "16MiB"\nrequest_spool = "4GiB"\nread_vector_max = 2097152',
      ).storage,
    ).toMatchObject({
      requestMemoryBytes: 16 * 2 ** 20,
      requestSpoolBytes: 4 * 2 ** 30,
      readVectorMaxBytes: 2 * 2 ** 20,
    });
    expect(empty.storage).toMatchObject({ maxConnections: 2048, maxConnectionsPerAddress: 128 });
    expect(empty.storage.publicPort).toBeUndefined();
    expect(parseConfig('[storage]\nport = 3457\npublic_port = 443').storage).toMatchObject({
      port: 3457,
      publicPort: 443,
    });
    expect(
      parseConfig('[storage]\nmax_connections = 5000\nmax_connections_per_address = 16').storage,
    ).toMatchObject({ maxConnections: 5000, maxConnectionsPerAddress: 16 });
    // A total below the default per-address bound lowers that bound with it.
    expect(parseConfig('[storage]\nmax_connections = 50').storage).toMatchObject({
      maxConnections: 50,
      maxConnectionsPerAddress: 50,
    });
    expect(config.accounting).toMatchObject({
      anonymousHardQuotaBytes: 50e9,
      anonymousReservedBytesPerConnection: null,
    });
    expect(
      parseConfig(
        renderConfig({ anonymousHardQuota: '1TB', anonymousReservedPerConnection: '5GB' }),
      ).accounting,
    ).toMatchObject({ anonymousHardQuotaBytes: 1e12, anonymousReservedBytesPerConnection: 5e9 });
  });

  it.each([
    ['[storage]\nmax_uploads = 255', '[storage] max_uploads: expected an integer of at least 256'],
    [
      '[storage]\nmax_uploads_per_account = "many"',
      '[storage] max_uploads_per_account: expected an integer of at least 256',
    ],
    [
      '[storage]\nmax_uploads_per_connection = 300.5',
      '[storage] max_uploads_per_connection: expected an integer of at least 256',
    ],
    [
      '[storage]\nrequest_memory = "512KiB"',
      '[storage] request_memory: expected a size such as "5GB", "512MiB" or a number of bytes, at least 1MiB',
    ],
    ['[storage]\nrequest_spool = "lots"', '[storage] request_spool: expected a size'],
    ['[storage]\nread_vector_max = 0', '[storage] read_vector_max: expected a size'],
    ['[storage]\npublic_port = 70000', '[storage] public_port: expected'],
    [
      '[storage]\nmax_connections = 0',
      '[storage] max_connections: expected an integer of at least 1',
    ],
    [
      '[storage]\nmax_connections_per_address = "all"',
      '[storage] max_connections_per_address: expected an integer of at least 1',
    ],
    [
      '[storage]\nmax_connections = 100\nmax_connections_per_address = 200',
      '[storage] max_connections_per_address: must not exceed max_connections',
    ],
    [
      '[accounting]\nanonymous_hard_quota = "lots"',
      '[accounting] anonymous_hard_quota: expected a size',
    ],
    [
      '[accounting]\nanonymous_reserved_per_connection = -1',
      '[accounting] anonymous_reserved_per_connection: expected a size',
    ],
    ['[gsd]\ndirectory_quota = "small"', '[gsd] directory_quota: expected a size'],
  ])('%j → one message naming the key', (text, message) => {
    const error = configError(text);
    expect(error.message).toContain(message);
    expect(error.message.split('\n')).toHaveLength(1);
  });

  it('init leaves the anonymous limits to the mode, except over a store that holds shares (an adoption): none', async () => {
    const fresh = await initNode(await tempDir('config-init-'));
    expect(fresh.config.accounting).toMatchObject({
      anonymousHardQuotaBytes: undefined,
      anonymousReservedBytesPerConnection: undefined,
    });
    const text = await readFile(join(fresh.dir, CONFIG_FILE), 'utf8');
    expect(text).toMatch(/^# anonymous_hard_quota = "10GB"$/m);
    expect(text).toMatch(/^# anonymous_reserved_per_connection = "2GB"$/m);

    // A Tahoe-LAFS storage directory (`ostrom init --adopt`): its shares go to the anonymous
    // account, whose clients must go on uploading as they did.
    const tahoe = join(await tempDir('config-tahoe-'), 'storage');
    await mkdir(join(tahoe, 'shares'), { recursive: true });
    const adopted = await initNode(await tempDir('config-adopt-'), { diskPath: tahoe });
    expect(adopted.config.accounting).toMatchObject({
      anonymousHardQuotaBytes: null,
      anonymousReservedBytesPerConnection: null,
    });
    // The operator's choice stands.
    const chosen = await initNode(await tempDir('config-adopt-'), {
      diskPath: tahoe,
      anonymousHardQuota: '1TB',
    });
    expect(chosen.config.accounting).toMatchObject({
      anonymousHardQuotaBytes: 1e12,
      anonymousReservedBytesPerConnection: null,
    });
  });

  it('names the file it was given', () => {
    expect(() => parseConfig('[x]', '/srv/node/ostrom.toml')).toThrow(
      '/srv/node/ostrom.toml: unknown section [x]',
    );
  });
});

describe('processIdentity', () => {
  const nodeWith = (text: string) => ({ config: parseConfig(text) }) as LoadedNode;

  it('defaults to the host name and port, reached at the listen address', () => {
    expect(
      processIdentity(nodeWith('[storage]\nlisten = "10.1.2.3"'), 4000, 'box.example'),
    ).toEqual({ id: 'box.example-4000', url: 'https://10.1.2.3:4000' });
  });

  it('uses loopback for a wildcard listen address and brackets IPv6', () => {
    const wildcard = nodeWith('[storage]\nlisten = "0.0.0.0"\npublic_hostname = "x.example"');
    expect(processIdentity(wildcard, 1, 'h').url).toBe('https://127.0.0.1:1');
    expect(processIdentity(nodeWith('[storage]\nlisten = "::1"'), 2, 'h').url).toBe(
      'https://[::1]:2',
    );
  });

  it('makes any host name a valid process id, and [cluster] overrides both', () => {
    expect(processIdentity(nodeWith(''), 5, 'weird host/name').id).toBe('weird-host-name-5');
    expect(
      processIdentity(
        nodeWith('[cluster]\nprocess_id = "p1"\npeer_url = "https://10.0.0.9:9"'),
        5,
        'h',
      ),
    ).toEqual({ id: 'p1', url: 'https://10.0.0.9:9' });
  });
});

describe('the README documents the defaults', () => {
  // The README's configuration table: rows like "| `[crawler] allowed_fraction`, `min_cycle` |
  // 0.1, `"1h"` | ... |", the defaults in the order of the keys.
  const readmeDefaults = async (): Promise<Map<string, string>> => {
    const readme = await readFile(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const shown = new Map<string, string>();
    for (const row of readme.split('\n')) {
      const cells = row.split(' | ');
      const keys = [...(cells[0] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      const section = /^\[([a-z]+)\] /.exec(keys[0] ?? '')?.[1];
      if (!row.startsWith('| `[') || section === undefined || cells[1] === undefined) continue;
      const values = cells[1].split(', ');
      keys.forEach((key, i) => {
        shown.set(`[${section}] ${key.replace(`[${section}] `, '')}`, values[i] ?? '');
      });
    }
    return shown;
  };

  it('every default in CONFIG_DEFAULTS is the one the README gives', async () => {
    const shown = await readmeDefaults();
    for (const [section, keys] of Object.entries(CONFIG_DEFAULTS)) {
      for (const [key, value] of Object.entries(keys)) {
        const written = typeof value === 'string' ? JSON.stringify(value) : String(value);
        const escaped = written.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        // Strings in code quotes; numbers and booleans plain or quoted.
        const pattern = typeof value === 'string' ? `\`${escaped}\`` : `\`?${escaped}\`?`;
        expect(shown.get(`[${section}] ${key}`), `[${section}] ${key}`).toMatch(
          new RegExp(`^${pattern}(?: |$)`),
        );
      }
    }
  });

  it('every default in CONFIG_DEFAULTS is the one `ostrom init` writes', () => {
    // The S3 options are written only for an S3 node.
    const rendered = [renderConfig(), renderConfig({ backend: 's3', s3: { bucket: 'b-1' } })];
    for (const [section, keys] of Object.entries(CONFIG_DEFAULTS)) {
      const body = rendered
        .map((text) => text.split(`[${section}]\n`)[1]!.split('\n[')[0]!)
        .join('\n');
      for (const [key, value] of Object.entries(keys)) {
        const written = typeof value === 'string' ? JSON.stringify(value) : String(value);
        expect(body, `[${section}] ${key}`).toContain(`# ${key} = ${written}`);
      }
    }
  });
});
