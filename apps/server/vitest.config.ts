import { fileURLToPath } from 'node:url';
// A relative import: Vite's config loader would load the workspace package as an external and
// Node cannot run TypeScript; relative files are bundled with this config.
import { defineOstromTestConfig } from '../../test-fixtures/src/vitest-config.ts';

export default defineOstromTestConfig(fileURLToPath(new URL('.', import.meta.url)), {
  services: ['postgres', 's3'],
  maxWorkers: 2,
  // Those measuring memory or latency under attack, and those running several node processes
  // against time limits (a three-node grid timed out beside two other files).
  alone: [
    'test/hostile/**/*.test.ts',
    'test/server.test.ts',
    'test/faults.test.ts',
    'test/gsd-grid.test.ts',
    'test/gsd-attacks.test.ts',
    'test/gsd-required.test.ts',
    'test/multi-node.test.ts',
  ],
});
