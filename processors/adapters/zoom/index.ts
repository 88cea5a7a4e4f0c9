/**
 * The Zoom Video SDK adapter: one webhook body in, canonical events (DESIGN section 5) or
 * failures out. Pure: no I/O beyond reading its own schemas once, never throws on data.
 *
 * Steps: parse JSON → read `event` → look it up in the table (unknown → provider.other) →
 * check the body against its family's Avro schema → occurred_at → family details → events.
 */
import type { RawWebhook } from '../../../lib/canonical.js';
import { DEFAULT_SESSION_NAMES, sessionNameAs } from '../../../lib/ids.js';
import { blankToNull, isRecord } from '../../../lib/json-values.js';
import { epochToMicros, parseIsoMicros, type Micros } from '../../../lib/time.js';
import { eventOf, type Envelope } from '../event.js';
import type { Adapter, AdapterContext, NormalizeResult } from '../types.js';
import { readDetails, type ZoomBody } from './details.js';
import { checkShape, readShape } from './schemas.js';
import { URL_VALIDATION, ZOOM_EVENT_TYPES, ZOOM_SCHEMA_OF, type ZoomMapping } from './table.js';
import { failed, failure, parseBody, readTypeField, timeInRange, type Step } from '../steps.js';

export { ZOOM_EVENT_TYPES } from './table.js';

const PROVIDER = 'zoom';

/** What a Zoom body's envelope is read from; the rest follows. */
type ZoomEnvelope = Pick<Envelope, 'account_id' | 'session_id' | 'session_name' | 'provider_type' | 'occurred_at'>;

/** A video session keyed `zoom:<session_id>`; Zoom sends no event id of its own. */
function envelopeOf(read: ZoomEnvelope): Envelope {
  const sessionKey = read.session_id === null ? null : `${PROVIDER}:${read.session_id}`;
  return { ...read, provider: PROVIDER, session_key: sessionKey, channel: 'video', provider_event_id: null };
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
  const envelope = envelopeOf({
    account_id: stringAt(body, ['payload', 'account_id']),
    session_id: stringAt(body, ['payload', 'object', 'session_id']),
    session_name: sessionName(ctx, stringAt(body, ['payload', 'object', 'session_name'])),
    provider_type: event,
    occurred_at: ts.value,
  });
  return { events: [eventOf(raw, envelope, 'provider.other', { attributes: {} })], failures: [] };
}

function normalizeZoom(raw: RawWebhook, ctx: AdapterContext): NormalizeResult {
  const parsed = parseBody(raw.body);
  if (!parsed.ok) return failed(parsed.failure);
  const event = readTypeField(parsed.value, 'event');
  if (!event.ok) return failed(event.failure);
  if (event.value === URL_VALIDATION) return { events: [], failures: [] };

  const mapping = ZOOM_EVENT_TYPES.get(event.value);
  if (mapping === undefined) return otherEvent(raw, parsed.value, event.value, ctx);

  const checked = readShape<ZoomBody>(ZOOM_SCHEMA_OF[mapping.family], parsed.value, event.value);
  if (!checked.ok) return failed(checked.failure);
  const body = checked.value;
  const sessionId = blankToNull(body.payload.object.session_id);
  if (sessionId === null)
    return failed(
      failure('FIELD_MISSING', 'payload.object.session_id is blank', 'payload.object.session_id', event.value),
    );

  const occurred = occurredAt(body, mapping);
  if (!occurred.ok) return failed(occurred.failure);
  const details = readDetails(body, mapping, ctx.piiKey, ctx.zoomHostPattern);
  if (!details.ok) return failed(details.failure);

  const envelope = envelopeOf({
    account_id: blankToNull(body.payload.account_id),
    session_id: sessionId,
    session_name: sessionName(ctx, blankToNull(body.payload.object.session_name)),
    provider_type: event.value,
    occurred_at: occurred.value,
  });
  return { events: details.details.map((detail) => eventOf(raw, envelope, mapping.canonical, detail)), failures: [] };
}

export const zoomAdapter: Adapter = Object.freeze({ provider: PROVIDER, normalize: normalizeZoom });
