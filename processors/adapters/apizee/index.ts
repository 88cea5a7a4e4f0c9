/**
 * The Apizee adapter: one `conversationevent.create` webhook body in, canonical events (DESIGN
 * section 5) or failures out. Pure: no I/O beyond reading its own schemas once, never throws
 * on data. The ticket is the session (apizee:<ticketId>, channel ticket).
 *
 * Steps: parse JSON → read props.eventType (a body about another object: provider.other) →
 * look it up in the table (unknown or retired → provider.other) → check the body against its
 * family's Avro schema → ticket, objectId, occurred_at (`time`, Unix seconds) → details → events.
 */
import type { RawWebhook } from '../../../lib/canonical.js';
import { blankToNull, idText, isRecord } from '../../../lib/json-values.js';
import { epochToMicros, type Micros } from '../../../lib/time.js';
import { attrs, eventOf, type Envelope } from '../event.js';
import type { Adapter, AdapterContext, NormalizeResult } from '../types.js';
import { commonAttributes, readDetails, type ApizeeBody, type Detail } from './details.js';
import { foreignObjectType, lookupType } from './quirks.js';
import { readShape } from './schemas.js';
import { APIZEE_EVENT_TYPES, APIZEE_RETIRED_TYPES, APIZEE_SCHEMA_OF } from './table.js';
import { failed, failure, parseBody, timeInRange, type Step } from '../steps.js';

export { APIZEE_EVENT_TYPES, APIZEE_RETIRED_TYPES } from './table.js';

const PROVIDER = 'apizee';

/**
 * What an Apizee body's envelope is read from; the rest follows. provider_event_id is the
 * objectId, Apizee's own id of the event, so events of the same second still differ.
 */
type ApizeeEnvelope = Pick<Envelope, 'session_id' | 'provider_type' | 'provider_event_id' | 'occurred_at'>;

/** The ticket is the session (`apizee:<ticketId>`, channel ticket); Apizee names no account. */
function envelopeOf(read: ApizeeEnvelope): Envelope {
  const sessionKey = read.session_id === null ? null : `${PROVIDER}:${read.session_id}`;
  return {
    ...read,
    provider: PROVIDER,
    account_id: null,
    session_key: sessionKey,
    session_name: null,
    channel: 'ticket',
  };
}

/** props.eventType, the type of a conversation event; null when the body has none at all. */
function readEventType(body: Record<string, unknown>): Step<string | null> {
  const props = body.props;
  if (props === undefined || props === null) return { ok: true, value: null };
  if (!isRecord(props))
    return { ok: false, failure: failure('FIELD_INVALID', 'props is not an object', 'props', null) };
  const type = props.eventType;
  if (type === undefined || type === null) return { ok: true, value: null };
  if (typeof type !== 'string')
    return { ok: false, failure: failure('FIELD_INVALID', 'props.eventType is not a string', 'props.eventType', null) };
  return { ok: true, value: blankToNull(type) };
}

function occurredAt(time: number, providerType: string): Step<Micros> {
  if (time <= 0)
    return { ok: false, failure: failure('FIELD_INVALID', 'time is not a positive Unix time', 'time', providerType) };
  return timeInRange(epochToMicros(time), 'time', providerType);
}

interface LooseBody {
  time: number;
  objectId?: number | string | null;
  props?: {
    eventCode?: number | null;
    conversationId?: number | string | null;
    ticketId?: number | string | null;
  } | null;
}

/** A type the table does not map (or a retired one, or another object): kept as provider.other. */
function otherEvent(
  raw: RawWebhook,
  body: Record<string, unknown>,
  providerType: string,
  retired: boolean,
): NormalizeResult {
  const checked = readShape<LooseBody>('Envelope', body, providerType);
  if (!checked.ok) return failed(checked.failure);
  const loose = checked.value;
  const occurred = occurredAt(loose.time, providerType);
  if (!occurred.ok) return failed(occurred.failure);
  const envelope = envelopeOf({
    session_id: idText(loose.props?.ticketId),
    provider_type: providerType,
    provider_event_id: idText(loose.objectId),
    occurred_at: occurred.value,
  });
  const detail: Detail = {
    type: 'provider.other',
    participant: null,
    reason: null,
    state: null,
    scope: null,
    score: null,
    attributes: { ...commonAttributes(loose.props), ...attrs({ retired: retired ? 'true' : null }) },
  };
  return { events: [eventOf(raw, envelope, detail.type, detail)], failures: [] };
}

function normalizeApizee(raw: RawWebhook, ctx: AdapterContext): NormalizeResult {
  const parsed = parseBody(raw.body);
  if (!parsed.ok) return failed(parsed.failure);
  const read = readEventType(parsed.value);
  if (!read.ok) return failed(read.failure);
  const eventType = read.value;
  if (eventType === null) {
    const foreign = foreignObjectType(parsed.value);
    if (foreign !== null) return otherEvent(raw, parsed.value, foreign, false);
    return failed(failure('FIELD_MISSING', 'props.eventType', 'props.eventType', null));
  }

  const mapping = lookupType(APIZEE_EVENT_TYPES, eventType);
  if (mapping === undefined)
    return otherEvent(raw, parsed.value, eventType, lookupType(APIZEE_RETIRED_TYPES, eventType) !== undefined);

  const checked = readShape<ApizeeBody>(APIZEE_SCHEMA_OF[mapping.family], parsed.value, eventType);
  if (!checked.ok) return failed(checked.failure);
  const body = checked.value;
  const ticketId = idText(body.props.ticketId);
  if (ticketId === null)
    return failed(failure('FIELD_MISSING', 'props.ticketId is blank', 'props.ticketId', eventType));
  const objectId = idText(body.objectId);
  if (objectId === null) return failed(failure('FIELD_MISSING', 'objectId is blank', 'objectId', eventType));
  const occurred = occurredAt(body.time, eventType);
  if (!occurred.ok) return failed(occurred.failure);

  const envelope = envelopeOf({
    session_id: ticketId,
    provider_type: eventType,
    provider_event_id: objectId,
    occurred_at: occurred.value,
  });
  const details = readDetails(body, mapping, ticketId, ctx.piiKey);
  return { events: details.map((detail) => eventOf(raw, envelope, detail.type, detail)), failures: [] };
}

export const apizeeAdapter: Adapter = Object.freeze({ provider: PROVIDER, normalize: normalizeApizee });
