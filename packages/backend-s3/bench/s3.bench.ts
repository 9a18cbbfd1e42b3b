/**
 * @ostrom/backend-s3 benchmark (not part of the tests): against the S3-compatible server the test
 * harness uses (moto, started here; or OSTROM_TEST_S3_ENDPOINT), each figure beside the raw SDK
 * calls that store or fetch the same bytes, in the same run.
 *
 * 1. immutable share writes, MB/s: shares uploaded through createUpload + writeUpload in 1 MiB
 *    chunks, in order; raw: PutObject of each whole share (the least any S3 backend must send).
 * 2. immutable share reads, MB/s: readShare in 1 MiB ranges; raw: ranged GetObject of the same.
 * 3. listing, share sets/s: listStorageIndexes over every prefix; raw: ListObjectsV2 with a
 *    delimiter over the same prefixes (1,000 keys a page).
 *
 * OSTROM_BENCH_SCALE scales the sizes (default 1: 256 MiB and 100,000 share sets).
 */
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { startS3 } from '@ostrom/test-fixtures';
import { createS3Backend } from '../src/index.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const SCALE = Number(process.env.OSTROM_BENCH_SCALE ?? '1');
const MIB = 1024 * 1024;
const CHUNK = MIB;
const SHARE_BYTES = 8 * MIB;
const TOTAL_BYTES = Math.max(
  SHARE_BYTES,
  Math.round((256 * MIB * SCALE) / SHARE_BYTES) * SHARE_BYTES,
);
const SHARES = TOTAL_BYTES / SHARE_BYTES;
const SHARE_SETS = Math.max(1024, Math.round(100_000 * SCALE));
const CREATE_CONCURRENCY = 32;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function storageIndex(n: number): string {
  // Spread over all 1024 prefixes; the last digit must be canonical (low two bits zero).
  let x = n;
  let out = '';
  for (let i = 0; i < 25; i++) {
    out += BASE32[x % 32];
    x = Math.floor(x / 32) + i * 7;
  }
  return `${out}a`;
}

const prefixes: string[] = [];
for (const a of BASE32) for (const b of BASE32) prefixes.push(a + b);

async function time<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, value };
}

async function inBatches<T>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function row(figure: string, ours: string, raw: string, ratio: number, target: string): string {
  return `${figure.padEnd(44)} | ${ours.padStart(14)} | ${raw.padStart(14)} | ${ratio.toFixed(2).padStart(5)}× | ${target}`;
}

