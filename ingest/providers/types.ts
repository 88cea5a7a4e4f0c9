import type { Micros } from '../../lib/time.js';

export interface IncomingRequest {
  /** Lower-case header names, as Node gives them. */
  headers: Record<string, string | string[] | undefined>;
  /** The raw body, byte for byte. */
  body: Buffer;
}

export interface Verified {
  /** Answer this instead of storing the request (Zoom's endpoint.url_validation). */
  reply?: object;
  /** Provider-derived key shared by every delivery of the same provider event (DESIGN section 4). */
  dedupKey: string | null;
  /** Kafka message key when cheaply known (`zoom:<session_id>`), for per-session ordering. */
  sessionKey: string | null;
}

/**
 * The edge of one provider: checks that a request is authentic and reads just enough of it for
 * the dedup key and the message key. Throws SessionflowError (with its HTTP status) when the
 * request must be refused. It never interprets the provider's semantics beyond that.
 */
export interface Receiver {
  readonly provider: string;
  verify(request: IncomingRequest, now: Micros): Verified;
}

export function header(request: IncomingRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The body read by `parse` (JSON.parse unless the provider's bodies need more, lib/lenient-json.ts),
 * undefined instead of an error: the raw archive keeps unreadable bodies.
 */
export function tryParseJson(body: Buffer, parse: (text: string) => unknown = JSON.parse): unknown {
  try {
    return parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
