/**
 * The Jifeline Partner API adapter: one event in (a REST event object or a websocket frame, see
 * unify.ts), canonical events (DESIGN section 5) or failures out. Pure: no I/O beyond reading its
 * own schemas once, never throws on data.
 *
 * Steps: parse JSON → unify the shape → envelope (id, type, occurred_at) → look the type up in the
 * table (unknown → provider.other) → check the event against its family's Avro schema → details.
 *
 * Identity: the event's ULID is provider_event_id, and event_id is derived from it (with the
 * ULID's own time in the time slot, not occurred_at, which websocket frames lack), so the REST and
 * the websocket delivery of one event are one event downstream.
 */
import type { RawWebhook } from '../../../lib/canonical.js';
import { blankToNull, isRecord } from '../../../lib/json-values.js';
import { parseIsoMicros, type Micros } from '../../../lib/time.js';
import { eventOf, type Envelope } from '../event.js';
import type { Adapter, AdapterContext, NormalizeResult } from '../types.js';
import { readDetails, type JifelineTicketEvent } from './details.js';
import { canonicalEventId, ticketNumber, typeKey, ulidMicros } from './quirks.js';
import { readShape } from './schemas.js';
import { unify } from './unify.js';
import { JIFELINE_EVENT_TYPES, JIFELINE_SCHEMA_OF } from './table.js';
import { failed, failure, parseBody, timeInRange, type Step } from '../steps.js';

export { JIFELINE_EVENT_TYPES } from './table.js';

const PROVIDER = 'jifeline';

/** What a Jifeline event's envelope is read from: its id (a ULID), type, time and ticket. */
interface JifelineEnvelope {
  id: string;
  provider_type: string;
  occurred_at: Micros;
  ticket_id: string | null;
  ticket_number: string | null;
}

/**
 * The ticket is the session (`jifeline:<ticket id>`, channel ticket, named by its number); the
 * event's id is provider_event_id, and event_id's time is the ULID's own (see the top).
 */
function envelopeOf(read: JifelineEnvelope): Envelope {
  const sessionKey = read.ticket_id === null ? null : `${PROVIDER}:${read.ticket_id}`;
  return {
    provider: PROVIDER,
    account_id: null,
    session_key: sessionKey,
    session_id: read.ticket_id,
    session_name: read.ticket_number,
    channel: sessionKey === null ? null : 'ticket',
    provider_type: read.provider_type,
    provider_event_id: read.id,
    occurred_at: read.occurred_at,
    id_time: ulidMicros(read.id) ?? 0,
  };
}

interface BaseEvent {
  id: string;
  type: string;
  occurred_at?: string | null;
}

/** occurred_at when sent, else the ULID's time (websocket frames); a failure when neither can be read. */
function occurredAt(event: BaseEvent, id: string, pathOf: (path: string) => string): Step<Micros> {
  const text = blankToNull(event.occurred_at);
  const path = pathOf('occurred_at');
  if (text !== null) {
    const micros = parseIsoMicros(text);
    return micros === undefined
      ? { ok: false, failure: failure('FIELD_INVALID', `${path} is not an ISO-8601 date-time`, path, event.type) }
      : timeInRange(micros, path, event.type);
  }
  const fromId = ulidMicros(id);
  if (fromId !== undefined) return timeInRange(fromId, pathOf('id'), event.type);
  return {
    ok: false,
    failure: failure('FIELD_MISSING', `${path} is absent and ${pathOf('id')} is not a ULID`, path, event.type),
  };
}

/** The ticket of a payload of a type the table does not know, where it has the usual shape. */
function ticketOf(event: Record<string, unknown>): { id: string | null; number: string | null } {
  const ticket = isRecord(event.payload) && isRecord(event.payload.ticket) ? event.payload.ticket : {};
  const id = typeof ticket.id === 'string' ? blankToNull(ticket.id) : null;
  const pick = (value: unknown) => (typeof value === 'number' || typeof value === 'string' ? value : null);
  return { id, number: ticketNumber({ ticket_number: pick(ticket.ticket_number), number: pick(ticket.number) }) };
}

function normalizeJifeline(raw: RawWebhook, ctx: AdapterContext): NormalizeResult {
  const parsed = parseBody(raw.body);
  if (!parsed.ok) return failed(parsed.failure);
  const unified = unify(parsed.value);
  if (!unified.ok) return failed(unified.failure);
  const { event, pathOf, shape: deliveredAs } = unified.value;

  const typeSent = typeof event.type === 'string' ? event.type : null;
  const envelopeRead = readShape<BaseEvent>('Envelope', event, typeSent, pathOf);
  if (!envelopeRead.ok) return failed(envelopeRead.failure);
  const base = envelopeRead.value;
  if (blankToNull(base.type) === null)
    return failed(failure('FIELD_MISSING', `${pathOf('type')} is blank`, pathOf('type'), null));
  const rawId = blankToNull(base.id);
  if (rawId === null) return failed(failure('FIELD_MISSING', `${pathOf('id')} is blank`, pathOf('id'), base.type));
  const id = canonicalEventId(rawId);
  const occurred = occurredAt(base, id, pathOf);
  if (!occurred.ok) return failed(occurred.failure);

  const mapping = JIFELINE_EVENT_TYPES.get(typeKey(base.type));
  if (mapping === undefined) {
    const ticket = ticketOf(event);
    const envelope = envelopeOf({
      id,
      provider_type: base.type,
      occurred_at: occurred.value,
      ticket_id: ticket.id,
      ticket_number: ticket.number,
    });
    return { events: [eventOf(raw, envelope, 'provider.other', { attributes: {} })], failures: [] };
  }

  // A websocket frame as the reference shows it (`message: {}`) says only that an event happened:
  // the poll stores the same event, with its ticket, under the same event_id. Without a ticket
  // the frame gives no event and is no failure (audit counts its delivery as no_events).
  if (deliveredAs === 'websocket' && !(isRecord(event.payload) && isRecord(event.payload.ticket)))
    return { events: [], failures: [] };

  const familyRead = readShape<JifelineTicketEvent>(JIFELINE_SCHEMA_OF[mapping.family], event, base.type, pathOf);
  if (!familyRead.ok) return failed(familyRead.failure);
  const ticketEvent = familyRead.value;
  const ticketId = blankToNull(ticketEvent.payload.ticket.id);
  const ticketPath = pathOf('payload.ticket.id');
  if (ticketId === null) return failed(failure('FIELD_MISSING', `${ticketPath} is blank`, ticketPath, base.type));

  const details = readDetails(ticketEvent, mapping, ctx.piiKey, pathOf);
  if (!details.ok) return failed(details.failure);
  const envelope = envelopeOf({
    id,
    provider_type: base.type,
    occurred_at: occurred.value,
    ticket_id: ticketId,
    ticket_number: ticketNumber(ticketEvent.payload.ticket),
  });
  return { events: [eventOf(raw, envelope, mapping.canonical, details.detail)], failures: [] };
}

export const jifelineAdapter: Adapter = Object.freeze({ provider: PROVIDER, normalize: normalizeJifeline });
