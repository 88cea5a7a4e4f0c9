/**
 * The one place a canonical SessionEvent (schemas/SessionEvent.avsc) is put together. An adapter
 * reads a provider body into an envelope (what every event of that body shares) and one detail
 * per canonical event; eventOf fills in the rest and derives event_id (DESIGN section 6).
 */
import type { CanonicalType, RawWebhook, SessionEvent } from '../../lib/canonical.js';
import { eventId } from '../../lib/ids.js';
import { blankToNull } from '../../lib/json-values.js';
import type { Micros } from '../../lib/time.js';

/**
 * What every canonical event read from one provider body shares. provider_event_id, the
 * provider's own id of the event where it sends one, is part of event_id.
 */
export interface Envelope
  extends Pick<
    SessionEvent,
    | 'provider'
    | 'account_id'
    | 'session_key'
    | 'session_id'
    | 'session_name'
    | 'channel'
    | 'provider_type'
    | 'provider_event_id'
    | 'occurred_at'
  > {
  /**
   * The time event_id is derived from, where it is not occurred_at: Jifeline's ULID time (the
   * same for the REST and the websocket delivery of an event), 0 for a mluvii body that states
   * no time (its occurred_at is received_at, which differs on every delivery).
   */
  id_time?: Micros;
}

/** What one canonical event adds to its envelope; a field left out is null. */
export interface EventDetail
  extends Partial<Pick<SessionEvent, 'participant' | 'reason' | 'state' | 'scope' | 'bytes' | 'count' | 'score'>>,
    Pick<SessionEvent, 'attributes'> {
  /** Tells apart events that would otherwise share an event_id (one alert per issue, a mluvii repeat). */
  discriminator?: string;
}

/** One canonical event of `type`: the envelope, the detail, null for the rest, and its event_id. */
export function eventOf(raw: RawWebhook, envelope: Envelope, type: CanonicalType, detail: EventDetail): SessionEvent {
  const participant = detail.participant ?? null;
  return {
    event_id: eventId({
      provider: envelope.provider,
      session_key: envelope.session_key,
      type,
      provider_type: envelope.provider_type,
      participant_key: participant?.key ?? null,
      occurred_at: envelope.id_time ?? envelope.occurred_at,
      provider_event_id: envelope.provider_event_id,
      ...(detail.discriminator === undefined ? {} : { discriminator: detail.discriminator }),
    }),
    ingest_id: raw.ingest_id,
    provider: envelope.provider,
    account_id: envelope.account_id,
    session_key: envelope.session_key,
    session_id: envelope.session_id,
    session_name: envelope.session_name,
    channel: envelope.channel,
    type,
    provider_type: envelope.provider_type,
    provider_event_id: envelope.provider_event_id,
    occurred_at: envelope.occurred_at,
    received_at: raw.received_at,
    participant,
    reason: detail.reason ?? null,
    state: detail.state ?? null,
    scope: detail.scope ?? null,
    bytes: detail.bytes ?? null,
    count: detail.count ?? null,
    score: detail.score ?? null,
    attributes: detail.attributes,
  };
}

/** Attributes as strings, leaving out what is absent or blank; strings are trimmed. */
export function attrs(entries: Record<string, string | number | boolean | null | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(entries)) {
    const text =
      typeof value === 'string' ? blankToNull(value) : value === null || value === undefined ? null : String(value);
    if (text !== null) out[key] = text;
  }
  return out;
}
