/**
 * The fold's view of a session: its distinct events in one deterministic order, whatever
 * order they arrived in and however often (DESIGN section 6: a fact is a pure function of
 * the SET of a session's events).
 */
import type { CanonicalType, SessionEvent } from '../../lib/canonical.js';

/**
 * Order of canonical types at the same instant. Providers send whole seconds (Apizee `time`)
 * so ties are common; what opens something sorts before what closes it (created, started,
 * joined, recording.started before paused/stopped, left, ended), and consent.declined after
 * consent.accepted so a tie resolves to the refusal. Types not listed sit in the middle.
 */
const PRECEDENCE: Partial<Record<CanonicalType, number>> = {
  'session.created': 0,
  'ticket.created': 0,
  'session.started': 1,
  'participant.joined': 2,
  'recording.started': 3,
  'recording.resumed': 3,
  'sharing.started': 3,
  'av.started': 3,
  'hold.started': 3,
  'streaming.started': 3,
  // everything else: MIDDLE
  'consent.declined': 6,
  'recording.paused': 7,
  'recording.stopped': 7,
  'sharing.ended': 7,
  'av.ended': 7,
  'hold.ended': 7,
  'streaming.stopped': 7,
  'participant.left': 8,
  'participant.concluded': 9,
  'ticket.state_changed': 10,
  'ticket.closed': 11,
  'ticket.cancelled': 11,
  'session.ended': 12,
  'recording.completed': 13,
  'transcript.completed': 13,
  'transcript.failed': 13,
  'summary.completed': 13,
};
const MIDDLE = 5;

/**
 * An own property only: a type named like a member of Object.prototype ("constructor",
 * "__proto__", "toString") is a type the table does not list, not that member (which compared
 * as NaN and made the order depend on the order the events came in).
 */
export function precedence(type: CanonicalType): number {
  return Object.hasOwn(PRECEDENCE, type) ? PRECEDENCE[type]! : MIDDLE;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * The provider's own sequence where its event ids give one: numbers that grow with time
 * (Apizee objectId, mluvii activityId) and ULIDs (Jifeline). Apizee's `time` is whole seconds,
 * so "cameraDisallowed" then "cameraAllowed" in one second are told apart only by objectId.
 * Null when the event has no such id; those sort after the ones that have.
 */
export function sequenceKey(e: SessionEvent): string | null {
  const id = e.provider_event_id;
  if (id === null) return null;
  if (/^\d{1,30}$/.test(id)) return `n${id.padStart(30, '0')}`;
  if (ULID.test(id)) return `u${id}`;
  return null;
}

function compareSequence(a: SessionEvent, b: SessionEvent): number {
  const x = sequenceKey(a);
  const y = sequenceKey(b);
  if (x === y) return 0;
  if (x === null) return 1;
  if (y === null) return -1;
  return compareStrings(x, y);
}

/** The fold order: occurred_at, then the provider's sequence, then type precedence, then event_id. */
export function compareFoldOrder(a: SessionEvent, b: SessionEvent): number {
  return (
    a.occurred_at - b.occurred_at ||
    compareSequence(a, b) ||
    precedence(a.type) - precedence(b.type) ||
    compareStrings(a.event_id, b.event_id)
  );
}

/** JSON with sorted object keys, so two equal events give the same text. */
function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'undefined';
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => compareStrings(a, b));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
}

/**
 * Of several deliveries of one event_id, the one that stands for it: the first received (a
 * redelivery changes nothing, so it must not move updated_at), then the lowest ingest_id,
 * then the content itself, so the choice never depends on input order.
 */
function prefer(a: SessionEvent, b: SessionEvent): SessionEvent {
  const byDelivery = a.received_at - b.received_at || compareStrings(a.ingest_id, b.ingest_id);
  if (byDelivery !== 0) return byDelivery < 0 ? a : b;
  return compareStrings(stableJson(a), stableJson(b)) <= 0 ? a : b;
}

/** Distinct events (one per event_id) in fold order. */
export function distinctInFoldOrder(events: readonly SessionEvent[]): SessionEvent[] {
  const byId = new Map<string, SessionEvent>();
  for (const event of events) {
    const seen = byId.get(event.event_id);
    byId.set(event.event_id, seen === undefined ? event : prefer(seen, event));
  }
  return [...byId.values()].sort(compareFoldOrder);
}

/** Events grouped by a key, each group keeping fold order; groups in key order. */
export function groupBy(
  events: readonly SessionEvent[],
  keyOf: (e: SessionEvent) => string,
): Map<string, SessionEvent[]> {
  const groups = new Map<string, SessionEvent[]>();
  for (const event of events) {
    const key = keyOf(event);
    const group = groups.get(key);
    if (group) group.push(event);
    else groups.set(key, [event]);
  }
  return new Map([...groups.entries()].sort(([a], [b]) => compareStrings(a, b)));
}
