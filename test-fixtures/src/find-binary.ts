import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds an executable: the path in `envOverride` if that variable is set, else the first of
 * `candidates` that exists, else `name` on PATH. Candidates come first because CI's PATH may lack
 * the shims (pyenv) that a developer's shell has.
 */
export function findBinary(
  name: string,
  candidates: readonly string[],
  envOverride: string,
): string | undefined {
  const override = process.env[envOverride];
  if (override) return isExecutable(override) ? override : undefined;
  for (const candidate of candidates) if (isExecutable(candidate)) return candidate;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** Subdirectories of `parent`, newest-looking (reverse lexical) first; empty if it is missing. */
export function subdirs(parent: string): string[] {
  try {
    return readdirSync(parent, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => join(parent, entry.name))
      .sort()
      .reverse();
  } catch {
    return [];
  }
}
