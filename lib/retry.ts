/**
 * Retry with exponential backoff and full jitter, capped. An error is retried when its code says
 * the same work may succeed again (`retriable`, lib/errors.ts: the log unavailable, a full disk,
 * a provider's API down); any other error is thrown at once, the first time. The one place
 * retries live (the stages, the spool drainer, the pollers).
 */
import { isSessionflowError } from './errors.js';

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

/** Worth another attempt: a SessionflowError whose code is retriable. An error without a code is not. */
export function isRetriable(err: unknown): boolean {
  return isSessionflowError(err) && err.retriable;
}

export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random = Math.random): number {
  return Math.round(random() * Math.min(maxMs, initialMs * 2 ** (attempt - 1)));
}

export async function retry<T>(work: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const { initialMs = 100, maxMs = 5000, attempts = Infinity, signal, onRetry } = options;
  // `signal` stops the retrying, not the first try: a stage that stops still gets its write in.
  // Stopped, it throws the failure in hand (with its code), not the signal's reason.
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (err) {
      if (!isRetriable(err) || attempt >= attempts || signal?.aborted) throw err;
      const delay = backoffDelay(attempt, initialMs, maxMs);
      onRetry?.(err, attempt, delay);
      await sleep(delay, signal).catch(() => Promise.reject(err));
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
