/** lib/retry.ts retries what its code calls retriable, and nothing else. */
import { describe, expect, it } from 'vitest';
import { SessionflowError, type ErrorCode } from '../../lib/errors.js';
import { retry } from '../../lib/retry.js';

/** Work that fails with `failures` in turn (one per call), then answers 'done'; and its calls. */
function failing(...failures: unknown[]) {
  let calls = 0;
  const work = async () => {
    calls += 1;
    if (failures.length > 0) throw failures.shift();
    return 'done';
  };
  return { work, calls: () => calls };
}

const coded = (code: ErrorCode) => new SessionflowError(code);
const quick = { initialMs: 1, maxMs: 2 };

describe('retry', () => {
  it.each<ErrorCode>(['LOG_UNAVAILABLE', 'STORAGE_UNAVAILABLE', 'PROVIDER_API_UNAVAILABLE'])(
    'retries %s (retriable) until the work succeeds, telling onRetry each time',
    async (code) => {
      const { work, calls } = failing(coded(code), coded(code));
      const told: number[] = [];
      await expect(retry(work, { ...quick, onRetry: (_err, attempt) => told.push(attempt) })).resolves.toBe('done');
      expect(calls()).toBe(3);
      expect(told).toEqual([1, 2]);
    },
  );

  it.each<ErrorCode>(['BODY_TOO_LARGE', 'WAREHOUSE_FAILED', 'PROVIDER_API_REFUSED', 'LOG_CLOSED', 'INTERNAL'])(
    'throws %s (not retriable) at once',
    async (code) => {
      const { work, calls } = failing(coded(code));
      await expect(retry(work, quick)).rejects.toMatchObject({ code, retriable: false });
      expect(calls()).toBe(1);
    },
  );

  it('throws an error without a code at once: nothing says it may pass', async () => {
    const { work, calls } = failing(new TypeError('fetch failed'));
    await expect(retry(work, quick)).rejects.toThrow('fetch failed');
    expect(calls()).toBe(1);
  });

  it('gives up after `attempts`, with the last failure', async () => {
    const { work, calls } = failing(...Array.from({ length: 5 }, () => coded('LOG_UNAVAILABLE')));
    await expect(retry(work, { ...quick, attempts: 3 })).rejects.toMatchObject({ code: 'LOG_UNAVAILABLE' });
    expect(calls()).toBe(3);
  });

  it('stops retrying once its signal is aborted, with the failure in hand, also during a wait', async () => {
    const stop = new AbortController();
    let calls = 0;
    const work = async () => {
      calls += 1;
      if (calls === 2) stop.abort(new Error('stopping'));
      throw coded('STORAGE_UNAVAILABLE');
    };
    await expect(retry(work, { ...quick, signal: stop.signal })).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(calls).toBe(2);

    const later = new AbortController();
    const waiting = retry(() => Promise.reject(coded('LOG_UNAVAILABLE')), { initialMs: 60_000, signal: later.signal });
    setTimeout(() => later.abort(new Error('stopping')), 20);
    await expect(waiting).rejects.toMatchObject({ code: 'LOG_UNAVAILABLE' });
  });
});
