/**
 * Retry with exponential backoff and full jitter, capped; `bail` for errors that must not be
 * retried. The one place retries live (the spool drainer, pollers).
 */
import { isSessionflowError, type ErrorCode } from './errors.js';

export interface RetryOptions {
  /** First delay, ms. */
  initialMs?: number;
  /** Largest delay, ms. */
  maxMs?: number;
  /** Give up after this many attempts (Infinity: until aborted). */
  attempts?: number;
  signal?: AbortSignal;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

export class BailError extends Error {
  constructor(readonly original: unknown) {
    super(original instanceof Error ? original.message : String(original), { cause: original });
  }
}

/** Wraps an error so `retry` rethrows it at once. */
export function bail(err: unknown): never {
  throw new BailError(err);
}

export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random = Math.random): number {
  return Math.round(random() * Math.min(maxMs, initialMs * 2 ** (attempt - 1)));
}

export async function retry<T>(work: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const { initialMs = 100, maxMs = 5000, attempts = Infinity, signal, onRetry } = options;
  // `signal` stops the retrying, not the first try: a stage that stops still gets its write in.
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (err) {
      if (err instanceof BailError) throw err.original;
      if (attempt >= attempts) throw err;
      const delay = backoffDelay(attempt, initialMs, maxMs);
      onRetry?.(err, attempt, delay);
      await sleep(delay, signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Retries `work` while it fails with one of `codes` (the log unavailable, a full disk: what an
 * outage looks like) until it works or `options.signal` aborts; any other error is thrown at
 * once. A stage rides out an outage this way instead of stopping its process.
 */
export function retryThrough<T>(
  codes: readonly ErrorCode[],
  work: () => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  return retry(async () => {
    try {
      return await work();
    } catch (err) {
      if (!codes.some((code) => isSessionflowError(err, code)) || options.signal?.aborted) bail(err);
      throw err;
    }
  }, options);
}
