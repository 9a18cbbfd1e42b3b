import { createHash } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { copyTahoeFixture, readTahoeManifest, tahoeFixtureDir } from '../src/index.js';

// The copy kept in the repository, whatever OSTROM_TAHOE_FIXTURE says: this file checks that the
// bytes Tahoe-LAFS wrote are still the bytes in the checkout.
const inRepository = fileURLToPath(new URL('../tahoe-1.20-storage', import.meta.url));

async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) found.push(relative(dir, join(entry.parentPath, entry.name)));
  }
  return found.sort();
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('the Tahoe-LAFS 1.20 fixture in the repository', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('every file matches SHA256SUMS, and SHA256SUMS names every share file and the manifest', async () => {
    const sums = new Map<string, string>();
    for (const line of (await readFile(join(inRepository, 'SHA256SUMS'), 'utf8')).split('\n')) {
      const match = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
      if (match) sums.set(match[2]!, match[1]!);
    }
    const shareFiles = (await filesUnder(join(inRepository, 'shares'))).map((f) =>
      join('shares', f),
    );
    expect([...sums.keys()].sort()).toEqual([...shareFiles, 'manifest.json'].sort());
    for (const [file, sum] of sums) {
      expect(sha256(await readFile(join(inRepository, file))), file).toBe(sum);
    }
  });

  it('holds exactly the manifest: 20 shares of 5 storage indexes, each file of its file_size', async () => {
    const manifest = await readTahoeManifest(inRepository);
    expect(manifest).toHaveLength(20);
    expect(new Set(manifest.map((s) => s.storage_index)).size).toBe(5);
    const expected = manifest
      .map((s) => join(s.storage_index.slice(0, 2), s.storage_index, String(s.shnum)))
      .sort();
    expect(await filesUnder(join(inRepository, 'shares'))).toEqual(expected);
    for (const share of manifest) {
      const path = join(
        inRepository,
        'shares',
        share.storage_index.slice(0, 2),
        share.storage_index,
        String(share.shnum),
      );
      expect((await stat(path)).size).toBe(share.file_size);
    }
  });

  it('tahoeFixtureDir() is the copy in the repository unless OSTROM_TAHOE_FIXTURE names another', () => {
    vi.stubEnv('OSTROM_TAHOE_FIXTURE', undefined);
    expect(tahoeFixtureDir()).toBe(inRepository);
    vi.stubEnv('OSTROM_TAHOE_FIXTURE', '/elsewhere/storage');
    expect(tahoeFixtureDir()).toBe('/elsewhere/storage');
  });

  it('copyTahoeFixture() gives a writable copy with the same bytes', async () => {
    vi.stubEnv('OSTROM_TAHOE_FIXTURE', undefined);
    const copy = await copyTahoeFixture();
    const files = await filesUnder(inRepository);
    expect(await filesUnder(copy)).toEqual(files);
    for (const file of files) {
      expect(
        (await readFile(join(copy, file))).equals(await readFile(join(inRepository, file))),
      ).toBe(true);
    }
    await writeFile(join(copy, 'manifest.json'), '{}');
    expect((await readTahoeManifest(inRepository)).length).toBe(20);
  });
});
