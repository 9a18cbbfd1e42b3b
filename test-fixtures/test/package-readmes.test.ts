import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// What an installer must know before the first import, in every published package's README:
// the module format, the Node.js versions, and whether anything is compiled at install (and what
// pnpm needs for it).

const packagesDir = join(import.meta.dirname, '..', '..', 'packages');

const published = async (): Promise<string[]> => {
  const names: string[] = [];
  for (const dir of await readdir(packagesDir)) {
    const manifest = JSON.parse(await readFile(join(packagesDir, dir, 'package.json'), 'utf8'));
    if (!manifest.private) names.push(dir);
  }
  return names;
};

describe('package READMEs', async () => {
  for (const dir of await published()) {
    it(`${dir}: says ESM only, Node.js 20.19, and what a native build needs`, async () => {
      const readme = await readFile(join(packagesDir, dir, 'README.md'), 'utf8');
      expect(readme).toContain('ESM only');
      expect(readme).toContain('Node.js 20.19 or later');
      expect(readme).toMatch(/No native addon|pnpm approve-builds/);
    });
  }
});
