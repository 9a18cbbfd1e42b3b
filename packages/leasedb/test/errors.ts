import { LeaseDbError } from '../src/index.js';

/** The `code` of a rejected LeaseDbError, the name of any other error, or `resolved`. */
export async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LeaseDbError) return error.code;
    return (error as Error).name;
  }
  return 'resolved';
}
