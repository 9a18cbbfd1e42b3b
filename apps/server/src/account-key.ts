import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  base32Decode,
  base32Encode,
  generateAccountKey,
  publicKeyFromPrivate,
} from '@ostrom/protocol';
import { NodeError } from './errors.js';

// A client's account key: one Ed25519 key per person, kept in a file of its own (0600), that
// names the person's account on every server (`ostrom account request`, `ostrom grid join`).

/** `$XDG_CONFIG_HOME/ostrom/account.key` (`~/.config/ostrom/account.key`). */
export function defaultKeyFile(env: NodeJS.ProcessEnv): string {
  const config = env.XDG_CONFIG_HOME ?? join(homedir(), '.config');
  return join(config, 'ostrom', 'account.key');
}

export interface AccountKey {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
  /** Whether this call made the file. */
  readonly created: boolean;
}

/**
 * Reads the account key file, or creates it (0600, in a 0700 directory) with a new key when it
 * does not exist (unless `create` is false: NodeError `NODE_MISSING`). NodeError `NODE_DAMAGED`
 * naming the file when it cannot be read or is not a key: a key is never replaced, since the
 * accounts it names would be lost with it.
 */
export async function readOrCreateAccountKey(
  file: string,
  options: { create?: boolean } = {},
): Promise<AccountKey> {
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.create === false) {
      throw new NodeError(
        'NODE_MISSING',
        `the account key ${file} is gone: the accounts on the grid are that key's (restore the file, or join again with a new key)`,
        { cause: error },
      );
    }
    if (code !== 'ENOENT') {
      throw new NodeError(
        'NODE_DAMAGED',
        `cannot read the account key ${file}: ${code ?? (error as Error).message}`,
        { cause: error },
      );
    }
  }
  if (text !== undefined) {
    const seed = base32Decode(text.trim());
    if (seed?.length !== 32) {
      throw new NodeError(
        'NODE_DAMAGED',
        `${file} is not an Ostrom account key (32 bytes of base32)`,
      );
    }
    return { privateKey: seed, publicKey: publicKeyFromPrivate(seed), created: false };
  }
  const key = generateAccountKey();
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${base32Encode(key.privateKey)}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  return { ...key, created: true };
}
