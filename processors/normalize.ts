/**
 * normalize: raw.<provider>.v1 (RawWebhook) → events.v1 (SessionEvent) and deadletter.v1
 * (DeadLetter). A consumer group, so any number of instances share the raw partitions. No input
 * stops it: whatever cannot be read becomes a dead letter with its code; only the log failing
 * stops it.
 */
import type { DeadLetter, RawWebhook, SessionEvent } from '../lib/canonical.js';
import { isSessionflowError } from '../lib/errors.js';
import type { AvroCodec } from '../lib/avro.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import type { Consumer, Log, LogRecord, OutgoingMessage } from '../lib/log/types.js';
import { bail, retry } from '../lib/retry.js';
import { nowMicros } from '../lib/time.js';
import { valueSubject, type Topics } from '../lib/topics.js';
import { adapterFor } from './adapters/index.js';
import type { NormalizeResult } from './adapters/types.js';

/** The normalizers' consumer group under the default topic prefix (see Topics.group). */
export const NORMALIZE_GROUP = 'sessionflow-normalize';

export interface NormalizerDeps {
  log: Log;
  codec: AvroCodec;
  topics: Topics;
  piiKey: string;
  logger: Logger;
  metrics: Metrics;
}

/** Normalizes one RawWebhook with its provider's adapter; an adapter that throws is a dead letter, not a crash. */
export function normalizeRaw(raw: RawWebhook, piiKey: string): NormalizeResult {
  const adapter = adapterFor(raw.provider);
  if (!adapter) {
    return { events: [], failures: [{ code: 'UNKNOWN_PROVIDER', message: `no adapter for ${raw.provider}`, field_path: null, provider_type: null }] };
  }
  try {
    return adapter.normalize(raw, { piiKey });
  } catch (err) {
    return {
      events: [],
      failures: [
        {
          code: isSessionflowError(err) ? err.code : 'BODY_SHAPE',
          message: err instanceof Error ? err.message : String(err),
          field_path: isSessionflowError(err) ? (err.fieldPath ?? null) : null,
          provider_type: null,
        },
      ],
    };
  }
}

export function deadLetterOf(raw: Pick<RawWebhook, 'ingest_id' | 'provider' | 'received_at'>, failure: NormalizeResult['failures'][number], stage: DeadLetter['stage'] = 'normalize'): DeadLetter {
  return {
    ingest_id: raw.ingest_id,
    provider: raw.provider,
    stage,
    error_code: failure.code,
    message: failure.message,
    field_path: failure.field_path,
    provider_type: failure.provider_type,
    received_at: raw.received_at,
    failed_at: nowMicros(),
  };
}

/** Where a record came from, as an id for dead letters whose envelope could not be read. */
export const recordRef = (record: LogRecord) => `${record.topic}:${record.partition}:${record.offset}`;

/**
 * Publishes for a stage, retrying while the log is unavailable (a broker restarting, a leader
 * election) until it works or `signal` aborts: a stage rides out a Kafka outage instead of
 * stopping its process (with `run`, the ingest with it). Other errors are thrown at once.
 */
export function publishRetrying(log: Log, topic: string, messages: OutgoingMessage[], signal: AbortSignal, logger: Logger): Promise<void> {
  return retry(
    async () => {
      try {
        await log.publish(topic, messages);
      } catch (err) {
        if (!isSessionflowError(err, 'LOG_UNAVAILABLE') || signal.aborted) bail(err);
        throw err;
      }
    },
    {
      initialMs: 200,
      maxMs: 5000,
      signal,
      onRetry: (err, attempt, delayMs) => logger.warn({ err: String(err), topic, attempt, delayMs }, 'publish failed; the log is unavailable, retrying'),
    },
  );
}

export async function startNormalizer(deps: NormalizerDeps): Promise<Consumer> {
  const { log, codec, topics, piiKey, logger, metrics } = deps;
  const stopping = new AbortController();
  const rawReader = codec.deserializer<RawWebhook>('RawWebhook');
  const eventWriter = await codec.serializer<SessionEvent>(valueSubject(topics.events), 'SessionEvent');
  const deadWriter = await codec.serializer<DeadLetter>(valueSubject(topics.deadLetters), 'DeadLetter');

  const consumer = await log.consume({
    group: topics.group('normalize'),
    topics: [...topics.allRaw],
    eachBatch: async (batch) => {
      const events: OutgoingMessage[] = [];
      const deadLetters: OutgoingMessage[] = [];
      for (const record of batch.records) {
        let raw: RawWebhook;
        try {
          raw = await rawReader.decode(record.value);
        } catch (err) {
          if (!isSessionflowError(err, 'ENVELOPE_UNREADABLE')) throw err;
          const provider = /raw\.([^.]+)\.v1$/.exec(record.topic)?.[1] ?? 'unknown';
          const failure = { code: err.code, message: err.message, field_path: null, provider_type: null };
          const letter = deadLetterOf({ ingest_id: recordRef(record), provider, received_at: record.timestamp * 1000 }, failure, 'decode');
          deadLetters.push({ key: Buffer.from(letter.ingest_id), value: deadWriter.encode(letter) });
          metrics.normalized.inc({ provider, outcome: 'dead_letter' });
          continue;
        }
        const result = normalizeRaw(raw, piiKey);
        for (const event of result.events) {
          events.push({ key: event.session_key ? Buffer.from(event.session_key) : null, value: eventWriter.encode(event) });
          metrics.canonicalEvents.inc({ provider: raw.provider, type: event.type });
        }
        for (const failure of result.failures) {
          deadLetters.push({ key: Buffer.from(raw.ingest_id), value: deadWriter.encode(deadLetterOf(raw, failure)) });
        }
        const outcome = result.failures.length > 0 ? 'dead_letter' : result.events.length > 0 ? 'events' : 'empty';
        metrics.normalized.inc({ provider: raw.provider, outcome });
      }
      // Dead letters first: a crash between the two publishes redelivers the batch, and the
      // warehouse collapses what it already has.
      if (deadLetters.length > 0) await publishRetrying(log, topics.deadLetters, deadLetters, stopping.signal, logger);
      if (events.length > 0) await publishRetrying(log, topics.events, events, stopping.signal, logger);
      logger.debug({ topic: batch.topic, partition: batch.partition, records: batch.records.length, events: events.length, deadLetters: deadLetters.length }, 'normalized batch');
    },
  });
  return {
    done: consumer.done,
    // A publish still retrying gives up, so the batch in hand ends (uncommitted) and the consumer stops.
    stop: () => {
      stopping.abort(new Error('the normalizer is stopping'));
      return consumer.stop();
    },
  };
}
