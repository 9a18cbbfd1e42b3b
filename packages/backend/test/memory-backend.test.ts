import { describeShareBackend } from '../src/conformance/index.js';
import { createMemoryBackend } from '../src/index.js';

describeShareBackend('memory', async () => ({ backend: createMemoryBackend() }));
