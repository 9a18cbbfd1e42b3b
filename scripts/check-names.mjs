#!/usr/bin/env node
// One name, one meaning: no two packages may export the same name unless both exports are the
// very same declaration (one package defines it, the other re-exports it). An embedder who
// imports `Account` from one package and `Account` from another must be getting one thing.
// `test-fixtures/test/check-names.test.ts` runs it over the repository and over made-up ones.
//
// Every entry point a package exports (`exports` with the `@ostrom/source` condition) is read
// with TypeScript's own module resolution, and each exported name is followed through its
// re-exports to the declaration it ends at.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/** The `@ostrom/source` entry files of each package under `root/packages`, by package name. */
export function packageEntries(root) {
  const entries = new Map();
  const packagesDir = join(root, 'packages');
  for (const dir of readdirSync(packagesDir).sort()) {
    const manifestPath = join(packagesDir, dir, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    const files = [];
    for (const target of Object.values(manifest.exports ?? {})) {
      const source =
        typeof target === 'object' && target !== null ? target['@ostrom/source'] : undefined;
      if (typeof source === 'string') files.push(resolve(packagesDir, dir, source));
    }
    if (files.length > 0) entries.set(manifest.name, files);
  }
  return entries;
}

/**
 * The names that two or more packages export from different declarations: each
 * `{ name, exports: [{ package, declaration }] }`, where `declaration` is `file:line` relative to
 * `root`. Empty when every shared name is one declaration re-exported.
 */
export function findNameCollisions(root) {
  const top = resolve(root);
  const entries = packageEntries(top);
  const program = ts.createProgram([...entries.values()].flat(), {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    customConditions: ['@ostrom/source'],
    allowImportingTsExtensions: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  const checker = program.getTypeChecker();

  /** For each exported name: package → the declarations it resolves to. */
  const byName = new Map();
  for (const [packageName, files] of entries) {
    for (const file of files) {
      const sourceFile = program.getSourceFile(file);
      const moduleSymbol = sourceFile && checker.getSymbolAtLocation(sourceFile);
      if (!moduleSymbol)
        throw new Error(`${relative(top, file)}: not a module TypeScript can read`);
      for (const exported of checker.getExportsOfModule(moduleSymbol)) {
        const target =
          exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
        const declaration = (target.declarations ?? [])
          .map((node) => {
            const at = node.getSourceFile();
            const { line } = at.getLineAndCharacterOfPosition(node.getStart());
            return `${relative(top, at.fileName)}:${line + 1}`;
          })
          .sort()
          .join(', ');
        const name = exported.getName();
        if (!byName.has(name)) byName.set(name, new Map());
        byName.get(name).set(packageName, declaration || `${relative(top, file)} (unresolved)`);
      }
    }
  }

  const collisions = [];
  for (const [name, packages] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
    if (new Set(packages.values()).size < 2) continue;
    collisions.push({
      name,
      exports: [...packages].map(([pkg, declaration]) => ({ package: pkg, declaration })),
    });
  }
  return collisions;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const root = join(dirname(import.meta.filename), '..');
  const collisions = findNameCollisions(root);
  for (const { name, exports } of collisions) {
    console.error(`${name} means more than one thing:`);
    for (const e of exports) console.error(`  ${e.package}: ${e.declaration}`);
  }
  if (collisions.length > 0) {
    console.error(
      'check-names: rename one of each, or import the one declaration and re-export it',
    );
    process.exit(1);
  }
  console.log('check-names: every name exported by two packages is one declaration');
}
