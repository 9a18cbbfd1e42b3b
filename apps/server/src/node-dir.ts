import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import {
  base32Decode,
  base32Encode,
  createSelfSignedCertificate,
  ProtocolError,
  spkiHash,
} from '@ostrom/protocol';
import { parse as parseToml } from 'smol-toml';
import {
  CONFIG_FILE,
  type ConfigValues,
  type OstromConfig,
  parseConfig,
  renderConfig,
} from './config.js';
import { NodeError } from './errors.js';

/** The files of a node's `private/` directory (mode 0700; each file 0600). */
export const PRIVATE_FILES = {
  tlsKey: 'private/tls.key',
  tlsCert: 'private/tls.crt',
  serverSecret: 'private/server-secret',
  stateKey: 'private/state-key',
  tubId: 'private/tub-id',
  nodeKey: 'private/node.key',
  s3Credentials: 'private/s3-credentials',
  adminToken: 'private/admin-token',
  /** The PostgreSQL URL, with its password, when it is kept out of ostrom.toml (optional). */
  databaseUrl: 'private/database-url',
  /** The writecap of this node's own announcement in the grid service directory (made on first need). */
  gsdAnnouncement: 'private/gsd-announcement.writecap',
  /** The writecap of the grid service directory, on the node of its operator (`ostrom gsd create`). */
  gsdDirectory: 'private/gsd-directory.writecap',
  /**
   * The seed (base32, 32 bytes) of the grid's membership key, which signs grid invitations, on
   * the node of the directory's operator (`ostrom gsd create` or `gsd membership-key`).
   */
  gsdMembership: 'private/gsd-membership.key',
} as const;

/** Everything a node directory holds, read and checked. */
export interface LoadedNode {
  /** Absolute path of the node directory. */
  readonly dir: string;
  readonly config: OstromConfig;
  readonly tls: { readonly keyPem: string; readonly certPem: string; readonly spkiHash: string };
  /** Swissnums derive from it. */
  readonly serverSecret: Uint8Array;
  /** Seals state blobs (backups). */
  readonly stateKey: Uint8Array;
  /** 32 chars of base32: the tub id of the announced fURL (docs/TAHOE-COMPATIBILITY.md fact 13). */
  readonly tubId: string;
  /** Its 20 bytes, written into mutable containers as Tahoe's node id. */
  readonly tubIdBytes: Uint8Array;
  /** `v0-` + base32 of the node's Ed25519 public key, as Tahoe's server ids. */
  readonly serverId: string;
  /** The server id without `v0-`: Tahoe derives `permutation-seed-base32` from the node key too. */
  readonly permutationSeed: string;
  readonly nodeKey: KeyObject;
}

/** The absolute path of `path` taken relative to the node directory. */
export function nodePath(dir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dir, path);
}

/** Whether anything is at `path` (a file, a directory). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function serverIdOf(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  const raw = Buffer.from(jwk.x!, 'base64url');
  return `v0-${base32Encode(raw)}`;
}

/**
 * Creates a node directory: `ostrom.toml` (commented, every option; over a storage directory
 * that holds shares already, with no anonymous quota: see ADOPTED_ANONYMOUS), and `private/` (0700)
 * with the TLS key and self-signed certificate, the server secret, the state key, the tub id
 * and the node key (each 0600). The directory may exist but must not hold a node:
 * NodeError `NODE_EXISTS` otherwise, and nothing is changed. The config is validated before
 * anything is written.
 */
