#!/usr/bin/env node
// The repository must stand on its own: no tracked file may point at a place outside it, and no
// markdown link may point at a file that is not there. Web URLs are fine. Run by `pnpm lint`
// (so by `.ci/run`); `test-fixtures/test/check-paths.test.ts` tests it.
//
// What counts as a path: a token that starts with `./` or `../` (or is `..`), standing after a
// quote, bracket, parenthesis, backtick, `=`, space or the start of a line, resolved from the
// directory of the file it is in, as `import`, `new URL(p, import.meta.url)` and markdown
// links resolve it. Plain-text mentions count too: a README that sends its reader one directory
// above the repository sends them to a place that a clone does not have.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

// Paths that are not relative to the file they are in, each with the reason. This file is not
// checked itself: it names them.
const SELF = 'scripts/check-paths.mjs';
const ALLOWED = [
  { file: 'turbo.json', path: '../../tsconfig.base.json', why: 'task inputs are per package' },
  {
    file: 'test-fixtures/README.md',
    path: '../../test-fixtures/src/vitest-config.ts',
    why: "an example of a package's vitest.config.ts",
  },
];

const RELATIVE_PATH = /(?<=^|[\s'"`([=])(\.\.?(?:\/[^\s'"`)\]>,;:*]*)?)(?=$|[\s'"`)\]>,;:])/gm;
const MARKDOWN_LINK = /\]\(([^)\s#]+)(?:#[^)\s]*)?\)/g;

/** Tracked files of `root` that git treats as text, with their paths relative to `root`. */
export function trackedTextFiles(root) {
  const listed = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  // `git check-attr text` says "unset" for the files .gitattributes marks as bytes (-text).
  const attributes = execFileSync('git', ['check-attr', '-z', 'text', '--stdin'], {
    cwd: root,
    input: listed.join('\0'),
    encoding: 'utf8',
  }).split('\0');
  const bytes = new Set();
  for (let i = 0; i + 2 < attributes.length; i += 3) {
    if (attributes[i + 2] === 'unset') bytes.add(attributes[i]);
  }
  return listed.filter((file) => !bytes.has(file) && existsSync(join(root, file)));
}

/**
 * The problems in `files` (relative to `root`): each `{ file, line, path, reason }`, where the
 * reason is `outside` (the path leaves the repository) or `missing` (a markdown link to nothing).
 */
export function findPathProblems(root, files) {
  const top = resolve(root);
  const problems = [];
  for (const file of files) {
    if (file === SELF) continue;
    const text = readFileSync(join(top, file), 'utf8');
    if (text.includes('\0')) continue;
    const from = dirname(join(top, file));
    const lines = text.split('\n');
    lines.forEach((content, index) => {
      for (const [, path] of content.matchAll(RELATIVE_PATH)) {
        const target = resolve(from, path);
        const allowed = ALLOWED.some((entry) => entry.file === file && entry.path === path);
        if (!allowed && target !== top && !target.startsWith(top + sep)) {
          problems.push({ file, line: index + 1, path, reason: 'outside' });
        }
      }
      if (!file.endsWith('.md')) return;
      for (const [, link] of content.matchAll(MARKDOWN_LINK)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(link) || link.startsWith('/')) continue;
        const target = resolve(from, decodeURI(link));
        if (target.startsWith(top + sep) && !existsSync(target)) {
          problems.push({ file, line: index + 1, path: link, reason: 'missing' });
        }
      }
    });
  }
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const problems = findPathProblems(root, trackedTextFiles(root));
  for (const { file, line, path, reason } of problems) {
    const why =
      reason === 'outside' ? 'points outside the repository' : 'links to a file that is not there';
    console.error(`${relative(process.cwd(), join(root, file))}:${line}: ${path} ${why}`);
  }
  if (problems.length > 0) {
    console.error(`check-paths: ${problems.length} path(s) to fix`);
    process.exit(1);
  }
  console.log('check-paths: every relative path stays inside the repository');
}
