import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', facts: 'src/facts.ts', 'lease-secret': 'src/lease-secret.ts' },
  format: ['esm'],
  target: 'node20',
  dts: true,
  sourcemap: true,
  clean: true,
});
