import { describe, expect, it } from 'vitest';
import { sharedBudget, slidingWindowBudget } from '../../ingest/pull/apizee-budget.js';

/** A budget on a clock that only moves when the budget sleeps, or when the test moves it. */
function budgetOnClock(perWindow: number, windowMs: number, onSleep: (ms: number) => void = () => undefined) {
  const clock = { ms: 1_000_000 };
  const sleeps: number[] = [];
  const budget = slidingWindowBudget(
    { perWindow, windowMs },
    {
      nowMs: () => clock.ms,
      sleep: async (ms, signal) => {
        signal?.throwIfAborted();
        sleeps.push(ms);
        onSleep(ms);
        clock.ms += ms;
      },
    },
  );
  return { budget, clock, sleeps };
}

describe('the sliding-window request budget', () => {
  it('lets N requests through at once, then the next one a window after the first answer', async () => {
    const { budget, clock, sleeps } = budgetOnClock(10, 60_000);
    const releases = [];
    for (let i = 0; i < 10; i++) {
      releases.push(await budget.take());
      clock.ms += 100; // each answer 100 ms later than the one before
      releases[i]!();
    }
    expect(sleeps).toEqual([]);
    const start = clock.ms;
    (await budget.take())();
    expect(sleeps).toEqual([1_000_100 + 60_000 - start]); // first answer (at +100 ms) plus a window
    expect(clock.ms).toBe(1_000_100 + 60_000);
  });

  it('counts a request in flight until it is answered, from its answer', async () => {
    let release: (() => void) | undefined;
    const { budget, clock, sleeps } = budgetOnClock(1, 1000, () => release?.());
    release = await budget.take(); // not answered yet
    await budget.take();
    // Waited (1 s at most) while in flight; answered during that wait at 1 000 000: free a window later.
    expect(sleeps[0]).toBe(1000);
    expect(clock.ms).toBe(1_000_000 + 1000);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBe(1000);
  });

  it('holdUntil (a 429) holds every caller until the time named', async () => {
    const { budget, clock } = budgetOnClock(100, 60_000);
    budget.holdUntil(clock.ms + 5000);
    (await budget.take())();
    expect(clock.ms).toBe(1_005_000);
    budget.holdUntil(clock.ms - 1); // the past holds nothing
    (await budget.take())();
    expect(clock.ms).toBe(1_005_000);
  });

  it('serves callers in order and rejects one whose signal aborts', async () => {
    const { budget } = budgetOnClock(2, 60_000);
    const stop = new AbortController();
    stop.abort(new Error('stopped'));
    await expect(budget.take(stop.signal)).rejects.toThrow('stopped');
    const order: number[] = [];
    await Promise.all(
      [1, 2, 3].map((n) =>
        budget.take().then((release) => {
          order.push(n);
          release();
        }),
      ),
    );
    expect(order).toEqual([1, 2, 3]);
  });

  it('one budget per API user in the process', () => {
    const a = sharedBudget('token-a', { perWindow: 10, windowMs: 60_000 });
    expect(sharedBudget('token-a', { perWindow: 10, windowMs: 60_000 })).toBe(a);
    expect(sharedBudget('token-b', { perWindow: 10, windowMs: 60_000 })).not.toBe(a);
  });
});
