import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findPathProblems, trackedTextFiles } from '../../scripts/check-paths.mjs';
import { tempDir } from '../src/index.js';

// `scripts/check-paths.mjs`, run by `pnpm lint`: the repository must not point outside itself.
// The paths below that leave their repository are built from parts, so that this file has none.
const up = (levels: number, rest: string): string => `${'../'.repeat(levels)}${rest}`;

async function repository(files: Record<string, string>): Promise<string> {
  const root = await tempDir('check-paths-');
  for (const [file, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, file)), { recursive: true });
    await writeFile(join(root, file), content);
  }
  execFileSync('git', ['init', '-q'], { cwd: root });
  execFileSync('git', ['add', '-A'], { cwd: root });
  return root;
}

describe('check-paths', () => {
  it('finds paths that leave the repository, from the directory of the file they are in', async () => {
    const root = await repository({
      'README.md': `Architecture: \`${up(1, 'notes/DESIGN.md')}\`. Web: https://example.org/../x\n`,
      'packages/a/src/fixture.ts':
        `const dir = new URL('${up(4, 'fixtures')}', import.meta.url);\n` +
        "import { b } from '../../b/src/index.js';\n",
      'packages/a/test/x.test.ts': "const up = join(here, '..');\n",
      'top.ts': "const parent = new URL('..', import.meta.url);\n",
    });
    const problems = findPathProblems(root, trackedTextFiles(root));
    expect(problems).toEqual([
      { file: 'README.md', line: 1, path: up(1, 'notes/DESIGN.md'), reason: 'outside' },
      {
        file: 'packages/a/src/fixture.ts',
        line: 1,
        path: up(4, 'fixtures'),
        reason: 'outside',
      },
      { file: 'top.ts', line: 1, path: '..', reason: 'outside' },
    ]);
  });

  it('finds markdown links to files that are not there, and leaves URLs and anchors alone', async () => {
    const root = await repository({
      'docs/ARCHITECTURE.md': '# A\n',
      'packages/a/README.md':
        '[arch](../../docs/ARCHITECTURE.md#crawler) [gone](../../docs/DESIGN.md)\n' +
        '[web](https://example.org/x.md) [here](#usage) [mail](mailto:a@b.c)\n',
    });
    expect(findPathProblems(root, trackedTextFiles(root))).toEqual([
      { file: 'packages/a/README.md', line: 1, path: '../../docs/DESIGN.md', reason: 'missing' },
    ]);
  });

  it('skips files .gitattributes marks as bytes, and untracked files', async () => {
    const root = await repository({
      '.gitattributes': 'fixture/** -text\n',
      'fixture/share': `bytes that happen to read ${up(1, 'elsewhere')}\n`,
    });
    await writeFile(join(root, 'untracked.md'), `see ${up(1, 'elsewhere')}\n`);
    expect(trackedTextFiles(root).sort()).toEqual(['.gitattributes']);
    expect(findPathProblems(root, trackedTextFiles(root))).toEqual([]);
  });

  it('this repository has no such path', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    expect(findPathProblems(root, trackedTextFiles(root))).toEqual([]);
  });
});
