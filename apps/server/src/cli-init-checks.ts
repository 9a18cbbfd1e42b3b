import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as stringifyToml } from 'smol-toml';
import { NodeError } from './errors.js';
import { exists, type LoadedNode, PRIVATE_FILES } from './node-dir.js';
import { openNodeBackend, openNodeDatabase } from './server.js';

// What `ostrom init` does after it wrote a node directory that names services outside it (an S3
// bucket, a PostgreSQL server): it gives the node its S3 credentials, then asks each service once,
// so that the operator learns of a wrong endpoint, bucket, key or URL now rather than from the
// first `ostrom run`.

/** Asks the operator a question on the terminal; `secret` answers are not echoed. */
export type Ask = (question: string, options: { secret: boolean }) => Promise<string>;

/**
 * Writes `private/s3-credentials` (0600) for an S3 node that has none: from AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY when both are set, else from the operator's answers when there is a
 * terminal to ask on. Says where they came from, or undefined when it wrote nothing (the node
 * then needs the file or those variables before it can start).
 */
export async function provideS3Credentials(
  node: LoadedNode,
  env: NodeJS.ProcessEnv,
  ask: Ask | undefined,
): Promise<'environment' | 'terminal' | undefined> {
  if (node.config.backend.kind !== 's3') return undefined;
  const file = join(node.dir, PRIVATE_FILES.s3Credentials);
  if (await exists(file)) return undefined;
  let source: 'environment' | 'terminal';
  let accessKeyId: string;
  let secretAccessKey: string;
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    source = 'environment';
    accessKeyId = env.AWS_ACCESS_KEY_ID;
    secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  } else if (ask) {
    source = 'terminal';
    accessKeyId = (await ask('S3 access key id: ', { secret: false })).trim();
    secretAccessKey = (await ask('S3 secret access key: ', { secret: true })).trim();
    if (accessKeyId === '' || secretAccessKey === '') return undefined;
  } else {
    return undefined;
  }
  const text = stringifyToml({ access_key_id: accessKeyId, secret_access_key: secretAccessKey });
  await writeFile(file, text.endsWith('\n') ? text : `${text}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  return source;
}

/**
 * Asks the store and the database the node names whether they answer, as `ostrom run` would at
 * start (an S3 bucket with one listing request; a PostgreSQL database opened as the node opens
 * it, which prepares its tables; a SQLite file and a disk directory are the node's own and are
 * not opened). Returns one line per problem.
 */
export async function checkServices(node: LoadedNode, env: NodeJS.ProcessEnv): Promise<string[]> {
  const problems: string[] = [];
  const describe = (error: unknown) =>
    error instanceof NodeError ? error.message : String((error as Error).message ?? error);
  if (node.config.backend.kind === 's3') {
    try {
      const backend = await openNodeBackend(node, { probe: true, env });
      await backend.close();
    } catch (error) {
      problems.push(describe(error));
    }
  }
  if (node.config.database.kind === 'postgres') {
    try {
      const db = await openNodeDatabase(node);
      await db.close();
    } catch (error) {
      problems.push(describe(error));
    }
  }
  return problems;
}
