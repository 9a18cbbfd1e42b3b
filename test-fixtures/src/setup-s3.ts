import type { TestProject } from 'vitest/node';
import { startS3 } from './s3-server.js';
import { servicesRequired } from './services.js';

/**
 * vitest globalSetup: one moto S3 server for the whole run of a package's tests, stopped by PID
 * afterwards. `OSTROM_TEST_S3_ENDPOINT` points the tests at an existing server instead.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.OSTROM_TEST_S3_ENDPOINT;
  if (given) {
    project.provide('s3Endpoint', given);
    return async () => {};
  }
  try {
    const server = await startS3();
    project.provide('s3Endpoint', server.endpoint);
    return () => server.stop();
  } catch (error) {
    if (servicesRequired()) throw error;
    console.warn(`[ostrom] could not start an S3 server: ${(error as Error).message}`);
    project.provide('s3Endpoint', null);
    return async () => {};
  }
}
