import { BackendError } from '@ostrom/backend';

/** How failed requests are retried: exponential backoff with full jitter. */
export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
}

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  cause?: unknown;
}

const RETRYABLE_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
]);

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

const RETRYABLE_MESSAGE = /socket hang up|aborted|premature close|ECONNRESET|timed? ?out/i;

/** The HTTP status of an SDK error, when the store answered at all. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** NoSuchKey (GET) or a bare 404 (HEAD has no body to name it); a missing bucket is not absence. */
export function isNotFound(error: unknown): boolean {
  const name = (error as SdkErrorShape | undefined)?.name;
  if (name === 'NoSuchKey' || name === 'NotFound') return true;
  return statusOf(error) === 404 && name !== 'NoSuchBucket' && name !== 'NoSuchUpload';
}

/**
 * Whether trying again may succeed: 5xx, throttling (503 SlowDown, 429), request timeouts, and
 * connections refused, reset or cut off mid-body. Client errors (4xx) are final.
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof BackendError || error instanceof TypeError || error instanceof RangeError)
    return false;
  const shape = error as SdkErrorShape | undefined;
  if (!shape || typeof shape !== 'object') return false;
  const status = statusOf(error);
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (shape.$retryable) return true;
  if (typeof shape.name === 'string' && RETRYABLE_NAMES.has(shape.name)) return true;
  if (typeof shape.code === 'string' && RETRYABLE_CODES.has(shape.code)) return true;
  // The store did answer with a 4xx: the message is the store's, not a socket's.
  if (status !== undefined && status >= 400) return false;
  if (typeof shape.message === 'string' && RETRYABLE_MESSAGE.test(shape.message)) return true;
  return shape.cause !== undefined && shape.cause !== error && isRetryable(shape.cause);
}

/** The delay before attempt `attempt + 1` (attempt counts from 1): full jitter, capped. */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(policy.random() * ceiling);
}

/**
 * Runs one request (`fn` must be safe to repeat) until it succeeds, fails for good, or the
 * attempts run out. Exhausted retries are UNAVAILABLE; other store errors are IO; the last
 * error is the cause.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  what: string,
  fn: (attempt: number) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (error instanceof BackendError) throw error;
      if (!isRetryable(error)) {
        throw new BackendError('IO', `${what} failed`, {
          cause: error,
          details: { status: statusOf(error), attempts: attempt },
        });
      }
      if (attempt >= policy.maxAttempts) {
        throw new BackendError('UNAVAILABLE', `${what} failed after ${attempt} attempts`, {
          cause: error,
          details: { status: statusOf(error), attempts: attempt },
        });
      }
      await policy.sleep(backoffDelay(policy, attempt));
    }
  }
}
