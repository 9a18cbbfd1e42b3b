import { inject } from 'vitest';
import { type ChromiumLaunchOptions, chromiumLaunchOptionsFor, findChromium } from './chromium.js';

/** The real services a package's tests can ask the harness for. */
export const SERVICES = ['postgres', 's3'] as const;
export type ServiceName = (typeof SERVICES)[number];

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of the run's PostgreSQL cluster, or null when it could not be started. */
    postgresUrl: string | null;
    /** Endpoint of the run's S3-compatible server, or null when it could not be started. */
    s3Endpoint: string | null;
  }
}

/** True under CI, where a missing service must fail the run instead of skipping suites. */
export function servicesRequired(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}

function announceSkip(service: ServiceName | 'chromium', suite: string): void {
  console.warn(
    `\n  [ostrom] ${service} is not available: skipping "${suite}". ` +
      'Under CI=true this is a failure.\n',
  );
}

/**
 * The PostgreSQL admin URL of this run, or undefined (with a visible message) when the harness
 * could not start one on a developer's machine. Under CI the harness has already failed the run.
 */
export function postgresUrl(suite: string): string | undefined {
  const url = inject('postgresUrl');
  if (url) return url;
  if (servicesRequired()) throw new Error(`PostgreSQL is required under CI (${suite})`);
  announceSkip('postgres', suite);
  return undefined;
}

/** The S3 endpoint of this run, or undefined (with a visible message); see {@link postgresUrl}. */
export function s3Endpoint(suite: string): string | undefined {
  const endpoint = inject('s3Endpoint');
  if (endpoint) return endpoint;
  if (servicesRequired())
    throw new Error(`an S3-compatible server is required under CI (${suite})`);
  announceSkip('s3', suite);
  return undefined;
}

/**
 * Launch options for the machine's Chromium (see `findChromium`), or undefined (with a visible
 * message) on a developer's machine without one. Under CI a missing Chromium throws: `.ci/run`
 * installs it. Not one of {@link SERVICES}: nothing is started once per run, each browser test
 * file launches its own browser with these options.
 */
export function chromiumLaunchOptions(suite: string): ChromiumLaunchOptions | undefined {
  const options = chromiumLaunchOptionsFor(findChromium());
  if (options) return options;
  if (servicesRequired())
    throw new Error(`Chromium is required under CI (${suite}); set OSTROM_CHROMIUM to its path`);
  announceSkip('chromium', suite);
  return undefined;
}
