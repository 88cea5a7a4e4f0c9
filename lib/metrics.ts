import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PROVIDERS, type Provider } from './canonical.js';

/**
 * A provider as a metric label: one of the closed list, else `unknown`. A label taken from a
 * request path or a message as it is would let anyone add series without limit.
 */
export function providerLabel(provider: string | undefined): Provider | 'unknown' {
  return (PROVIDERS as readonly string[]).includes(provider ?? '') ? (provider as Provider) : 'unknown';
}

/** Prometheus metrics of one process, served at GET /metrics. A registry per instance, never global. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sessionflow_' });
  return {
    registry,
    ingestRequests: new Counter({
      name: 'sessionflow_ingest_requests_total',
      help: 'Webhook requests by provider and answer status',
      labelNames: ['provider', 'status'] as const,
      registers: [registry],
    }),
    ingestRejected: new Counter({
      name: 'sessionflow_ingest_rejected_total',
      help: 'Webhook requests refused, by provider and error code (AUTH_INVALID, TIMESTAMP_STALE, BODY_TOO_LARGE, ...)',
      labelNames: ['provider', 'code'] as const,
      registers: [registry],
    }),
    ingestAckSeconds: new Histogram({
      name: 'sessionflow_ingest_ack_seconds',
      help: 'Time from request to durable write of the RawWebhook',
      labelNames: ['provider'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    ingestSpooled: new Counter({
      name: 'sessionflow_ingest_spooled_total',
      help: 'Deliveries written to the local spool because Kafka did not acknowledge in time',
      registers: [registry],
    }),
    spoolSetAside: new Counter({
      name: 'sessionflow_spool_set_aside_total',
      help:
        'Stretches of the spool set aside to a file of their own instead of being republished, by reason ' +
        '(bad_frame: a CRC or length that does not check out; ' +
        'torn_tail: bytes at the end that are not a whole frame; too_large: a delivery larger than its topic takes)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    normalized: new Counter({
      name: 'sessionflow_normalize_records_total',
      help: 'Raw deliveries normalized, by provider and outcome (events, dead_letter, empty)',
      labelNames: ['provider', 'outcome'] as const,
      registers: [registry],
    }),
    canonicalEvents: new Counter({
      name: 'sessionflow_canonical_events_total',
      help: 'Canonical events produced, by provider and type (provider.other counts unknown provider types)',
      labelNames: ['provider', 'type'] as const,
      registers: [registry],
    }),
    warehouseBatches: new Counter({
      name: 'sessionflow_warehouse_batches_total',
      help: 'Batches committed to the warehouse',
      registers: [registry],
    }),
    warehouseRows: new Counter({
      name: 'sessionflow_warehouse_rows_total',
      help: 'Rows written to the warehouse by table (duplicates not counted)',
      labelNames: ['table'] as const,
      registers: [registry],
    }),
    warehouseDuplicates: new Counter({
      name: 'sessionflow_warehouse_duplicate_events_total',
      help: 'Canonical events that were already in the warehouse (redeliveries, replays)',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
