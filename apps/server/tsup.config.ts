import { defineConfig } from 'tsup';

export default defineConfig({
  // An application, not a library: the CLI is its only entry, and it declares no types.
  entry: { cli: 'src/cli.ts' },
  format: ['esm'],
  target: 'node20',
  sourcemap: true,
  clean: true,
});
