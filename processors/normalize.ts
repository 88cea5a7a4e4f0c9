/**
 * normalize: raw.<provider>.v1 (RawWebhook) → events.v1 (SessionEvent) and deadletter.v1
 * (DeadLetter). A consumer group, so any number of instances share the raw partitions. No input
 * stops it: whatever cannot be read becomes a dead letter with its code; only the log failing
 * stops it.
 */
import type { DeadLetter, RawWebhook, SessionEvent } from '../lib/canonical.js';
import { ERRORS, isSessionflowError } from '../lib/errors.js';
import type { SessionNames } from '../lib/ids.js';
import { loadSchema, type AvroCodec, type Deserializer, type Serializer } from '../lib/avro.js';
import type { Logger } from '../lib/logger.js';
import { providerLabel, type Metrics } from '../lib/metrics.js';
import type { Consumer, Log, LogRecord, OutgoingMessage } from '../lib/log/types.js';
import { retry } from '../lib/retry.js';
import { nowMicros } from '../lib/time.js';
import { EVENT_MAX_BYTES, valueSubject, type Topics } from '../lib/topics.js';
import { adapterFor } from './adapters/index.js';
import type { NormalizeFailure, NormalizeResult } from './adapters/types.js';

/** The normalizers' consumer group under the default topic prefix (see Topics.group). */
export const NORMALIZE_GROUP = 'sessionflow-normalize';

export interface NormalizerDeps {
  log: Log;
  codec: AvroCodec;
  topics: Topics;
  piiKey: string;
  /** SESSION_NAMES (Config.sessionNames). */
  sessionNames: SessionNames;
  /** ZOOM_HOST_PATTERN (Config.zoomHostPattern). */
  zoomHostPattern?: RegExp;
  logger: Logger;
  metrics: Metrics;
}

/** How events are made beyond the PII key; each option absent takes its setting's default. */
export interface NormalizeOptions {
  /** SESSION_NAMES: what becomes of free-text session names (Zoom's); default `hash`. */
  sessionNames?: SessionNames;
  /** ZOOM_HOST_PATTERN: Zoom users whose user_key or name matches are hosts; none by default. */
  zoomHostPattern?: RegExp;
}

