import { fileURLToPath } from 'node:url';
import { defineOstromTestConfig } from './src/vitest-config.ts';

export default defineOstromTestConfig(fileURLToPath(new URL('.', import.meta.url)), {
  services: ['postgres', 's3'],
});
