/**
 * Dead letters (DeadLetter, deadletter.v1 and the dead_letters table): what a stage could not make
 * sense of, with its error code, kept instead of stopping the stage. Every stage builds them here:
 * normalize (an adapter's failures, a raw envelope that cannot be read), the warehouse (a record
 * of its topics that cannot be read, a fold that throws) and replay.
 */
import type { DeadLetter, DeadLetterStage } from '../lib/canonical.js';
import type { ErrorCode } from '../lib/errors.js';
import { tpKey, type LogRecord } from '../lib/log/types.js';
import { nowMicros, type Micros } from '../lib/time.js';
import type { NormalizeFailure } from './adapters/types.js';

/**
 * A failure as a dead letter. Message and field path are cut to a bounded length: a path is
 * built from the body's own keys, and a dead letter must always fit its topic.
 */
export function deadLetterOf(
  delivery: Pick<DeadLetter, 'ingest_id' | 'provider' | 'received_at'>,
  failure: NormalizeFailure,
  stage: DeadLetterStage = 'normalize',
  failedAt: Micros = nowMicros(),
): DeadLetter {
  return {
    ingest_id: clip(delivery.ingest_id, 200),
    provider: clip(delivery.provider, 100),
    stage,
    error_code: failure.code,
    message: clip(failure.message, 1000),
    field_path: failure.field_path === null ? null : clip(failure.field_path, 500),
    provider_type: failure.provider_type === null ? null : clip(failure.provider_type, 200),
    received_at: delivery.received_at,
    failed_at: failedAt,
  };
}

/**
 * The dead letter of a log record that can never be read (not Avro in our wire format, or a
 * schema id the registry does not have): its envelope is unknown, so it is named by where it
 * lies in the log (`topic:partition:offset`) and dated by when the log took it.
 */
export function unreadableRecord(
  record: LogRecord,
  error: { code: ErrorCode; message: string },
  stage: DeadLetterStage,
  provider = 'unknown',
): DeadLetter {
  return deadLetterOf(
    {
      ingest_id: `${tpKey(record.topic, record.partition)}:${record.offset}`,
      provider,
      received_at: record.timestamp * 1000,
    },
    { code: error.code, message: error.message, field_path: null, provider_type: null },
    stage,
  );
}

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
