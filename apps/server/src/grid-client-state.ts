import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type GridAccount, writeFileAtomically } from '@ostrom/gsd-client';
import { z } from 'zod';
import { NodeError } from './errors.js';

// What `ostrom grid join --tahoe-dir` leaves for `grid sync`, `grid usage` and `grid
// lease-duration`: where the Tahoe-LAFS node is, who the client says it is, and each server's
// last answer to its account request. Kept in the grid's state directory (0700) as
// `accounts.json` (0600: the account NURLs in it carry swissnums).

export const ACCOUNTS_FILE = 'accounts.json';
const VERSION = 1;

export interface GridClientState {
  /** The Tahoe-LAFS node directory whose `private/servers.yaml` is kept (absolute). */
  readonly tahoeDir: string;
  /** The nickname sent with account requests. */
  readonly nickname: string;
  /** The account key file (absolute). */
  readonly keyFile: string;
  /** The key's public half, hex: the account every server was asked for. */
  readonly publicKey: string;
  /** The server ids this client wrote in servers.yaml last time (the rest is the user's). */
  readonly written: readonly string[];
  readonly accounts: readonly GridAccount[];
}

const STATUSES = ['active', 'pending', 'refused', 'no-accounting', 'unreachable'] as const;
const text = z.string().max(4096);
const seconds = z.number().int().nonnegative();
const stateSchema = z.strictObject({
  version: z.literal(VERSION),
  tahoeDir: text,
  nickname: text,
  keyFile: text,
  publicKey: z.string().regex(/^[0-9a-f]{64}$/),
  written: z.array(text),
  accounts: z.array(
    z.strictObject({
      serverId: text,
      petname: text,
      status: z.enum(STATUSES),
      accountNurl: text.optional(),
      accountId: seconds.optional(),
      reason: text.optional(),
      retryAt: seconds.optional(),
      askedAt: seconds,
    }),
  ),
});

/** The saved state in `dir`, or undefined when `grid join --tahoe-dir` was never run there. */
export async function readGridClientState(dir: string): Promise<GridClientState | undefined> {
  const file = join(dir, ACCOUNTS_FILE);
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  const checked = stateSchema.safeParse(parsed);
  if (!checked.success) {
    throw new NodeError(
      'NODE_DAMAGED',
      `${file} is damaged (${checked.error.issues[0]?.message ?? 'not JSON'}): \`ostrom grid join --tahoe-dir DIR\` writes it again`,
    );
  }
  const { version: _version, ...state } = checked.data;
  return state;
}

export async function saveGridClientState(dir: string, state: GridClientState): Promise<void> {
  await writeFileAtomically(
    join(dir, ACCOUNTS_FILE),
    `${JSON.stringify({ version: VERSION, ...state }, null, 2)}\n`,
  );
}
