import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// A README's examples are code, and code that is not run goes stale (a quick start that threw
// at its fourth line went unnoticed for months). These read a package's README and run its
// TypeScript examples as modules of the package, so they import what an embedder imports.

/** One ```ts block of a README, with the line it starts on. */
export interface ReadmeExample {
  readonly line: number;
  readonly code: string;
}

/**
 * The ```ts blocks of a Markdown file, in order. A block opened with ```ts no-run is left out
 * (a fragment, or one that needs what a test cannot give it); say why beside it.
 */
export function readmeExamples(readmePath: string): ReadmeExample[] {
  const examples: ReadmeExample[] = [];
  const lines = readFileSync(readmePath, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```ts') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== '```') end++;
    examples.push({ line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return examples;
}

/**
 * Runs an example as a module placed in `packageDir` (so its imports resolve as the package's
 * own would), removing the file afterwards. Resolves with what the module exports.
 */
export async function runExample(
  packageDir: string,
  example: ReadmeExample,
): Promise<Record<string, unknown>> {
  const file = join(packageDir, `.readme-example-${process.pid}-${example.line}.ts`);
  await writeFile(file, `${example.code}\n`);
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } finally {
    await rm(file, { force: true });
  }
}
