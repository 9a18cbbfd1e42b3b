export { CHROMIUM_ARGS, type ChromiumLaunchOptions, findChromium } from './chromium.js';
export { findBinary } from './find-binary.js';
export { freePort } from './free-port.js';
export { type ManualClock, manualClock } from './manual-clock.js';
export { type OutageProxy, startOutageProxy } from './outage-proxy.js';
export {
  createScratchDatabase,
  createScratchSchema,
  type ScratchDatabase,
} from './postgres-database.js';
export { type PostgresServer, startPostgres } from './postgres-server.js';
export { type PrometheusSample, parsePrometheus, sampleValue } from './prometheus.js';
export { pyyamlPython } from './python.js';
export { type ReadmeExample, readmeExamples, runExample } from './readme-examples.js';
export { type S3Server, startS3 } from './s3-server.js';
export { seededRandom } from './seeded-random.js';
export {
  chromiumLaunchOptions,
  postgresUrl,
  SERVICES,
  type ServiceName,
  s3Endpoint,
  servicesRequired,
} from './services.js';
export { type SteppedPacing, steppedPacing } from './stepped-pacing.js';
export {
  copyTahoeFixture,
  copyTahoeFixtureTo,
  readTahoeManifest,
  type TahoeManifestShare,
  tahoeFixtureDir,
} from './tahoe-fixture.js';
export { memoryTempDir, suiteTempDir, tempDir } from './temp-dir.js';
