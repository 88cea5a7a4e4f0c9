import { createHash, createHmac, randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulidx';
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

/**
 * What becomes of a session name that is free text the app chose ("Support call with Jana Novak"):
 * `hash` a keyed pseudonym (sessionNameKey), `keep` the text as sent, `drop` null.
 */
export const SESSION_NAME_MODES = ['hash', 'keep', 'drop'] as const;
export type SessionNames = (typeof SESSION_NAME_MODES)[number];
/** Free text may name a person, and a pseudonym still groups sessions of the same name. */
export const DEFAULT_SESSION_NAMES: SessionNames = 'hash';

/**
 * Keyed pseudonym of a session name: `name:` + HMAC-SHA256(PII_KEY, provider + name), hex, 32
 * chars. Equal names give equal keys, so reports still group by name, but the text cannot be read
 * back. The input is labelled, so a name and a participant id of the same text get different keys.
 */
export function sessionNameKey(piiKey: string, provider: string, name: string): string {
  return `name:${createHmac('sha256', piiKey).update(`session_name\u001f${provider}\u001f${name}`).digest('hex').slice(0, 32)}`;
}

/** A session name as SESSION_NAMES says to store it. */
export function sessionNameAs(
  mode: SessionNames,
  piiKey: string,
  provider: string,
  name: string | null,
): string | null {
  if (name === null || mode === 'drop') return null;
  return mode === 'keep' ? name : sessionNameKey(piiKey, provider, name);
}

/** A short stable hash for dedup keys derived from a body's content. */
export function contentKey(...parts: Array<string | number | null | undefined>): string {
  return createHash('sha256')
    .update(parts.map((p) => (p === null || p === undefined ? '' : String(p))).join('\u001f'))
    .digest('hex')
    .slice(0, 32);
}

/**
 * Random numbers in [0, 1) for ULIDs, from a pool of crypto-random bytes refilled 4 KiB at a
 * time. ulidx's own source asks the OS for one byte per character (16 calls per id), which cost
 * the ingest a tenth of its CPU. A byte gives one of 256 values; a ULID character takes 5 bits of
 * it (byte >> 3), so every character stays uniform.
 */
const pool = Buffer.alloc(4096);
let pooled = pool.length;
function pooledRandom(): number {
  if (pooled === pool.length) {
    randomFillSync(pool);
    pooled = 0;
  }
  return pool[pooled++]! / 256;
}

/**
 * A ULID for `timeMs`: ids made in the same millisecond still sort in the order they were made
 * (ulidx's monotonic factory), so ingest ids follow arrival order.
 */
export const newUlid: (timeMs?: number) => string = monotonicFactory(pooledRandom);
