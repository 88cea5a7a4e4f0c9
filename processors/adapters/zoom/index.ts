/**
 * The Zoom Video SDK adapter: one webhook body in, canonical events (DESIGN section 5) or
 * failures out. Pure: no I/O beyond reading its own schemas once, never throws on data.
 *
 * Steps: parse JSON → read `event` → look it up in the table (unknown → provider.other) →
 * check the body against its family's Avro schema → occurred_at → family details → events.
 */
import type { RawWebhook, SessionEvent } from '../../../lib/canonical.js';
import { DEFAULT_SESSION_NAMES, eventId, sessionNameAs } from '../../../lib/ids.js';
import { blankToNull, isRecord } from '../../../lib/json-values.js';
import { epochToMicros, parseIsoMicros, type Micros } from '../../../lib/time.js';
import type { Adapter, AdapterContext, NormalizeResult } from '../types.js';
import { readDetails, type Detail, type ZoomBody } from './details.js';
import { checkShape } from './schemas.js';
import { URL_VALIDATION, ZOOM_EVENT_TYPES, ZOOM_SCHEMA_OF, type ZoomMapping } from './table.js';
import { failed, failure, parseBody, readTypeField, timeInRange, type Step } from '../steps.js';

export { ZOOM_EVENT_TYPES } from './table.js';

const PROVIDER = 'zoom';

/** The envelope fields every canonical event of one Zoom body shares. */
interface Envelope {
  account_id: string | null;
  session_id: string | null;
  session_name: string | null;
  provider_type: string;
  occurred_at: Micros;
}

/**
 * session_name is free text the app chose ("Support call with Jana Novak"): it may name a person,
 * so it is stored as SESSION_NAMES says, a keyed pseudonym by default. event_id does not read it,
 * so an event keeps its id whatever the setting.
 */
function sessionName(ctx: AdapterContext, text: string | null): string | null {
  return sessionNameAs(ctx.sessionNames ?? DEFAULT_SESSION_NAMES, ctx.piiKey, PROVIDER, text);
}

function valueAt(root: unknown, path: readonly string[]): unknown {
  let here = root;
  for (const key of path) here = isRecord(here) ? here[key] : undefined;
  return here;
}

function eventTs(body: { event: string; event_ts: number }): Step<Micros> {
  if (body.event_ts <= 0)
    return {
      ok: false,
      failure: failure('FIELD_INVALID', 'event_ts is not a positive epoch time', 'event_ts', body.event),
    };
  return timeInRange(epochToMicros(body.event_ts), 'event_ts', body.event);
}

/** The payload's own time where the mapping names one and it is present, else event_ts. */
function occurredAt(body: ZoomBody, mapping: ZoomMapping): Step<Micros> {
  if (mapping.time !== null) {
    const text = blankToNull(valueAt(body, mapping.time) as string | null | undefined);
    if (text !== null) {
      const micros = parseIsoMicros(text);
      const path = mapping.time.join('.');
      return micros === undefined
        ? { ok: false, failure: failure('FIELD_INVALID', `${path} is not an ISO-8601 date-time`, path, body.event) }
        : timeInRange(micros, path, body.event);
    }
  }
  return eventTs(body);
}

function toEvent(raw: RawWebhook, envelope: Envelope, type: SessionEvent['type'], detail: Detail): SessionEvent {
  const sessionKey = envelope.session_id === null ? null : `${PROVIDER}:${envelope.session_id}`;
  const participant = detail.participant;
  return {
    event_id: eventId({
      provider: PROVIDER,
      session_key: sessionKey,
      type,
      provider_type: envelope.provider_type,
      participant_key: participant?.key ?? null,
      occurred_at: envelope.occurred_at,
      provider_event_id: null,
      ...(detail.discriminator === undefined ? {} : { discriminator: detail.discriminator }),
    }),
    ingest_id: raw.ingest_id,
    provider: PROVIDER,
    account_id: envelope.account_id,
    session_key: sessionKey,
    session_id: envelope.session_id,
    session_name: envelope.session_name,
    channel: 'video',
    type,
    provider_type: envelope.provider_type,
    provider_event_id: null,
    occurred_at: envelope.occurred_at,
    received_at: raw.received_at,
    participant,
    reason: detail.reason,
    state: null,
    scope: null,
    bytes: detail.bytes,
    count: detail.count,
    score: null,
    attributes: detail.attributes,
  };
}

function stringAt(root: unknown, path: readonly string[]): string | null {
  const value = valueAt(root, path);
  return typeof value === 'string' ? blankToNull(value) : null;
}

/** A type the table does not know: kept as provider.other, its session read where it has the usual shape. */
function otherEvent(
  raw: RawWebhook,
  body: Record<string, unknown>,
  event: string,
  ctx: AdapterContext,
): NormalizeResult {
  const shape = checkShape('Envelope', body, event);
  if (shape) return failed(shape);
  const ts = eventTs(body as { event: string; event_ts: number });
  if (!ts.ok) return failed(ts.failure);
  const envelope: Envelope = {
    account_id: stringAt(body, ['payload', 'account_id']),
    session_id: stringAt(body, ['payload', 'object', 'session_id']),
    session_name: sessionName(ctx, stringAt(body, ['payload', 'object', 'session_name'])),
    provider_type: event,
    occurred_at: ts.value,
  };
  const detail: Detail = { participant: null, reason: null, count: null, bytes: null, attributes: {} };
  return { events: [toEvent(raw, envelope, 'provider.other', detail)], failures: [] };
}

export function normalizeZoom(raw: RawWebhook, ctx: AdapterContext): NormalizeResult {
  const parsed = parseBody(raw.body);
  if (!parsed.ok) return failed(parsed.failure);
  const event = readTypeField(parsed.value, 'event');
  if (!event.ok) return failed(event.failure);
  if (event.value === URL_VALIDATION) return { events: [], failures: [] };

  const mapping = ZOOM_EVENT_TYPES.get(event.value);
  if (mapping === undefined) return otherEvent(raw, parsed.value, event.value, ctx);

  const shape = checkShape(ZOOM_SCHEMA_OF[mapping.family], parsed.value, event.value);
  if (shape) return failed(shape);
  const body = parsed.value as unknown as ZoomBody;
  const sessionId = blankToNull(body.payload.object.session_id);
  if (sessionId === null)
    return failed(
      failure('FIELD_MISSING', 'payload.object.session_id is blank', 'payload.object.session_id', event.value),
    );

  const occurred = occurredAt(body, mapping);
  if (!occurred.ok) return failed(occurred.failure);
  const details = readDetails(body, mapping, ctx.piiKey, ctx.zoomHostPattern);
  if (!details.ok) return failed(details.failure);

  const envelope: Envelope = {
    account_id: blankToNull(body.payload.account_id),
    session_id: sessionId,
    session_name: sessionName(ctx, blankToNull(body.payload.object.session_name)),
    provider_type: event.value,
    occurred_at: occurred.value,
  };
  return { events: details.details.map((detail) => toEvent(raw, envelope, mapping.canonical, detail)), failures: [] };
}

export const zoomAdapter: Adapter = Object.freeze({ provider: PROVIDER, normalize: normalizeZoom });
