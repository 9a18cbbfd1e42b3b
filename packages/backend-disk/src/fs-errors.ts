import { BackendError } from '@ostrom/backend';

/** The errno code of a Node fs error, if it is one. */
export function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A file-system error as a BackendError: NO_SPACE for a full disk, IO otherwise. */
export function asBackendError(error: unknown, what: string): BackendError {
  if (error instanceof BackendError) return error;
  const code = errnoOf(error);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new BackendError('NO_SPACE', `no space left to ${what}`, { cause: error });
  }
  return new BackendError('IO', `could not ${what}: ${code ?? 'error'}`, { cause: error });
}

/** Runs `fn`, turning fs errors into BackendErrors; TypeError/RangeError (misuse) pass through. */
export async function fsStep<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) throw error;
    throw asBackendError(error, what);
  }
}