export async function initNode(dir: string, values: ConfigValues = {}): Promise<LoadedNode> {
  const root = resolve(dir);
  const configText = renderConfig(
    (await adoptsStore(root, values)) ? { ...ADOPTED_ANONYMOUS, ...values } : values,
  );
  parseConfig(configText); // a bad --port or --hostname fails before anything is written
  for (const name of [CONFIG_FILE, 'private']) {
    if (await exists(join(root, name))) {
      throw new NodeError('NODE_EXISTS', `${join(root, name)} exists: ${root} is already a node`);
    }
  }
  await mkdir(join(root, 'private'), { recursive: true, mode: 0o700 });
  await chmod(join(root, 'private'), 0o700); // mkdir's mode is filtered by the umask
  const cert = createSelfSignedCertificate();
  const { privateKey } = generateKeyPairSync('ed25519');
  const secretFile = async (name: string, content: string) => {
    // `wx`: a concurrent init of the same directory fails instead of mixing two identities.
    await writeFile(join(root, name), content, { mode: 0o600, flag: 'wx' });
    await chmod(join(root, name), 0o600);
  };
  await secretFile(PRIVATE_FILES.tlsKey, cert.keyPem);
  await secretFile(PRIVATE_FILES.tlsCert, cert.certPem);
  await secretFile(PRIVATE_FILES.serverSecret, `${base32Encode(randomBytes(32))}\n`);
  await secretFile(PRIVATE_FILES.stateKey, `${base32Encode(randomBytes(32))}\n`);
  await secretFile(PRIVATE_FILES.tubId, `${base32Encode(randomBytes(20))}\n`);
  await secretFile(
    PRIVATE_FILES.nodeKey,
    privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  );
  await secretFile(PRIVATE_FILES.adminToken, newAdminToken());
  // Written last: its presence marks a complete node.
  await writeFile(join(root, CONFIG_FILE), configText, { mode: 0o644, flag: 'wx' });
  return await loadNode(root);
}

/**
 * A node made over a storage directory that holds shares already (`ostrom init --adopt`, a
 * Tahoe-LAFS node's `storage/`) serves them as they are: the anonymous account adopts them and
 * its clients go on uploading as they did to Tahoe, so it gets no quota and no bound on what a
 * connection reserves unless the operator sets them.
 */
const ADOPTED_ANONYMOUS = {
  anonymousHardQuota: 'none',
  anonymousReservedPerConnection: 'none',
} as const satisfies ConfigValues;

/** Whether the node's disk store exists already with a `shares/` directory in it. */
async function adoptsStore(root: string, values: ConfigValues): Promise<boolean> {
  if ((values.backend ?? 'disk') !== 'disk') return false;
  return await exists(join(nodePath(root, values.diskPath ?? 'storage'), 'shares'));
}

/**
 * `private/database-url` if there is one. It holds a password: readable by others, it is refused
 * (as ssh refuses a private key others can read) rather than used.
 */
async function readPrivateDatabaseUrl(root: string): Promise<string | undefined> {
  const path = join(root, PRIVATE_FILES.databaseUrl);
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new NodeError('NODE_DAMAGED', `cannot read ${path}`, { cause: error });
  }
  if ((mode & 0o077) !== 0) {
    throw new NodeError(
      'NODE_DAMAGED',
      `${path} holds a password and others may read it (mode ${(mode & 0o777).toString(8)}): chmod 600 it`,
    );
  }
  return (await readText(root, PRIVATE_FILES.databaseUrl)).split('\n')[0];
}

async function readText(root: string, name: string): Promise<string> {
  try {
    return await readFile(join(root, name), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new NodeError('NODE_DAMAGED', `${join(root, name)} is missing`, { cause: error });
    }
    throw new NodeError('NODE_DAMAGED', `cannot read ${join(root, name)} (${code})`, {
      cause: error,
    });
  }
}

function damaged(root: string, name: string, what: string, cause?: unknown): never {
  throw new NodeError('NODE_DAMAGED', `${join(root, name)} is damaged: ${what}`, { cause });
}

async function readBase32(root: string, name: string, bytes: number): Promise<Uint8Array> {
  const decoded = base32Decode((await readText(root, name)).trim());
  if (decoded?.length !== bytes) damaged(root, name, `expected ${bytes} bytes of base32`);
  return decoded;
}

