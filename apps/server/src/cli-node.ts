import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ACCOUNTING_MODES, type Accountant, APPROVAL_MODES, swissnumFor } from '@ostrom/accountant';
import { type Command, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import { prettyFactory } from 'pino-pretty';
import { type CliContext, EXIT, intArg } from './cli-common.js';
import { introductionArg } from './cli-gsd.js';
import { checkServices, provideS3Credentials } from './cli-init-checks.js';
import { BACKEND_KINDS, type ConfigValues, DEFAULT_PORT } from './config.js';
import { UsageError } from './errors.js';
import { initNode, type LoadedNode } from './node-dir.js';
import { nodeFurl, nodeNurl, nodeServersYaml, startNode } from './server.js';
import { parseDuration, parseSize } from './size.js';

// `ostrom init` and `ostrom run`: a node directory made, and served.

// ---------------------------------------------------------------------------- argument parsers

function sizeArg(value: string): string {
  if (parseSize(value) === undefined) {
    throw new InvalidArgumentError('expected a size such as 5GB, 512MiB or a number of bytes');
  }
  return value;
}

function durationArg(value: string): string {
  if (parseDuration(value) === undefined) {
    throw new InvalidArgumentError('expected a duration such as 31d, 12h or seconds');
  }
  return value;
}

// ---------------------------------------------------------------------------- helpers

/**
 * `--adopt PATH`: the Tahoe-LAFS storage directory (the one holding `shares/`, which is what the
 * disk backend's root is), or its `shares/` directory itself.
 */
function tahoeStorageRoot(path: string): string {
  const given = resolve(path);
  const isDir = (p: string) => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  };
  if (isDir(join(given, 'shares'))) return given;
  if (basename(given) === 'shares' && isDir(given)) return dirname(given);
  throw new UsageError(
    `--adopt: ${given} is not a Tahoe-LAFS storage directory (no shares/ in it): give the node's storage/ directory or its shares/`,
  );
}

/** Swissnums are a pure function of the server secret: no database needed to print a NURL. */
function createSwissnums(node: LoadedNode): Pick<Accountant, 'swissnumFor'> {
  return { swissnumFor: (id) => swissnumFor(node.serverSecret, id) };
}

/** Resolves to the first SIGTERM or SIGINT; until then, neither ends the process. */
function defaultStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

// ---------------------------------------------------------------------------- the commands

