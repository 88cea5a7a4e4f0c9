/**
 * Reading single values out of a parsed provider body, as the ingest (dedup and message keys)
 * and the adapters (canonical events) both do. The two must read a value the same way: a
 * delivery's message key `apizee:361` and its events' session_key are one reading of one field.
 */

/** A JSON object: not null, not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Blank means absent. Providers send an empty string for what they do not have:
 *   Zoom      "recording_file": { "recording_start": "2024-05-02T14:03:00Z", "recording_end": "" }
 *   Apizee    "requestor": { "email": "contact@flegoff.fr", "phone": "", "firstname": "" }
 *   Jifeline  "state": "" or "  "
 * Null for a blank or absent string, else the string trimmed.
 */
export function blankToNull(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const text = value.trim();
  return text === '' ? null : text;
}

/** A string or a number as text (a key part); null for anything else. */
export function scalar(value: unknown): string | null {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : null;
}

/**
 * An id as text, whether sent as a JSON number or a string: Apizee's ids are numbers in the
 * webhook ("objectId": 1266, "ticketId": 361) and path strings in the REST API
 * (/api/v3/tickets/{ticketId}/events); both read "361". Blank, a number that is not finite, and
 * anything else are absent.
 */
export function idText(value: unknown): string | null {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : null;
  return typeof value === 'string' ? blankToNull(value) : null;
}