/**
 * Reads and checks a node directory: the config (NodeError `CONFIG_INVALID`, naming the key),
 * and every private file (`NODE_DAMAGED`, naming the file); `NODE_MISSING` when `dir` holds no
 * node at all.
 */
export async function loadNode(dir: string): Promise<LoadedNode> {
  const root = resolve(dir);
  const configPath = join(root, CONFIG_FILE);
  if (!(await exists(configPath))) {
    const hint =
      (await exists(root)) && (await readdir(root)).length > 0 ? '' : ' (run `ostrom init` first)';
    throw new NodeError('NODE_MISSING', `${root} is not an Ostrom node: no ${CONFIG_FILE}${hint}`);
  }
  const config = parseConfig(
    await readFile(configPath, 'utf8'),
    configPath,
    await readPrivateDatabaseUrl(root),
  );

  const keyPem = await readText(root, PRIVATE_FILES.tlsKey);
  const certPem = await readText(root, PRIVATE_FILES.tlsCert);
  let pin: string;
  try {
    pin = spkiHash(certPem);
  } catch (cause) {
    if (cause instanceof ProtocolError)
      damaged(root, PRIVATE_FILES.tlsCert, 'not a certificate', cause);
    throw cause;
  }
  let tlsKey: KeyObject;
  try {
    tlsKey = createPrivateKey(keyPem);
  } catch (cause) {
    damaged(root, PRIVATE_FILES.tlsKey, 'not a private key', cause);
  }
  // A key that does not match the certificate would fail every TLS handshake, far from the cause.
  const keySpki = createPublicKey(tlsKey).export({ type: 'spki', format: 'der' });
  const certSpki = createPublicKey(certPem).export({ type: 'spki', format: 'der' });
  if (!keySpki.equals(certSpki)) {
    damaged(root, PRIVATE_FILES.tlsKey, 'it does not match private/tls.crt');
  }

  const serverSecret = await readBase32(root, PRIVATE_FILES.serverSecret, 32);
  const stateKey = await readBase32(root, PRIVATE_FILES.stateKey, 32);
  const tubIdBytes = await readBase32(root, PRIVATE_FILES.tubId, 20);
  let nodeKey: KeyObject;
  try {
    nodeKey = createPrivateKey(await readText(root, PRIVATE_FILES.nodeKey));
  } catch (cause) {
    if (cause instanceof NodeError) throw cause;
    damaged(root, PRIVATE_FILES.nodeKey, 'not a private key', cause);
  }
  if (nodeKey.asymmetricKeyType !== 'ed25519') {
    damaged(root, PRIVATE_FILES.nodeKey, 'not an Ed25519 key');
  }
  const serverId = serverIdOf(createPublicKey(nodeKey));
  return {
    dir: root,
    config,
    tls: { keyPem, certPem, spkiHash: pin },
    serverSecret,
    stateKey,
    tubId: base32Encode(tubIdBytes),
    tubIdBytes,
    serverId,
    permutationSeed: serverId.slice(3),
    nodeKey,
  };
}

/** A fresh admin token file's content: 32 random bytes as 64 hex digits and a newline. */
function newAdminToken(): string {
  return `${randomBytes(32).toString('hex')}\n`;
}

// Long enough that guessing is hopeless, whatever text encoding an operator chose for their own.
const ADMIN_TOKEN = /^[A-Za-z0-9._~+/=-]{32,512}$/;

/**
 * The admin API's bearer token from `private/admin-token`, created (0600) when missing: nodes
 * initialised before the admin API existed get one on their first start. Returns the token and
 * the file's path; NodeError `NODE_DAMAGED` when the file holds no usable token.
 */
