/** Timestamps inside sessionflow are UTC microseconds since the epoch, as plain numbers (safe to 2255). */
export type Micros = number;

/**
 * The times sessionflow accepts from a provider: from 2000-01-01 up to, not including,
 * 2100-01-01 UTC. A fixed range rather than one around "now", so that replay and rebuild read
 * the same events the same way in any year. Anything outside it is a provider's bug or a
 * poison value (Zoom's event_ts in the year 2500 is 16725225600000000 µs, past what an Avro
 * long in JavaScript can hold exactly): the adapters turn it into a FIELD_INVALID dead letter
 * naming the field, never into an event.
 */
export const TIME_RANGE = Object.freeze({ from: Date.UTC(2000, 0, 1) * 1000, until: Date.UTC(2100, 0, 1) * 1000 });

/** Whether a provider's time is one sessionflow accepts (see TIME_RANGE); false for NaN and ±Infinity. */
export function inTimeRange(micros: Micros): boolean {
  return Number.isSafeInteger(micros) && micros >= TIME_RANGE.from && micros < TIME_RANGE.until;
}

export function nowMicros(): Micros {
  return Date.now() * 1000;
}

export function microsToIso(micros: Micros): string {
  const ms = Math.floor(micros / 1000);
  const rest = micros - ms * 1000;
  const iso = new Date(ms).toISOString(); // 2024-05-02T14:05:24.454Z
  return rest === 0 ? iso : `${iso.slice(0, -1)}${String(rest).padStart(3, '0')}Z`;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.:](\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Parses an ISO-8601 date-time to UTC microseconds, keeping up to six fraction digits
 * (`new Date()` keeps three). Accepts the colon-before-fraction shape some providers send:
 * "2024-05-02T08:58:58:888364+02:00". A time without an offset is taken as UTC.
 * Returns undefined when the text is not such a date-time.
 */
export function parseIsoMicros(text: string): Micros | undefined {
  const m = ISO.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac = '', zone = 'Z'] = m;
  const base = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number.isNaN(base)) return undefined;
  const check = new Date(base);
  if (check.getUTCDate() !== Number(d) || check.getUTCHours() !== Number(h)) return undefined;
  const fracMicros = Number(`${frac}000000`.slice(0, 6));
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)));
  }
  return (base - offsetMinutes * 60_000) * 1000 + fracMicros;
}

/**
 * Epoch numbers arrive in seconds from some senders and milliseconds from others
 * (Zoom's x-zm-request-timestamp: "1700000000" or "1700000000000"). Anything below 10^11
 * is taken as seconds (10^11 s is the year 5138; 10^11 ms is 1973).
 */
export function epochToMicros(value: number): Micros {
  return value < 1e11 ? Math.round(value * 1_000_000) : Math.round(value * 1000);
}

/** The UTC calendar date (YYYY-MM-DD) of a timestamp: the Parquet partition. */
export function utcDate(micros: Micros): string {
  return new Date(Math.floor(micros / 1000)).toISOString().slice(0, 10);
}
