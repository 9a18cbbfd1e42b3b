export interface PathProblem {
  /** The file, relative to the repository root. */
  file: string;
  /** 1-based line number. */
  line: number;
  /** The path as written. */
  path: string;
  /** `outside`: the path leaves the repository; `missing`: a markdown link to nothing. */
  reason: 'outside' | 'missing';
}

/** Tracked files of `root` that git treats as text (not those `.gitattributes` marks `-text`). */
export function trackedTextFiles(root: string): string[];

/** The relative paths in `files` (relative to `root`) that leave `root` or link to nothing. */
export function findPathProblems(root: string, files: string[]): PathProblem[];
