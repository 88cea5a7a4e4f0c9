/**
 * Just enough of a Jifeline event for the ingest (DESIGN section 4: no semantics beyond the dedup
 * key and the message key): its ULID, which is the dedup key and the cursor, and its ticket, which
 * makes the session key `jifeline:<ticket id>`. The adapter reads the rest.
 *
 * An event comes as an element of `GET /v2/system/events` `result` ({id, type, occurred_at,
 * payload}) or as a websocket frame ({action: "event-received", event_id, event_type, message},
 * message being the payload or the whole event).
 */
import { isValid as isUlid } from 'ulidx';
import { blankToNull, isRecord } from '../../lib/json-values.js';

export interface Delivery {
  /** The bytes stored as the RawWebhook body. */
  body: Buffer;
  /** The event's id (a ULID, upper-case), or null when the body has none. */
  id: string | null;
  sessionKey: string | null;
}

/** Crockford base32 is case-insensitive: one spelling, so both delivery paths share a dedup key. */
function eventIdOf(value: unknown): string | null {
  const text = typeof value === 'string' ? blankToNull(value) : null;
  return text !== null && isUlid(text) ? text.toUpperCase() : text;
}

function sessionKeyOf(payload: unknown): string | null {
  const ticket = isRecord(payload) ? payload.ticket : undefined;
  const id = isRecord(ticket) && typeof ticket.id === 'string' ? ticket.id.trim() : '';
  return id === '' ? null : `jifeline:${id}`;
}

/** One element of a page of `GET /v2/system/events`, stored as that element's JSON. */
export function restDelivery(event: unknown): Delivery {
  const record = isRecord(event) ? event : {};
  return {
    body: Buffer.from(JSON.stringify(event)),
    id: eventIdOf(record.id),
    sessionKey: sessionKeyOf(record.payload),
  };
}

/** A websocket frame, stored byte for byte when it carries an event; its action otherwise. */
export function frameDelivery(data: Buffer): { delivery: Delivery } | { action: string } {
  let frame: unknown;
  try {
    frame = JSON.parse(data.toString('utf8'));
  } catch {
    return { action: '(not JSON)' };
  }
  if (!isRecord(frame) || frame.action !== 'event-received') {
    return { action: isRecord(frame) && typeof frame.action === 'string' ? frame.action.slice(0, 64) : '(none)' };
  }
  const message = isRecord(frame.message) ? frame.message : {};
  const payload = isRecord(message.payload) ? message.payload : message;
  return { delivery: { body: data, id: eventIdOf(frame.event_id), sessionKey: sessionKeyOf(payload) } };
}

/** ULIDs sort by time as text; other ids do not sort, so nothing is known to be older. */
export function isAfter(id: string, cursor: string | null): boolean {
  if (cursor === null || !isUlid(id) || !isUlid(cursor)) return true;
  return id > cursor;
}
