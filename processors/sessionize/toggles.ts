/**
 * One pairing rule for everything that opens and closes: participant joins and leaves,
 * recording started/resumed and paused/stopped, sharing, hold, audio/video.
 */
import type { SessionEvent } from '../../lib/canonical.js';
import type { Micros } from '../../lib/time.js';
import { groupBy } from './order.js';

export type ToggleKind = 'open' | 'close';

/**
 * What an event did to the interval: `opened` or `closed` it; `absorbed` (an open while
 * already open: a repeated join or start adds nothing); `stray` (a close while nothing is
 * open).
 */
export type ToggleEffect = 'opened' | 'closed' | 'absorbed' | 'stray';

export interface ToggleStep {
  event: SessionEvent;
  effect: ToggleEffect;
}

/**
 * Walks one key's toggle events (already in fold order). Events at the same instant are taken
 * so that the interval changes as often as they allow: while open, a close goes first (left
 * and rejoined in the same second: two spans, not one span and a lost rejoin); while closed,
 * an open goes first (joined and left in the same second: one zero-length span).
 */
export function walkToggles(events: readonly SessionEvent[], kindOf: (e: SessionEvent) => ToggleKind): ToggleStep[] {
  const steps: ToggleStep[] = [];
  let isOpen = false;
  let i = 0;
  while (i < events.length) {
    const at = events[i]!.occurred_at;
    const opens: SessionEvent[] = [];
    const closes: SessionEvent[] = [];
    for (; i < events.length && events[i]!.occurred_at === at; i++) {
      const event = events[i]!;
      (kindOf(event) === 'open' ? opens : closes).push(event);
    }
    let o = 0;
    let c = 0;
    while (o < opens.length || c < closes.length) {
      const takeClose = isOpen ? c < closes.length : o >= opens.length;
      if (takeClose) {
        steps.push({ event: closes[c++]!, effect: isOpen ? 'closed' : 'stray' });
        isOpen = false;
      } else {
        steps.push({ event: opens[o++]!, effect: isOpen ? 'absorbed' : 'opened' });
        isOpen = true;
      }
    }
  }
  return steps;
}

export interface Interval {
  start: Micros;
  /** null: still open at the last event. */
  end: Micros | null;
}

/** The intervals the steps describe; absorbed opens and stray closes are ignored. */
export function intervalsOf(steps: readonly ToggleStep[]): Interval[] {
  const intervals: Interval[] = [];
  let start: Micros | null = null;
  for (const { event, effect } of steps) {
    if (effect === 'opened') start = event.occurred_at;
    else if (effect === 'closed' && start !== null) {
      intervals.push({ start, end: event.occurred_at });
      start = null;
    }
  }
  if (start !== null) intervals.push({ start, end: null });
  return intervals;
}

/**
 * Total length in microseconds; an interval still open is closed at `closeAt` (the session's
 * ended_at) and not counted while the session is open.
 */
export function intervalMicros(intervals: readonly Interval[], closeAt: Micros | null): number {
  let total = 0;
  for (const { start, end } of intervals) {
    const stop = end ?? closeAt;
    if (stop !== null && stop > start) total += stop - start;
  }
  return total;
}

export interface Toggled {
  /** Number of opening events of the counted type (recording.started, sharing.started...). */
  count: number;
  micros: number;
}

/**
 * Pairs the events of `opens`/`closes` types, separately for each key, and totals the time.
 * `counted` is the type whose events are counted (a resumed recording is not a new one).
 */
export function toggleTotal(
  events: readonly SessionEvent[],
  rule: {
    opens: readonly string[];
    closes: readonly string[];
    counted: string;
    keyOf: (e: SessionEvent) => string;
    /** Events counted but opening no interval: the provider gives a moment, not a length. */
    noLength?: (e: SessionEvent) => boolean;
  },
  closeAt: Micros | null,
): Toggled {
  const relevant = events.filter((e) => rule.opens.includes(e.type) || rule.closes.includes(e.type));
  const timed = rule.noLength ? relevant.filter((e) => !rule.noLength!(e)) : relevant;
  let micros = 0;
  for (const keyEvents of groupBy(timed, rule.keyOf).values()) {
    const steps = walkToggles(keyEvents, (e) => (rule.opens.includes(e.type) ? 'open' : 'close'));
    micros += intervalMicros(intervalsOf(steps), closeAt);
  }
  return { count: relevant.filter((e) => e.type === rule.counted).length, micros };
}
