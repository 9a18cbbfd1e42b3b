import { fileURLToPath } from 'node:url';
// A relative import: Vite's config loader would load the workspace package as an external and
// Node cannot run TypeScript; relative files are bundled with this config.
import { defineOstromTestConfig } from '../../test-fixtures/src/vitest-config.ts';

export default defineOstromTestConfig(fileURLToPath(new URL('.', import.meta.url)), {
  services: ['postgres', 's3'],
  // Several tests run three full cycles (1,024 prefixes each) on PostgreSQL: 7 s alone, and 30 s
  // to over 45 s while every other package's tests share the two cores.
  testTimeout: 120_000,
});
