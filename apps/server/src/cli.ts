import { realpathSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerAccountCommands } from './cli-account.js';
import { registerAccountsCommands } from './cli-accounts.js';
import { type CliIo, createCliContext, EXIT, errorLine } from './cli-common.js';
import { registerCrawlerCommands } from './cli-crawler.js';
import { registerDbCommands } from './cli-db.js';
import { registerGridCommands } from './cli-grid.js';
import { registerGsdCommands } from './cli-gsd.js';
import { registerNodeCommands } from './cli-node.js';
import { registerReportCommands } from './cli-reports.js';
import { VERSION } from './version.js';

// The `ostrom` command line: the program, its command groups (each registered by its own
// cli-<group>.ts), and the entry point.

export { type CliIo, EXIT } from './cli-common.js';
export { formatSeconds } from './cli-format.js';

// ---------------------------------------------------------------------------- the program

function buildProgram(io: CliIo, result: { code: number }): Command {
  const program = new Command('ostrom');
  program
    .description('An Ostrom storage node for Tahoe-LAFS grids, and its operator commands')
    .version(VERSION)
    .option('-d, --node-dir <DIR>', 'the node directory (default $OSTROM_DIR or ~/.ostrom)')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .configureHelp({ showGlobalOptions: true });
  const ctx = createCliContext(io, result);
  // In the order `ostrom --help` lists them.
  registerNodeCommands(program, ctx);
  registerAccountsCommands(program, ctx);
  registerReportCommands(program, ctx);
  registerCrawlerCommands(program, ctx);
  registerDbCommands(program, ctx);
  registerGsdCommands(program, ctx);
  registerGridCommands(program, ctx);
  registerAccountCommands(program, ctx);
  return program;
}

// ---------------------------------------------------------------------------- the entry point

/** Asks on stderr and reads a line from the terminal; a secret answer is not echoed. */
async function askOnTerminal(question: string, options: { secret: boolean }): Promise<string> {
  const terminal = createInterface({
    input: process.stdin,
    output: process.stderr,
    terminal: true,
  });
  try {
    const answer = terminal.question(question);
    if (options.secret) {
      // readline echoes what it reads through this method; after the question, nothing is.
      (terminal as unknown as { _writeToOutput: (text: string) => void })._writeToOutput = () =>
        undefined;
    }
    return await answer;
  } finally {
    terminal.close();
    if (options.secret) process.stderr.write('\n');
  }
}

/**
 * Runs the `ostrom` command line (`argv` without node and the script) and resolves to its exit
 * code: 0 done, 1 failed, 2 bad arguments, 3 account request pending. Output goes to `io`.
 */
export async function main(argv: readonly string[], io?: CliIo): Promise<number> {
  // The AWS SDK warns, on every client it builds, that Node 20 support ends in a later release:
  // it is pinned to a release that supports it (README: Node.js 20.19+), and an operator's
  // every command printing the warning says nothing they can act on.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const actualIo: CliIo = io ?? {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    isTTY: process.stdout.isTTY === true,
    ...(process.stderr.isTTY ? { progressStream: process.stderr } : {}),
    ...(process.stdin.isTTY ? { ask: askOnTerminal } : {}),
  };
  const result = { code: EXIT.ok as number };
  const program = buildProgram(actualIo, result);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return result.code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander printed its message (or the help) already.
      return error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
        ? EXIT.ok
        : EXIT.usage;
    }
    const { message, code } = errorLine(error);
    actualIo.stderr(`ostrom: ${message}\n`);
    return code;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await main(process.argv.slice(2));
}