/** Normalizes one RawWebhook with its provider's adapter; an adapter that throws is a dead letter, not a crash. */
export function normalizeRaw(raw: RawWebhook, piiKey: string, options: NormalizeOptions = {}): NormalizeResult {
  const adapter = adapterFor(raw.provider);
  if (!adapter) {
    return {
      events: [],
      failures: [
        { code: 'UNKNOWN_PROVIDER', message: `no adapter for ${raw.provider}`, field_path: null, provider_type: null },
      ],
    };
  }
  try {
    return adapter.normalize(raw, { piiKey, ...options });
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

/**
 * A failure as a dead letter. Message and field path are cut to a bounded length: a path is
 * built from the body's own keys, and a dead letter must always fit its topic.
 */
export function deadLetterOf(
  raw: Pick<RawWebhook, 'ingest_id' | 'provider' | 'received_at'>,
  failure: NormalizeResult['failures'][number],
  stage: DeadLetter['stage'] = 'normalize',
): DeadLetter {
  return {
    ingest_id: clip(raw.ingest_id, 200),
    provider: clip(raw.provider, 100),
    stage,
    error_code: failure.code,
    message: clip(failure.message, 1000),
    field_path: failure.field_path === null ? null : clip(failure.field_path, 500),
    provider_type: failure.provider_type === null ? null : clip(failure.provider_type, 200),
    received_at: raw.received_at,
    failed_at: nowMicros(),
  };
}

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** Where a record came from, as an id for dead letters whose envelope could not be read. */
export const recordRef = (record: LogRecord) => `${record.topic}:${record.partition}:${record.offset}`;

/**
 * Publishes for a stage, retrying while the failure is retriable (the log unavailable: a broker
 * restarting, a leader election) until it works or `signal` aborts: a stage rides out a Kafka
 * outage instead of stopping its process (with `run`, the ingest with it). Other errors are thrown at once.
 */
export function publishRetrying(
  log: Log,
  topic: string,
  messages: OutgoingMessage[],
  signal: AbortSignal,
  logger: Logger,
): Promise<void> {
  return retry(() => log.publish(topic, messages), {
    initialMs: 200,
    maxMs: 5000,
    signal,
    onRetry: (err, attempt, delayMs) =>
      logger.warn({ err: String(err), topic, attempt, delayMs }, 'publish failed; the log is unavailable, retrying'),
  });
}

export async function startNormalizer(deps: NormalizerDeps): Promise<Consumer> {
  const { log, codec, topics, piiKey, sessionNames, zoomHostPattern, logger, metrics } = deps;
  const stopping = new AbortController();
  const rawReader = codec.deserializer<RawWebhook>('RawWebhook');
  const eventWriter = await codec.serializer<SessionEvent>(valueSubject(topics.events), 'SessionEvent');
  const deadWriter = await codec.serializer<DeadLetter>(valueSubject(topics.deadLetters), 'DeadLetter');
  const encodeEvent = eventEncoder(eventWriter);
  const publish = (topic: string, messages: OutgoingMessage[]) =>
    publishRetrying(log, topic, messages, stopping.signal, logger);
  const letter = (dead: DeadLetter): OutgoingMessage => ({
    key: Buffer.from(dead.ingest_id),
    value: deadWriter.encode(dead),
  });

  const consumer = await log.consume({
    group: topics.group('normalize'),
    topics: [...topics.allRaw],
    eachBatch: async (batch) => {
      // Each record on its own: whatever one record does wrong becomes its dead letter, and the
      // rest of the batch goes on. Only the log failing leaves this handler with an error.
      const events: Array<{ message: OutgoingMessage; raw: RawWebhook }> = [];
      const deadLetters: OutgoingMessage[] = [];
      for (const record of batch.records) {
        const raw = await decodeRaw(rawReader, record);
        if (!isRaw(raw)) {
          deadLetters.push(letter(raw));
          metrics.normalized.inc({ provider: providerLabel(raw.provider), outcome: 'dead_letter' });
          continue;
        }
        const result = normalizeRaw(raw, piiKey, { sessionNames, zoomHostPattern });
        const failures = [...result.failures];
        for (const event of result.events) {
          const encoded = encodeEvent(event);
          if ('failure' in encoded) {
            failures.push(encoded.failure);
            continue;
          }
          events.push({ message: encoded.message, raw });
          metrics.canonicalEvents.inc({ provider: providerLabel(raw.provider), type: event.type });
        }
        for (const failure of failures) deadLetters.push(letter(deadLetterOf(raw, failure)));
        const outcome = failures.length > 0 ? 'dead_letter' : result.events.length > 0 ? 'events' : 'empty';
        metrics.normalized.inc({ provider: providerLabel(raw.provider), outcome });
      }
      // Dead letters first: a crash between the publishes redelivers the batch, and the
      // warehouse collapses what it already has.
      if (deadLetters.length > 0) await publish(topics.deadLetters, deadLetters);
      const refused = await publishEach(events, (messages) => publish(topics.events, messages));
      if (refused.length > 0) {
        await publish(
          topics.deadLetters,
          refused.map(({ raw }) =>
            letter(
              deadLetterOf(raw, {
                code: 'EVENT_TOO_LARGE',
                message: ERRORS.EVENT_TOO_LARGE.message,
                field_path: null,
                provider_type: null,
              }),
            ),
          ),
        );
      }
      logger.debug(
        {
          topic: batch.topic,
          partition: batch.partition,
          records: batch.records.length,
          events: events.length,
          deadLetters: deadLetters.length + refused.length,
        },
        'normalized batch',
      );
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

/**
 * A raw record's envelope, or the dead letter of one that can never be read: not Avro in our
 * wire format, or naming a schema id the registry does not have. A registry that does not
 * answer (LOG_UNAVAILABLE) is thrown: that is the infrastructure, and the batch is retried.
 */
async function decodeRaw(reader: Deserializer<RawWebhook>, record: LogRecord): Promise<RawWebhook | DeadLetter> {
  try {
    return await reader.decode(record.value);
  } catch (err) {
    if (!isSessionflowError(err, 'ENVELOPE_UNREADABLE') && !isSessionflowError(err, 'SCHEMA_NOT_FOUND')) throw err;
    const provider = /raw\.([^.]+)\.v1$/.exec(record.topic)?.[1] ?? 'unknown';
    const failure = { code: err.code, message: err.message, field_path: null, provider_type: null };
    return deadLetterOf(
      { ingest_id: recordRef(record), provider, received_at: record.timestamp * 1000 },
      failure,
      'decode',
    );
  }
}

const isRaw = (value: RawWebhook | DeadLetter): value is RawWebhook => 'body' in value;

/**
 * Encodes an event for events.v1, or says why it cannot be: a value the SessionEvent schema
 * does not take (EVENT_INVALID, naming the field), or a message larger than the topic takes
 * (EVENT_TOO_LARGE). Adapters check what they read, so this is the last guard, not the first.
 */
function eventEncoder(
  writer: Serializer<SessionEvent>,
): (event: SessionEvent) => { message: OutgoingMessage } | { failure: NormalizeFailure } {
  const type = loadSchema('SessionEvent').type;
  return (event) => {
    const key = event.session_key ? Buffer.from(event.session_key) : null;
    let value: Buffer;
    try {
      value = writer.encode(event);
    } catch {
      let path: string | null = null;
      type.isValid(event, { errorHook: (at) => (path ??= at.join('.')) });
      return {
        failure: {
          code: 'EVENT_INVALID',
          message: `${ERRORS.EVENT_INVALID.message}: ${path ?? 'the record'}`,
          field_path: path,
          provider_type: event.provider_type,
        },
      };
    }
    if (value.length + (key?.length ?? 0) > EVENT_MAX_BYTES - 1024) {
      return {
        failure: {
          code: 'EVENT_TOO_LARGE',
          message: `${ERRORS.EVENT_TOO_LARGE.message}: ${value.length} bytes`,
          field_path: null,
          provider_type: event.provider_type,
        },
      };
    }
    return { message: { key, value } };
  };
}

/**
 * Publishes all at once. When the log refuses them as too large together (one Kafka record batch
 * over the topic's max.message.bytes: an Apizee survey with tens of thousands of answers is as
 * many events on one session key), publishes each half on its own, down to single messages, and
 * returns those refused alone for the caller to dead-letter. Any other error is thrown.
 */
export async function publishEach<T extends { message: OutgoingMessage }>(
  items: T[],
  publish: (messages: OutgoingMessage[]) => Promise<void>,
): Promise<T[]> {
  if (items.length === 0) return [];
  try {
    await publish(items.map((item) => item.message));
    return [];
  } catch (err) {
    if (!isSessionflowError(err, 'BODY_TOO_LARGE')) throw err;
    if (items.length === 1) return items;
  }
  const half = Math.ceil(items.length / 2);
  return [...(await publishEach(items.slice(0, half), publish)), ...(await publishEach(items.slice(half), publish))];
}
