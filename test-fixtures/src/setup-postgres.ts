import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres-server.js';
import { servicesRequired } from './services.js';

/**
 * vitest globalSetup: one PostgreSQL cluster for the whole run of a package's tests, stopped by
 * PID afterwards. `OSTROM_TEST_POSTGRES_URL` points the tests at an existing server instead.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.OSTROM_TEST_POSTGRES_URL;
  if (given) {
    project.provide('postgresUrl', given);
    return async () => {};
  }
  try {
    const server = await startPostgres();
    project.provide('postgresUrl', server.url);
    return () => server.stop();
  } catch (error) {
    if (servicesRequired()) throw error;
    console.warn(`[ostrom] could not start PostgreSQL: ${(error as Error).message}`);
    project.provide('postgresUrl', null);
    return async () => {};
  }
}
