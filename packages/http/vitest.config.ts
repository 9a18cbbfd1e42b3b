import { fileURLToPath } from 'node:url';
// A relative import: Vite's config loader would load the workspace package as an external and
// Node cannot run TypeScript; relative files are bundled with this config.
import { defineOstromTestConfig } from '../../test-fixtures/src/vitest-config.ts';

export default defineOstromTestConfig(fileURLToPath(new URL('.', import.meta.url)), {
  services: ['postgres'],
});
