// The S3 half of crawler.bench.ts: shares in a moto bucket, beside a bare paged ListObjectsV2.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { createS3Backend } from '@ostrom/backend-s3';
import { startS3 } from '@ostrom/test-fixtures';
import {
  type CleanUp,
  checkCrawl,
  crawl,
  fmt,
  forEachIndex,
  PER_SET,
  printRows,
  progress,
  SHARE,
  setCount,
  storageIndex,
  timed,
} from './support.js';

const UPLOADERS = 32;
const PAGE_KEYS = 1000;

/** Every key of the bucket, a page at a time, counting the keys and pages. */
async function bareListing(client: S3Client, bucket: string) {
  let keys = 0;
  let pages = 0;
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        MaxKeys: PAGE_KEYS,
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    keys += page.Contents?.length ?? 0;
    pages++;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return { keys, pages };
}

export async function benchS3(shares: number, cleanUp: CleanUp): Promise<void> {
  const given = process.env.OSTROM_TEST_S3_ENDPOINT;
  const server = given ? undefined : await startS3();
  if (server) cleanUp.add(() => server.stop());
  const endpoint = given ?? server!.endpoint;
  const connection = {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    forcePathStyle: true,
  };
  // The raw client is configured as the backend configures its own.
  const client = new S3Client({
    ...connection,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  cleanUp.add(async () => client.destroy());
  const bucket = `crawler-bench-${Date.now()}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const dir = await mkdtemp(join(tmpdir(), 'crawler-bench-s3-'));
  cleanUp.add(() => rm(dir, { recursive: true, force: true }));

  console.log(
    `s3: making ${fmt(shares)} shares in ${fmt(setCount(shares))} sets in bucket ${bucket} at ${server ? `moto (local, pid ${server.pid})` : endpoint}`,
  );
  const [, made] = await timed(async () => {
    const uploader = createS3Backend({ ...connection, bucket });
    const count = progress('s3', shares, 10_000);
    try {
      await forEachIndex(shares, UPLOADERS, async (share) => {
        // Share k is share k % 4 of set ⌊k / 4⌋: the sets and names the disk half makes.
        const si = storageIndex(Math.floor(share / PER_SET));
        const shnum = share % PER_SET;
        await uploader.createUpload(si, shnum, SHARE.length);
        await uploader.writeUpload(si, shnum, 0, SHARE);
        count(1);
      });
    } finally {
      await uploader.close();
    }
  });
  console.log(`s3: made them in ${made.toFixed(1)} s (${fmt(Math.round(shares / made))}/s)`);

  const [listed, bare] = await timed(() => bareListing(client, bucket));
  const backend = createS3Backend({ ...connection, bucket });
  try {
    const crawled = await crawl('s3', backend, join(dir, 'leasedb.sqlite'));
    checkCrawl('s3', shares, listed.keys, crawled);
    printRows(
      's3',
      {
        what: `bare paged ListObjectsV2 (${fmt(listed.keys)} keys, ${listed.pages} pages)`,
        seconds: bare,
      },
      crawled,
    );
  } finally {
    await backend.close();
  }
}