async function main(): Promise<void> {
  const given = process.env.OSTROM_TEST_S3_ENDPOINT;
  const server = given ? undefined : await startS3();
  const endpoint = given ?? server!.endpoint;
  const connection = {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    forcePathStyle: true,
  };
  const client = new S3Client({
    ...connection,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    const bucket = `bench-${Date.now()}`;
    const rawBucket = `${bucket}-raw`;
    for (const name of [bucket, rawBucket])
      await client.send(new CreateBucketCommand({ Bucket: name }));
    const backend = createS3Backend({ ...connection, bucket });
    console.log(
      `@ostrom/backend-s3 benchmark — Node ${process.version}, endpoint ${server ? 'moto (local)' : endpoint}, scale ${SCALE}`,
    );
    const data = randomBytes(SHARE_BYTES);
    const sis = Array.from({ length: SHARES }, (_, i) => storageIndex(7 * i + 3));

    // 1. writes
    const ours = await time(async () => {
      for (const si of sis) {
        await backend.createUpload(si, 0, SHARE_BYTES);
        for (let offset = 0; offset < SHARE_BYTES; offset += CHUNK) {
          await backend.writeUpload(si, 0, offset, data.subarray(offset, offset + CHUNK));
        }
      }
    });
    const raw = await time(async () => {
      for (const si of sis) {
        await client.send(
          new PutObjectCommand({
            Bucket: rawBucket,
            Key: `shares/${si.slice(0, 2)}/${si}/0`,
            Body: data,
          }),
        );
      }
    });
    const mb = TOTAL_BYTES / MIB;
    const writeOurs = mb / ours.seconds;
    const writeRaw = mb / raw.seconds;

    // 2. reads
    const readOurs = await time(async () => {
      for (const si of sis) {
        for (let offset = 0; offset < SHARE_BYTES; offset += CHUNK)
          await backend.readShare(si, 0, offset, CHUNK);
      }
    });
    const readRaw = await time(async () => {
      for (const si of sis) {
        for (let offset = 0; offset < SHARE_BYTES; offset += CHUNK) {
          const response = await client.send(
            new GetObjectCommand({
              Bucket: rawBucket,
              Key: `shares/${si.slice(0, 2)}/${si}/0`,
              Range: `bytes=${offset}-${offset + CHUNK - 1}`,
            }),
          );
          await response.Body!.transformToByteArray();
        }
      }
    });

    // 3. listing: share sets put straight into both buckets (an empty share 0 each), then listed.
    const listBucket = `${bucket}-list`;
    await client.send(new CreateBucketCommand({ Bucket: listBucket }));
    const setIndexes = Array.from({ length: SHARE_SETS }, (_, i) =>
      storageIndex(i * 1_000_003 + 11),
    );
    const created = await time(() =>
      inBatches(setIndexes, CREATE_CONCURRENCY, (si) =>
        client.send(
          new PutObjectCommand({
            Bucket: listBucket,
            Key: `shares/${si.slice(0, 2)}/${si}/0`,
            Body: new Uint8Array(0),
          }),
        ),
      ),
    );
    const lister = createS3Backend({ ...connection, bucket: listBucket });
    const listOurs = await time(async () => {
      let count = 0;
      for (const prefix of prefixes) count += (await lister.listStorageIndexes(prefix)).length;
      return count;
    });
    const listRaw = await time(async () => {
      let count = 0;
      for (const prefix of prefixes) {
        let token: string | undefined;
        do {
          const page = await client.send(
            new ListObjectsV2Command({
              Bucket: listBucket,
              Prefix: `shares/${prefix}/`,
              Delimiter: '/',
              MaxKeys: 1000,
              ...(token ? { ContinuationToken: token } : {}),
            }),
          );
          count += page.CommonPrefixes?.length ?? 0;
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
      }
      return count;
    });
    if (listOurs.value !== listRaw.value)
      throw new Error(`listings differ: ${listOurs.value} vs ${listRaw.value}`);

    console.log('');
    console.log(
      `${'figure'.padEnd(44)} | ${'ostrom'.padStart(14)} | ${'raw SDK'.padStart(14)} | ratio  | target`,
    );
    console.log(
      `${'-'.repeat(44)}-|-${'-'.repeat(14)}-|-${'-'.repeat(14)}-|--------|--------------`,
    );
    const target = (ratio: number) => (ratio <= 1.5 ? '≤ 1.5× raw met' : '≤ 1.5× raw MISSED');
    const wr = ours.seconds / raw.seconds;
    console.log(
      row(
        `write ${mb} MiB (${SHARES} × 8 MiB, 1 MiB chunks)`,
        `${writeOurs.toFixed(1)} MB/s`,
        `${writeRaw.toFixed(1)} MB/s`,
        wr,
        target(wr),
      ),
    );
    const rr = readOurs.seconds / readRaw.seconds;
    console.log(
      row(
        `read ${mb} MiB (1 MiB ranges)`,
        `${(mb / readOurs.seconds).toFixed(1)} MB/s`,
        `${(mb / readRaw.seconds).toFixed(1)} MB/s`,
        rr,
        target(rr),
      ),
    );
    const lr = listOurs.seconds / listRaw.seconds;
    console.log(
      row(
        `list ${listOurs.value.toLocaleString('en')} share sets (1024 prefixes)`,
        `${Math.round(listOurs.value / listOurs.seconds).toLocaleString('en')} sets/s`,
        `${Math.round(listRaw.value / listRaw.seconds).toLocaleString('en')} sets/s`,
        lr,
        target(lr),
      ),
    );
    console.log('ratio = ostrom time ÷ raw time for the same bytes or listing (higher = slower)');
    console.log(
      `raw write = one PutObject per whole share; ostrom streams in-order chunks from memory (one PutObject, or multipart above` +
        ` the part size) after a HEAD that checks the share does not exist (see README). Setup: ${SHARE_SETS.toLocaleString('en')} share sets created in ${created.seconds.toFixed(1)} s.`,
    );
    await backend.close();
    await lister.close();
  } finally {
    client.destroy();
    await server?.stop();
  }
}

const started = Date.now();
main()
  .then(() => console.log(`total run time ${((Date.now() - started) / 1000).toFixed(1)} s`))
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