export async function ensureAdminToken(dir: string): Promise<{ token: string; path: string }> {
  const root = resolve(dir);
  const path = join(root, PRIVATE_FILES.adminToken);
  try {
    await writeFile(path, newAdminToken(), { mode: 0o600, flag: 'wx' });
    await chmod(path, 0o600);
  } catch (error) {
    // `wx` fails on an existing file, which is the usual case: read it.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new NodeError(
        'NODE_DAMAGED',
        `cannot create ${path} (${(error as NodeJS.ErrnoException).code})`,
        { cause: error },
      );
    }
  }
  const token = (await readText(root, PRIVATE_FILES.adminToken)).trim();
  if (!ADMIN_TOKEN.test(token)) {
    damaged(root, PRIVATE_FILES.adminToken, 'expected one token of 32–512 characters');
  }
  return { token, path };
}

/**
 * S3 credentials: `private/s3-credentials` (TOML: `access_key_id`, `secret_access_key`) when
 * present, because it belongs to this node; else AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
 */
export async function readS3Credentials(
  node: LoadedNode,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const file = join(node.dir, PRIVATE_FILES.s3Credentials);
  if (await exists(file)) {
    const text = await readFile(file, 'utf8');
    let parsed: Record<string, unknown>;
    try {
      parsed = parseToml(text);
    } catch (cause) {
      damaged(node.dir, PRIVATE_FILES.s3Credentials, 'not TOML', cause);
    }
    const { access_key_id: id, secret_access_key: secret, ...rest } = parsed;
    if (typeof id !== 'string' || typeof secret !== 'string' || Object.keys(rest).length > 0) {
      damaged(
        node.dir,
        PRIVATE_FILES.s3Credentials,
        'expected exactly access_key_id = "..." and secret_access_key = "..."',
      );
    }
    return { accessKeyId: id, secretAccessKey: secret };
  }
  const id = env.AWS_ACCESS_KEY_ID;
  const secret = env.AWS_SECRET_ACCESS_KEY;
  if (id && secret) return { accessKeyId: id, secretAccessKey: secret };
  throw new NodeError(
    'CONFIG_INVALID',
    `[backend] kind = "s3" needs credentials: write ${file} or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
  );
}

/** A private file holding one line (a cap): undefined when it does not exist. */
export async function readPrivateLine(dir: string, name: string): Promise<string | undefined> {
  const root = resolve(dir);
  try {
    return (await readFile(join(root, name), 'utf8')).trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new NodeError('NODE_DAMAGED', `cannot read ${join(root, name)} (${code})`, {
      cause: error,
    });
  }
}

/**
 * Writes a private file of one line (0600, in the 0700 `private/`). Without `replace` it must
 * not exist (NodeError `NODE_EXISTS`, nothing changed); with it, an existing file is not
 * deleted but moved aside as `<name>.replaced-<unix seconds>` (a lost writecap can never be
 * made again), which is returned.
 */
export async function writePrivateLine(
  dir: string,
  name: string,
  line: string,
  options: { replace?: boolean; now?: number } = {},
): Promise<{ path: string; movedAside: string | undefined }> {
  const root = resolve(dir);
  const path = join(root, name);
  let movedAside: string | undefined;
  if (options.replace && (await exists(path))) {
    movedAside = `${path}.replaced-${options.now ?? Math.floor(Date.now() / 1000)}`;
    await rename(path, movedAside);
  }
  try {
    await writeFile(path, `${line}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new NodeError('NODE_EXISTS', `${path} exists`, { cause: error });
    }
    throw error;
  }
  await chmod(path, 0o600);
  return { path, movedAside };
}

/**
 * The one line in a private file, created (0600) with `create()` when missing. Two processes
 * racing to create it agree: the loser reads the winner's.
 */
export async function ensurePrivateLine(
  dir: string,
  name: string,
  create: () => string,
): Promise<{ line: string; created: boolean }> {
  const existing = await readPrivateLine(dir, name);
  if (existing !== undefined) return { line: existing, created: false };
  try {
    const line = create();
    await writePrivateLine(dir, name, line);
    return { line, created: true };
  } catch (error) {
    if (error instanceof NodeError && error.code === 'NODE_EXISTS') {
      return { line: (await readPrivateLine(dir, name)) ?? '', created: false };
    }
    throw error;
  }
}
