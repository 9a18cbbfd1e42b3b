import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type ViteUserConfig } from 'vitest/config';
import type { ServiceName } from './services.js';

const SETUP_FILES: Record<ServiceName, string> = {
  postgres: fileURLToPath(new URL('./setup-postgres.ts', import.meta.url)),
  s3: fileURLToPath(new URL('./setup-s3.ts', import.meta.url)),
};

// Siblings are used from source in tests: the custom condition picks `src/index.ts`. Then Node's
// own conditions, without Vite's default `module` (and `module` main field): packages such as
// the AWS SDK point `module` at bundler-only ESM with extensionless imports, which Node cannot
// load once Vite externalises it, while their `node` build is what runs in production.
const CONDITIONS = ['@ostrom/source', 'node', 'development|production'];
const MAIN_FIELDS = ['main'];

export interface OstromTestOptions {
  /** Real services this package's tests need; the harness starts each once per run. */
  services?: readonly ServiceName[];
  /**
   * Per-test timeout in ms. Default 45 s: real databases and servers are involved, and on a
   * loaded 2-core machine the slowest tests (crawler cycles on PostgreSQL, 10–12 s alone) have
   * taken twice as long.
   */
  testTimeout?: number;
  /**
   * Test files run at once in this package. Vitest's default on these 2-core machines is one;
   * the package with the longest suite takes two, so it uses the cores the others leave idle
   * once they finish, instead of being the run's critical path alone.
   */
  maxWorkers?: number;
  /**
   * Test files (globs) that run after all the others, one at a time: those that measure a
   * node's memory, descriptors and latency under an attack, which test files running beside
   * them would disturb (and whose time limits a loaded machine would break).
   */
  alone?: readonly string[];
}

/**
 * The vitest config every package uses. When `OSTROM_TEST_REPORT_DIR` is set (by `.ci/run`),
 * a JSON report per package is written there so the run's totals can be added up.
 */
export function defineOstromTestConfig(
  packageDir: string,
  options: OstromTestOptions = {},
): ViteUserConfig {
  const { name } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
    name: string;
  };
  const reportDir = process.env.OSTROM_TEST_REPORT_DIR;
  const reportFile = reportDir
    ? join(reportDir, `${name.replace(/^@/, '').replace(/\//g, '__')}.json`)
    : undefined;
  const include = ['test/**/*.test.ts'];
  const alone = options.alone ?? [];
  // Two projects when some files run alone: the rest first (as many at once as asked), then
  // those, in a later group, one file at a time.
  const projects =
    alone.length === 0
      ? undefined
      : [
          {
            extends: true as const,
            test: { name, include, exclude: [...alone], sequence: { groupOrder: 0 } },
          },
          {
            extends: true as const,
            test: {
              name: `${name} (alone)`,
              include: [...alone],
              maxWorkers: 1,
              sequence: { groupOrder: 1 },
            },
          },
        ];
  return defineConfig({
    resolve: { conditions: CONDITIONS, mainFields: MAIN_FIELDS },
    ssr: { resolve: { conditions: CONDITIONS, mainFields: MAIN_FIELDS } },
    test: {
      name,
      // The AWS SDK is pinned to ~3.1169 (later releases need Node 22); it warns of that once per
      // process.
      env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      root: packageDir,
      // With projects each names its own files (a project extending this config would add its
      // `include` to this one).
      ...(projects ? { projects } : { include }),
      globalSetup: (options.services ?? []).map((service) => SETUP_FILES[service]),
      testTimeout: options.testTimeout ?? 45_000,
      ...(options.maxWorkers ? { maxWorkers: options.maxWorkers } : {}),
      hookTimeout: 60_000,
      reporters: reportFile ? ['default', 'json'] : ['default'],
      ...(reportFile ? { outputFile: { json: reportFile } } : {}),
    },
  });
}
