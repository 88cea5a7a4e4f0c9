/**
 * The mluvii adapter: one webhook body `{eventType, data}` in, canonical events (DESIGN section
 * 5) or failures out. Pure: no I/O beyond reading its own schemas once, never throws on data.
 *
 * Steps: parse JSON → read `eventType` → look it up in the table (unknown → provider.other) →
 * check the body against its family's Avro schema → session → occurred_at → details → events.
 */
import type { CanonicalType, Channel, RawWebhook, SessionEvent } from '../../../lib/canonical.js';
import { isRecord } from '../../../lib/json-values.js';
import { parseLenientJson } from '../../../lib/lenient-json.js';
import { mluviiId, mluviiSession } from '../../../lib/mluvii-keys.js';
import type { Micros } from '../../../lib/time.js';
import { eventOf, type Envelope, type EventDetail } from '../event.js';
import type { Adapter, AdapterContext, NormalizeResult } from '../types.js';
import { readDetails, type MluviiBody, type MluviiData } from './details.js';
import { timelessIdentity } from './identity.js';
import { parseMluviiTime, settingTenantId } from './quirks.js';
import { checkShape, readShape } from './schemas.js';
import {
  MLUVII_CHANNELS,
  MLUVII_EVENT_TYPES,
  MLUVII_SCHEMA_OF,
  type MluviiFamily,
  type MluviiMapping,
  type TimeField,
} from './table.js';
import { failed, parseBody, readTypeField, type Step } from '../steps.js';

export { MLUVII_EVENT_TYPES } from './table.js';

const PROVIDER = 'mluvii';

/** What a mluvii body's envelope is read from; mluvii's sessions have no name. */
type MluviiEnvelope = Omit<Envelope, 'provider' | 'session_name' | 'id_time'> & {
  /** What identifies the event when the body states no time (see eventsOf). */
  timeless: string | null;
};

/** Where each family keeps its session: `mluvii:<id>`, `mluvii:<sessionId>`, `mluvii:email:<id>`, or none. */
function sessionOf(
  family: MluviiFamily,
  data: MluviiData,
): { key: string; id: string; channel: Channel | null } | null {
  switch (family) {
    case 'session':
    case 'session_operator':
    case 'session_forwarded':
    case 'session_ref': {
      const channel =
        typeof data.channel === 'string' ? (MLUVII_CHANNELS.get(data.channel.trim().toLowerCase()) ?? null) : null;
      return { key: `${PROVIDER}:${data.id}`, id: String(data.id), channel };
    }
    case 'activity':
    case 'av':
    case 'hero_card_submission':
      return { key: `${PROVIDER}:${data.sessionId}`, id: String(data.sessionId), channel: null };
    case 'email_thread':
    case 'email_operator':
      return { key: `${PROVIDER}:email:${data.id}`, id: String(data.id), channel: 'email' };
    case 'setting':
    case 'guest_identity':
    case 'user_status':
      return null;
  }
}

/** The body's own time where the mapping names one; received_at for the bodies that state none. */
function occurredAt(
  raw: RawWebhook,
  data: Record<string, unknown>,
  time: TimeField | null,
  providerType: string,
  once: boolean,
): Step<{ at: Micros; timeless: string | null }> {
  if (time === null)
    return { ok: true, value: { at: raw.received_at, timeless: timelessIdentity(raw, providerType, data, once) } };
  const parsed = parseMluviiTime(data[time], `data.${time}`, providerType);
  return parsed.ok ? { ok: true, value: { at: parsed.micros, timeless: null } } : parsed;
}

/**
 * event_id from what the event is. A body with no time of its own (SessionCreated, the
 * *ParamsUpdated, UserStatusChanged, ...) takes received_at as occurred_at, which differs on
 * every delivery: its id is made from timelessIdentity instead (identity.ts), so that a
 * redelivery collapses onto its event and a genuine repeat is an event of its own.
 */
function eventsOf(
  raw: RawWebhook,
  { timeless, ...read }: MluviiEnvelope,
  types: readonly CanonicalType[],
  detail: EventDetail,
): SessionEvent[] {
  const envelope: Envelope = {
    ...read,
    provider: PROVIDER,
    session_name: null,
    ...(timeless === null ? {} : { id_time: 0 }),
  };
  const identified: EventDetail =
    timeless === null
      ? detail
      : { ...detail, discriminator: timeless, attributes: { ...detail.attributes, occurred_at_source: 'received_at' } };
  return types.map((type) => eventOf(raw, envelope, type, identified));
}

/** A type the table does not know: kept as provider.other, its session and time read where they have the usual shape. */
function otherEvent(raw: RawWebhook, body: Record<string, unknown>, type: string): NormalizeResult {
  const shape = checkShape('Envelope', body, type);
  if (shape) return failed(shape);
  const data = isRecord(body.data) ? body.data : {};
  const session = mluviiSession(type, data);
  const timeField =
    (['time', 'started', 'ended', 'created'] as const).find((f) => data[f] !== undefined && data[f] !== null) ?? null;
  // A type the table does not know may repeat: a body of it with no time is not `once`.
  const occurred = occurredAt(raw, data, timeField, type, false);
  if (!occurred.ok) return failed(occurred.failure);
  const envelope: MluviiEnvelope = {
    account_id: mluviiId(data.tenantId),
    session_key: session?.key ?? null,
    session_id: session?.id ?? null,
    channel: session?.email ? 'email' : null,
    provider_type: type,
    provider_event_id: mluviiId(data.activityId),
    occurred_at: occurred.value.at,
    timeless: occurred.value.timeless,
  };
  return { events: eventsOf(raw, envelope, ['provider.other'], { attributes: {} }), failures: [] };
}

function normalizeKnown(
  raw: RawWebhook,
  body: Record<string, unknown>,
  type: string,
  mapping: MluviiMapping,
  ctx: AdapterContext,
): NormalizeResult {
  const read = readShape<MluviiBody>(MLUVII_SCHEMA_OF[mapping.family], body, type);
  if (!read.ok) return failed(read.failure);
  const checked = read.value;
  const data = checked.data;
  const session = sessionOf(mapping.family, data);
  const occurred = occurredAt(raw, body.data as Record<string, unknown>, mapping.time, type, mapping.once);
  if (!occurred.ok) return failed(occurred.failure);
  const tenant = mapping.family === 'setting' ? settingTenantId(data) : (data.tenantId ?? null);
  const envelope: MluviiEnvelope = {
    account_id: tenant === null ? null : String(tenant),
    session_key: session?.key ?? null,
    session_id: session?.id ?? null,
    channel: session?.channel ?? null,
    provider_type: type,
    provider_event_id: mluviiId(data.activityId),
    occurred_at: occurred.value.at,
    timeless: occurred.value.timeless,
  };
  const detail = readDetails(checked, mapping, session?.id ?? null, ctx.piiKey);
  return { events: eventsOf(raw, envelope, mapping.canonical, detail), failures: [] };
}

function normalizeMluvii(raw: RawWebhook, ctx: AdapterContext): NormalizeResult {
  const parsed = parseBody(raw.body, parseLenientJson);
  if (!parsed.ok) return failed(parsed.failure);
  const type = readTypeField(parsed.value, 'eventType');
  if (!type.ok) return failed(type.failure);
  const mapping = MLUVII_EVENT_TYPES.get(type.value);
  return mapping === undefined
    ? otherEvent(raw, parsed.value, type.value)
    : normalizeKnown(raw, parsed.value, type.value, mapping, ctx);
}

export const mluviiAdapter: Adapter = Object.freeze({ provider: PROVIDER, normalize: normalizeMluvii });
