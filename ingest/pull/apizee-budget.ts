/**
 * Apizee's REST limit (shared/providers/README.md): "10 requests/min per user across all
 * endpoints, 429 with X-RateLimit-Reset". We keep under it ourselves, in a rolling window, so a
 * 429 is the exception and not the way we learn the limit.
 *
 * A slot is held from the moment a request starts until its answer is read, and the window is
 * counted from the answer: Apizee counts a request when it arrives, which is after we start it and
 * before we read its answer, so `perWindow` requests never reach Apizee within one window. A 429
 * holds every caller until the time it names.
 *
 * One budget per API user and process (`sharedBudget`): the backfill, the periodic job and any
 * other caller in the process draw on the same slots.
 */
import { createHash } from 'node:crypto';
import { sleep } from '../../lib/retry.js';

export interface RequestBudget {
  /** Waits for a free slot and takes it; call the returned function once the answer is read. Rejects when `signal` aborts. */
  take(signal?: AbortSignal): Promise<() => void>;
  /** Apizee said no request before this time (epoch ms): every caller waits for it. */
  holdUntil(epochMs: number): void;
}

export interface BudgetOptions {
  /** Requests per window (Apizee: 10). */
  perWindow: number;
  /** The window, ms (60 000; shorter in tests). */
  windowMs: number;
}

export interface BudgetDeps {
  nowMs?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export function slidingWindowBudget(options: BudgetOptions, deps: BudgetDeps = {}): RequestBudget {
  const nowMs = deps.nowMs ?? Date.now;
  const wait = deps.sleep ?? sleep;
  const perWindow = Math.max(1, Math.trunc(options.perWindow));
  /** When each held slot's request was answered; Infinity while it is in flight. */
  const slots: Array<{ at: number }> = [];
  let heldUntil = 0;
  let queue: Promise<unknown> = Promise.resolve();

  /** How long until a slot is free (0: now). Slots answered a whole window ago are let go. */
  function delay(now: number): number {
    for (let i = slots.length - 1; i >= 0; i--) if (slots[i]!.at <= now - options.windowMs) slots.splice(i, 1);
    const hold = Math.max(0, heldUntil - now);
    if (slots.length < perWindow) return hold;
    const freeAt = Math.min(...slots.map((slot) => slot.at)) + options.windowMs;
    // Every slot in flight: wait a little and look again (an answer frees one a window later).
    return Math.max(hold, Number.isFinite(freeAt) ? freeAt - now : Math.min(1000, options.windowMs));
  }

  async function acquire(signal: AbortSignal | undefined): Promise<() => void> {
    for (;;) {
      signal?.throwIfAborted();
      const ms = delay(nowMs());
      if (ms <= 0) break;
      await wait(ms, signal);
    }
    const slot = { at: Infinity };
    slots.push(slot);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      slot.at = nowMs();
    };
  }

  return {
    take(signal) {
      // First come, first served: one caller at a time looks for a slot.
      const turn = queue.then(() => acquire(signal));
      queue = turn.catch(() => undefined);
      return turn;
    },
    holdUntil(epochMs) {
      heldUntil = Math.max(heldUntil, epochMs);
    },
  };
}

const shared = new Map<string, RequestBudget>();

/**
 * The process's budget for one API user (a fixed token or the user's name stands for the user;
 * only its hash is kept). The first caller's limits stand for the process: configuration is read once.
 */
export function sharedBudget(user: string, options: BudgetOptions): RequestBudget {
  const key = createHash('sha256').update(user, 'utf8').digest('hex');
  let budget = shared.get(key);
  if (budget === undefined) {
    budget = slidingWindowBudget(options);
    shared.set(key, budget);
  }
  return budget;
}
