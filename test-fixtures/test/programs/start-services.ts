// Run by watchdog.test.ts in a process of its own (`node --import tsx`): starts a PostgreSQL and a
// moto server as a test run's globalSetup does, prints where they are, then waits to be killed.
import { startPostgres } from '../../src/postgres-server.js';
import { startS3 } from '../../src/s3-server.js';

const postgres = await startPostgres();
const s3 = await startS3();
console.log(
  JSON.stringify({ postgresUrl: postgres.url, postgresPid: postgres.pid, s3Pid: s3.pid }),
);
setInterval(() => {}, 1 << 30);
