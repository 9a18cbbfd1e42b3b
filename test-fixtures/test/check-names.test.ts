import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findNameCollisions } from '../../scripts/check-names.mjs';
import { tempDir } from '../src/index.js';

// `scripts/check-names.mjs`: no two packages export one name for two things. This repository
// itself is checked by `pnpm lint` (CI runs it before the tests, off the tests' critical path).

async function repository(files: Record<string, string>): Promise<string> {
  const root = await tempDir('check-names-');
  for (const [file, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, file)), { recursive: true });
    await writeFile(join(root, file), content);
  }
  return root;
}

const manifest = (name: string, exports: Record<string, string> = { '.': './src/index.ts' }) =>
  JSON.stringify({
    name,
    type: 'module',
    exports: Object.fromEntries(
      Object.entries(exports).map(([path, source]) => [path, { '@ostrom/source': source }]),
    ),
  });

describe('check-names', () => {
  it('findNameCollisions(root) names what two packages declare apart, not what one re-exports', async () => {
    const root = await repository({
      'packages/a/package.json': manifest('@x/a', {
        '.': './src/index.ts',
        './facts': './src/facts.ts',
      }),
      'packages/a/src/facts.ts': 'export const LIMIT = 255;\nexport type Kind = "x" | "y";\n',
      'packages/a/src/index.ts':
        "export { type Kind, LIMIT } from './facts.js';\nexport interface Thing { a: number }\n",
      'packages/b/package.json': manifest('@x/b'),
      'packages/b/src/index.ts':
        "import { type Kind } from '../../a/src/facts.js';\n" +
        "export { LIMIT } from '../../a/src/index.js';\n" +
        'export { type Kind };\n' +
        'export interface Thing { b: string }\n' +
        'export type Other = number;\n',
      'packages/c/package.json': manifest('@x/c'),
      'packages/c/src/index.ts': 'export const Other = 1;\n',
      'packages/not-a-package/README.md': 'no manifest here\n',
    });
    const collisions = findNameCollisions(root);
    expect(collisions.map((c) => c.name)).toEqual(['Other', 'Thing']);
    expect(collisions[1]?.exports).toEqual([
      { package: '@x/a', declaration: 'packages/a/src/index.ts:2' },
      { package: '@x/b', declaration: 'packages/b/src/index.ts:4' },
    ]);
  });
});
