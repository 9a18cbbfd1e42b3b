import { chmod, cp, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './temp-dir.js';

/**
 * The Tahoe-LAFS 1.20 storage directory kept in this repository (`test-fixtures/tahoe-1.20-storage`,
 * written by Tahoe itself, never by us; its README says how), or the directory named by
 * `OSTROM_TAHOE_FIXTURE`. Tests must not write to it: `copyTahoeFixture()` gives a writable copy.
 */
export function tahoeFixtureDir(): string {
  return (
    process.env.OSTROM_TAHOE_FIXTURE ??
    fileURLToPath(new URL('../tahoe-1.20-storage', import.meta.url))
  );
}

/** One share as the fixture's manifest.json records it (read by Tahoe-LAFS's own parsers). */
export interface TahoeManifestShare {
  storage_index: string;
  shnum: number;
  sharetype: 'immutable' | 'mutable';
  container_version: number;
  file_size: number;
  data_length: number;
  leases: { owner_num: number; expiration_time: number }[];
}

/** The manifest of the Tahoe fixture in `dir` (a copy, or the original), share by share. */
export async function readTahoeManifest(dir = tahoeFixtureDir()): Promise<TahoeManifestShare[]> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
    shares: TahoeManifestShare[];
  };
  return manifest.shares;
}

/**
 * Copies the Tahoe fixture to `to` and makes the copy writable (a checkout or an
 * `OSTROM_TAHOE_FIXTURE` directory may be read-only, and `cp` keeps modes), so tests can write to
 * it and clean it up.
 */
export async function copyTahoeFixtureTo(to: string): Promise<void> {
  await cp(tahoeFixtureDir(), to, { recursive: true });
  const makeWritable = async (dir: string): Promise<void> => {
    await chmod(dir, 0o755);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await makeWritable(path);
      else await chmod(path, 0o644);
    }
  };
  await makeWritable(to);
}

/** A writable copy of the Tahoe fixture in a temp dir removed when the current test finishes. */
export async function copyTahoeFixture(): Promise<string> {
  const dir = await tempDir('tahoe-fixture-');
  await copyTahoeFixtureTo(dir);
  return dir;
}
