import { createHash, createHmac } from 'node:crypto';
import type { Micros } from './time.js';

/**
 * event_id: derived from what the event is, never from when or how often it was delivered
 * (DESIGN section 6), so every redelivery collapses onto one row.
 */
export function eventId(parts: {
  provider: string;
  session_key: string | null;
  type: string;
  provider_type: string;
  participant_key: string | null;
  occurred_at: Micros;
  provider_event_id: string | null;
  /** Distinguishes several canonical events read from one provider event (e.g. one alert per issue). */
  discriminator?: string;
}): string {
  const text = [
    parts.provider,
    parts.session_key ?? '',
    parts.type,
    parts.provider_type,
    parts.participant_key ?? '',
    String(parts.occurred_at),
    parts.provider_event_id ?? '',
    parts.discriminator ?? '',
  ].join('\u001f');
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/** Keyed pseudonym of a person: HMAC-SHA256(PII_KEY, provider + identifier), hex, 32 chars. */
export function participantKey(piiKey: string, provider: string, identifier: string): string {
  return createHmac('sha256', piiKey).update(`${provider}\u001f${identifier}`).digest('hex').slice(0, 32);
}

/** A short stable hash for dedup keys derived from a body's content. */
export function contentKey(...parts: Array<string | number | null | undefined>): string {
  return createHash('sha256').update(parts.map((p) => (p === null || p === undefined ? '' : String(p))).join('\u001f')).digest('hex').slice(0, 32);
}
