/** One name two packages export from different declarations. */
export interface NameCollision {
  name: string;
  /** Each package that exports the name, with the declaration it resolves to (`file:line`). */
  exports: { package: string; declaration: string }[];
}

/** The `@ostrom/source` entry files of each package under `root/packages`, by package name. */
export function packageEntries(root: string): Map<string, string[]>;

/** The names that two or more packages under `root/packages` export from different declarations. */
export function findNameCollisions(root: string): NameCollision[];
