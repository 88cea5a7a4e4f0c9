import { newUlid } from '../lib/ids.js';
import type { RawSource, RawWebhook } from '../lib/canonical.js';
import { KEPT_HEADERS } from '../lib/headers.js';
import type { Micros } from '../lib/time.js';

/** The allow-listed headers of a request (lib/headers.ts), for the raw archive. */
export function keptHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && KEPT_HEADERS.has(name)) kept[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return kept;
}

export function wrap(input: {
  provider: string;
  source: RawSource;
  receivedAt: Micros;
  dedupKey: string | null;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}): RawWebhook {
  const contentType = input.headers['content-type'];
  return {
    ingest_id: newUlid(Math.floor(input.receivedAt / 1000)),
    provider: input.provider,
    received_at: input.receivedAt,
    source: input.source,
    dedup_key: input.dedupKey,
    headers: keptHeaders(input.headers),
    content_type: (Array.isArray(contentType) ? contentType[0] : contentType) ?? null,
    body: input.body,
  };
}