/** `ostrom init` and `ostrom run`. */
export function registerNodeCommands(program: Command, ctx: CliContext): void {
  const { io, env, command, nodeDir, print, result } = ctx;

  command(program, 'init', 'create a node directory (config, TLS key, secrets) and print its NURL')
    .argument('[DIR]', 'the node directory to create')
    .option('--nickname <NAME>', 'shown to clients')
    .option('--listen <ADDR>', 'listen address (default 127.0.0.1)')
    .option('--port <N>', `storage port (default ${DEFAULT_PORT})`, intArg(1, 65535))
    .option('--hostname <HOST>', 'public host name written into NURLs (default the listen address)')
    .option('--reserved-space <SIZE>', 'space kept free on the disk', sizeArg)
    .addOption(new Option('--backend <KIND>', 'where shares are kept').choices(BACKEND_KINDS))
    .option('--storage-path <PATH>', 'disk backend directory (default storage/)')
    .option(
      '--adopt <PATH>',
      'serve an existing Tahoe-LAFS storage directory (its storage/ or shares/) in place: the first start adopts every share with its leases',
    )
    .option('--s3-bucket <NAME>', 's3 backend: the bucket (must exist)')
    .option('--s3-endpoint <URL>', 's3 backend: endpoint of an S3-compatible server (default AWS)')
    .option('--s3-region <REGION>', 's3 backend: region (default us-east-1)')
    .option('--s3-prefix <PREFIX>', 's3 backend: key prefix such as node-1/')
    .option('--database <URL>', 'a postgres:// URL (default: SQLite leasedb.sqlite in the node)')
    .addOption(new Option('--mode <MODE>', 'accounting mode').choices(ACCOUNTING_MODES))
    .addOption(new Option('--approval <HOW>', 'account requests granted').choices(APPROVAL_MODES))
    .option('--hard-quota <SIZE>', 'default hard quota of new accounts', sizeArg)
    .option('--soft-quota <SIZE>', 'default soft quota of new accounts', sizeArg)
    .option('--lease-duration <DURATION>', 'lease duration (default 31d)', durationArg)
    .option(
      '--introduction <TEXT>',
      "a grid's introduction text ([gsd] introduction): the node announces itself there",
      introductionArg,
    )
    .option('--json', 'machine-readable output')
    .action(
      async (
        dirArg: string | undefined,
        o: Record<string, string | number | undefined>,
        cmd: Command,
      ) => {
        const backend = o.backend as ConfigValues['backend'];
        const s3Given = [o.s3Bucket, o.s3Endpoint, o.s3Region, o.s3Prefix].some(
          (v) => v !== undefined,
        );
        if (backend !== 's3' && s3Given) throw new UsageError('--s3-* options need --backend s3');
        if (backend === 's3' && o.s3Bucket === undefined)
          throw new UsageError('--backend s3 needs --s3-bucket');
        if (backend === 's3' && o.storagePath !== undefined)
          throw new UsageError('--storage-path is for --backend disk');
        if (o.adopt !== undefined && backend === 's3')
          throw new UsageError('--adopt is for the disk backend (a Tahoe-LAFS storage directory)');
        if (o.adopt !== undefined && o.storagePath !== undefined)
          throw new UsageError('give --adopt or --storage-path, not both');
        const adopt = o.adopt === undefined ? undefined : tahoeStorageRoot(String(o.adopt));
        const str = (v: string | number | undefined) => (v === undefined ? undefined : String(v));
        const values: ConfigValues = {
          nickname: str(o.nickname),
          listen: str(o.listen),
          port: o.port as number | undefined,
          publicHostname: str(o.hostname),
          reservedSpace: str(o.reservedSpace),
          backend,
          diskPath: adopt ?? str(o.storagePath),
          ...(backend === 's3'
            ? {
                s3: {
                  bucket: String(o.s3Bucket),
                  endpoint: str(o.s3Endpoint),
                  region: str(o.s3Region),
                  prefix: str(o.s3Prefix),
                },
              }
            : {}),
          databaseUrl: str(o.database),
          mode: o.mode as ConfigValues['mode'],
          approval: o.approval as ConfigValues['approval'],
          defaultHardQuota: str(o.hardQuota),
          defaultSoftQuota: str(o.softQuota),
          leaseDuration: str(o.leaseDuration),
          gsdIntroduction: str(o.introduction),
        };
        const node = await initNode(nodeDir(cmd, dirArg), values);
        const credentials = await provideS3Credentials(node, env, io.ask);
        // A bucket or database named wrongly is said now, not at the first `ostrom run`; the
        // directory stays, to be fixed (ostrom.toml, private/s3-credentials) and started.
        const problems = await checkServices(node, env);
        if (problems.length > 0) result.code = EXIT.failed;
        // The NURL needs only the secret and the certificate; no database is opened.
        const { swissnumFor } = createSwissnums(node);
        const nurl = nodeNurl(node, { swissnumFor }, 0);
        const furl = nodeFurl(node, { swissnumFor });
        print(
          cmd,
          {
            dir: node.dir,
            serverId: node.serverId,
            nurl,
            furl,
            serversYaml: nodeServersYaml(node, nurl, furl),
            ...(adopt === undefined ? {} : { adopted: adopt }),
            ...(credentials === undefined ? {} : { s3CredentialsFrom: credentials }),
            problems,
          },
          () =>
            [
              `Created the node ${node.dir}`,
              `server id: ${node.serverId}`,
              `NURL:      ${nurl}`,
              `fURL:      ${furl}`,
              '',
              'A Tahoe-LAFS client uses this node with this block in its private/servers.yaml:',
              '',
              nodeServersYaml(node, nurl, furl),
              ...(adopt === undefined
                ? []
                : [
                    `Its shares are those of the Tahoe-LAFS storage directory ${adopt}: the first start adopts`,
                    'every share with the leases in it before it serves (stop the Tahoe server first).',
                  ]),
              ...(credentials === undefined
                ? []
                : [
                    `Wrote the S3 credentials ${credentials === 'environment' ? 'of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY' : 'given'} into private/s3-credentials (mode 0600).`,
                  ]),
              ...(problems.length === 0
                ? [`Start it with: ostrom run ${node.dir}`]
                : [
                    'It cannot start yet:',
                    ...problems.map((problem) => `  - ${problem}`),
                    `Fix this (ostrom.toml, private/), then start it with: ostrom run ${node.dir}`,
                  ]),
              '',
            ].join('\n'),
        );
      },
    );

  command(program, 'run', 'serve the node until SIGTERM or SIGINT')
    .argument('[DIR]', 'the node directory')
    .option(
      '--init',
      'create the node directory first when it has none (the defaults: SQLite + disk)',
    )
    .option('--pretty', 'readable logs (default when stdout is a terminal)')
    .option('--json-logs', 'one JSON object a line even on a terminal')
    .action(
      async (
        dirArg: string | undefined,
        o: { init?: boolean; pretty?: boolean; jsonLogs?: boolean },
        cmd: Command,
      ) => {
        const dir = nodeDir(cmd, dirArg);
        if (o.init && !existsSync(join(dir, 'ostrom.toml'))) {
          const node = await initNode(dir, {});
          io.stderr(`Created the node ${node.dir}\n`);
        }
        const pretty = o.pretty === true || (io.isTTY === true && o.jsonLogs !== true);
        const prettify = pretty ? prettyFactory({ colorize: io.isTTY === true }) : undefined;
        const logger = pino(
          { base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
          { write: (line: string) => io.stdout(prettify ? prettify(line) : line) },
        );
        // Listen for the stop signal before starting: a SIGTERM that arrives while the node
        // starts must stop it cleanly, not kill the process.
        const stopSignal = (io.stopSignal ?? defaultStopSignal)();
        const running = await startNode(dir, { logger });
        io.stderr(`Serving. Anonymous NURL: ${running.nurl}\n`);
        const signal = await stopSignal;
        logger.info({ signal }, 'shutting down');
        await running.close();
      },
    );
}
