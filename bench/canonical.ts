/**
 * A delivery as the product stores it, without the HTTP hop and the log: the provider's receiver
 * verifies it and derives its dedup key (ingest/providers), `wrap` makes the RawWebhook envelope
 * (ingest/envelope.ts), the provider's adapter makes the canonical events (processors/normalize).
 * The bulk loader and the DuckDB baseline use it, so their rows are the product's own rows.
 */
import type { RawWebhook, SessionEvent } from '../lib/canonical.js';
import type { Micros } from '../lib/time.js';
import { wrap } from '../ingest/envelope.js';
import { createApizeeReceiver } from '../ingest/providers/apizee.js';
import { createMluviiReceiver } from '../ingest/providers/mluvii.js';
import type { Receiver } from '../ingest/providers/types.js';
import { createZoomReceiver } from '../ingest/providers/zoom.js';
import { normalizeRaw, type NormalizeOptions } from '../processors/normalize.js';
import { headersFor, type Credentials, type Provider } from './stream.js';

export interface Canonicalizer {
  /** The envelope and the events of `body` as if it was received at `receivedAt`. */
  toRows(
    provider: Provider,
    body: string,
    receivedAt: Micros,
  ): { raw: RawWebhook; events: SessionEvent[]; failures: number };
}

/** `options` as the product under test is configured (its defaults unless the bench sets them). */
export function createCanonicalizer(
  credentials: Credentials,
  piiKey: string,
  options: NormalizeOptions = {},
): Canonicalizer {
  const receivers: Record<Provider, Receiver> = {
    zoom: createZoomReceiver([credentials.zoomSecret]),
    apizee: createApizeeReceiver([credentials.apizeeSecret]),
    mluvii: createMluviiReceiver({ user: credentials.mluviiUser, passwords: [credentials.mluviiPassword] }),
  };
  return {
    toRows(provider, body, receivedAt) {
      const bytes = Buffer.from(body);
      const headers = headersFor(provider, body, credentials, Math.floor(receivedAt / 1000));
      const verified = receivers[provider].verify({ headers, body: bytes }, receivedAt);
      const raw = wrap({ provider, source: 'webhook', receivedAt, dedupKey: verified.dedupKey, headers, body: bytes });
      const { events, failures } = normalizeRaw(raw, piiKey, options);
      return { raw, events, failures: failures.length };
    },
  };
}
