/**
 * Jifeline's events, as they really arrive: each oddity is one small function whose comment
 * quotes the input it handles (shared/providers/jifeline-partner-events.md and the Jifeline column
 * of shared/providers/README.md). Table-tested in test/processors/adapters/jifeline.test.ts.
 */
import { decodeTime, isValid as isUlidShape } from 'ulidx';
import { blankToNull } from '../../../lib/json-values.js';
import type { Micros } from '../../../lib/time.js';

/** snake_case of one token: "in-progress", "In Progress", "inProgress", "IN_PROGRESS" → "in_progress". */
function snake(text: string): string {
  return text
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[\s_-]+/)
    .filter((word) => word !== '')
    .map((word) => (word === 'canceled' ? 'cancelled' : word))
    .join('_');
}

/**
 * The reference writes one event type, "tickets.ticket.created"; products and cancellations are
 * described in prose only, and Jifeline's other APIs mix spellings ("subscribe-to-event",
 * "subscribeToTicket"). Types are looked up dot by dot in snake_case, with the US "canceled" as
 * "cancelled":
 *   "tickets.ticket.product-added" → "tickets.ticket.product_added"
 *   "Tickets.Ticket.Canceled"      → "tickets.ticket.cancelled"
 * provider_type keeps what was sent.
 */
export function typeKey(type: string): string {
  return type.trim().split('.').map(snake).join('.');
}

/**
 * Ticket states are documented as prepared, pending, in_progress, outsourced, closed, cancelled,
 * but display texts and other spellings turn up:
 *   "IN_PROGRESS", "in-progress", "In progress", "Canceled"
 * The state is kept in the documented spelling; an undocumented state is kept (snake_case), not refused.
 */
export function ticketState(state: string | null | undefined): string | null {
  const text = blankToNull(state);
  return text === null ? null : snake(text);
}

/**
 * PayloadTicket's example carries two numbers with different values:
 *   "ticket": { "id": "497f6eca-…", "number": 12456234, "ticket_number": 72456234 }
 * ticket_number is the "human-readable ticket identifier" of the ticket resources; `number` is
 * used only when ticket_number is absent.
 */
export function ticketNumber(ticket: {
  ticket_number?: number | string | null;
  number?: number | string | null;
}): string | null {
  // Typed as a number by the reference, sent as a string too ("72456234"): both read the same.
  const value =
    blankToNull(typeof ticket.ticket_number === 'string' ? ticket.ticket_number : null) ??
    (typeof ticket.ticket_number === 'number' ? ticket.ticket_number : null) ??
    blankToNull(typeof ticket.number === 'string' ? ticket.number : null) ??
    (typeof ticket.number === 'number' ? ticket.number : null);
  return value === null ? null : String(value).trim();
}

/**
 * A ULID's time is 48 bits, so its first character is 0..7; ulidx's isValid checks only the
 * alphabet and length, and its decodeTime throws on the rest:
 *   "ZZZZZZZZZZZZZZZZZZZZZZZZZZ"   (26 Crockford characters, time 2^50 - 1 ms: "timestamp too large")
 * Such an id is not a ULID: it is kept as sent, and its time is not read.
 */
function isUlid(text: string): boolean {
  return isUlidShape(text) && text[0]! <= '7';
}

/**
 * Event ids are ULIDs ("01HWTCTT509VV8X9XYGPTR5N8Q"; after_id is documented as a uuid but takes
 * this ULID). Crockford base32 is case-insensitive, so "01hwtctt509vv8x9xygptr5n8q" is the same
 * event: a ULID is kept upper-case, anything else trimmed as sent.
 */
export function canonicalEventId(id: string): string {
  const text = id.trim();
  return isUlid(text) ? text.toUpperCase() : text;
}

/**
 * A ULID's first ten characters are its millisecond time: "01HWTCTT50…" is 2024-05-01T15:37:08.000Z.
 * Websocket frames carry no occurred_at ({action, event_id, event_type, message}); this time
 * stands in for it, and it is the time slot of event_id for both shapes. Undefined when not a ULID.
 */
export function ulidMicros(id: string): Micros | undefined {
  const text = id.trim();
  return isUlid(text) ? decodeTime(text.toUpperCase()) * 1000 : undefined;
}

type ProductId = string | number;

/**
 * The reference documents only PayloadTicket, PayloadParentTicket and PayloadCustomer; where a
 * product event names its product is not shown. Read from any of
 *   "product": { "id": 311 }   "products": [{ "id": 311 }, { "id": "312" }]   "product_id": 311
 * as strings, blanks dropped, repeats once, in the order sent.
 */
export function productIds(payload: {
  product?: { readonly id: ProductId } | null;
  products?: ReadonlyArray<{ readonly id: ProductId }> | null;
  product_id?: ProductId | null;
}): string[] {
  const all: Array<ProductId | null | undefined> = [
    payload.product?.id,
    ...(payload.products ?? []).map((p) => p.id),
    payload.product_id,
  ];
  const seen = new Set<string>();
  for (const id of all) {
    const text = id === null || id === undefined ? null : blankToNull(String(id));
    if (text !== null) seen.add(text);
  }
  return [...seen];
}
