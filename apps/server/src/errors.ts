/** Why a node could not be created, loaded or started. */
export const NODE_ERROR_CODES = [
  'CONFIG_INVALID',
  'NODE_EXISTS',
  'NODE_MISSING',
  'NODE_DAMAGED',
  'DATABASE_UNREACHABLE',
  /** The SQLite database is missing while the store holds backups of it: it was lost. */
  'DATABASE_LOST',
  /** The command needs the node stopped (`ostrom.pid` names a live process). */
  'NODE_RUNNING',
  'BACKEND_UNREACHABLE',
  'LISTEN_FAILED',
] as const;
export type NodeErrorCode = (typeof NODE_ERROR_CODES)[number];

/**
 * An operational failure of the node as a whole. The message is one line an operator can act
 * on: it names the config key, the file or the endpoint at fault.
 */
export class NodeError extends Error {
  readonly code: NodeErrorCode;

  constructor(code: NodeErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NodeError';
    this.code = code;
  }
}

/** A wrong argument found after parsing (CLI): printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
