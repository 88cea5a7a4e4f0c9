/**
 * Kafka mode's RawSink: publish with acks=all, and when Kafka has not acknowledged within
 * `ackTimeoutMs` (about a second), append to the fsync'd local spool and acknowledge anyway.
 * While anything is spooled, new deliveries join the spool behind it so the drainer
 * republishes them in arrival order. Only when the spool cannot take a delivery either does
 * the ingest answer 503. A delivery larger than its topic takes (max.message.bytes, read at start)
 * is refused with 413 before it can reach the log or the spool, backlog or not: the spool would
 * never get it out again.
 */
import type { RawWebhook } from '../lib/canonical.js';
import { isSessionflowError, SessionflowError } from '../lib/errors.js';
import type { AvroCodec, Serializer } from '../lib/avro.js';
import type { Logger } from '../lib/logger.js';
import { messageBytes, type Log } from '../lib/log/types.js';
import { retry } from '../lib/retry.js';
import { valueSubject, type Topics } from '../lib/topics.js';
import type { RawSink } from './raw-sink.js';
import type { Spool, SpoolRecord } from './spool.js';

export interface SpoolingSinkOptions {
  ackTimeoutMs?: number;
  /** Records republished per batch at most, and their bytes at most (the batch is held in memory). */
  drainBatch?: number;
  drainBatchBytes?: number;
  onSpooled?: (count: number) => void;
}

export interface SpoolingSink extends RawSink {
  /** Records waiting in the spool. */
  readonly spooled: number;
  /** Stops the drainer after its batch in hand (what is left stays in the spool for the next start). */
  close(): Promise<void>;
}

/** Kafka has not acknowledged in time: the log is unavailable for now (the write goes to the spool, a drain retries). */
class AckTimeout extends SessionflowError {
  constructor(ms: number) {
    super('LOG_UNAVAILABLE', `no acknowledgement within ${ms} ms`);
  }
}

export async function createSpoolingSink(
  log: Log,
  codec: AvroCodec,
  topics: Topics,
  spool: Spool,
  logger: Logger,
  options: SpoolingSinkOptions = {},
): Promise<SpoolingSink> {
  const ackTimeoutMs = options.ackTimeoutMs ?? 1000;
  const drainBatch = options.drainBatch ?? 500;
  const drainBatchBytes = options.drainBatchBytes ?? 4 * 1024 * 1024;
  // A publish that hangs (broker gone mid-request) is given up on and retried.
  const drainTimeoutMs = Math.max(5000, ackTimeoutMs * 5);
  const serializers = new Map<string, Serializer<RawWebhook>>();
  const limits = new Map<string, number | undefined>();
  for (const topic of topics.allRaw) {
    serializers.set(topic, await codec.serializer<RawWebhook>(valueSubject(topic), 'RawWebhook'));
    limits.set(topic, await log.messageLimit?.(topic));
  }
  const abort = new AbortController();
  let draining: Promise<void> | undefined;

  const drain = (): void => {
    draining ??= (async () => {
      try {
        while (spool.pending > 0 && !abort.signal.aborted) {
          const { records, next } = await spool.peek(drainBatch, drainBatchBytes);
          try {
            await republish(records);
          } catch (err) {
            if (!isSessionflowError(err, 'BODY_TOO_LARGE')) throw err;
            // One of them is larger than its topic takes (spooled before this check existed, or
            // the topic was altered since): publish them one by one and set the oversized aside
            // on disk (counted), so it neither blocks the spool nor is lost.
            for (const record of records) {
              await republish([record]).catch(async (one: unknown) => {
                if (!isSessionflowError(one, 'BODY_TOO_LARGE')) throw one;
                await spool.setAside('too_large', record.value, { topic: record.topic });
              });
            }
          }
          await spool.ack(next, records.length);
          logger.info({ published: records.length, spooled: spool.pending }, 'spool drain: republished');
        }
      } catch (err) {
        if (!abort.signal.aborted) logger.error({ err }, 'spool drain stopped');
      } finally {
        draining = undefined;
        if (spool.pending > 0 && !abort.signal.aborted) setTimeout(drain, 1000).unref();
      }
    })();
  };

  // Retried while the log is unavailable; a BODY_TOO_LARGE (not retriable) is thrown at once.
  const republish = (records: SpoolRecord[]) =>
    retry(() => withTimeout(publishInOrder(log, records), drainTimeoutMs), {
      initialMs: 200,
      maxMs: 5000,
      signal: abort.signal,
      onRetry: (err, attempt, delayMs) =>
        logger.warn(
          { err: String(err), attempt, delayMs, spooled: spool.pending },
          'spool drain: Kafka not ready, retrying',
        ),
    });

  const toSpool = async (record: SpoolRecord): Promise<void> => {
    await spool.append([record]);
    options.onSpooled?.(1);
    drain();
  };

  if (spool.pending > 0) {
    logger.warn({ spooled: spool.pending }, 'spool holds deliveries from before the start; republishing');
    drain();
  }

  return {
    get spooled() {
      return spool.pending;
    },
    async write(raw, sessionKey) {
      const topic = topics.raw(raw.provider);
      const serializer = serializers.get(topic);
      if (!serializer) throw new SessionflowError('INTERNAL', `no raw topic for provider ${raw.provider}`);
      const record: SpoolRecord = {
        topic,
        key: sessionKey ? Buffer.from(sessionKey) : null,
        value: serializer.encode(raw),
      };
      const limit = limits.get(topic);
      if (limit !== undefined && messageBytes(record) > limit)
        throw new SessionflowError(
          'BODY_TOO_LARGE',
          `${messageBytes(record)} bytes with its envelope; ${topic} takes ${limit}`,
        );
      if (spool.pending > 0 || draining) return toSpool(record);
      try {
        await withTimeout(log.publish(topic, [{ key: record.key, value: record.value }]), ackTimeoutMs);
      } catch (err) {
        // Larger than the topic takes after all (altered since the start): spooling it would only block the spool. The ingest answers 413.
        if (isSessionflowError(err, 'BODY_TOO_LARGE')) throw err;
        // Not acknowledged in time (or refused): the spool makes it durable; if the publish
        // still lands later, the warehouse collapses the copy on its ingest_id.
        if (!(err instanceof AckTimeout)) logger.warn({ err: String(err) }, 'publish failed; spooling');
        await toSpool(record);
      }
    },
    async close() {
      abort.abort();
      await draining;
    },
  };
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  work.catch(() => undefined); // a late failure after the timeout is nobody's to handle
  return Promise.race([
    work,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new AckTimeout(ms)), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** Publishes a run of spooled records keeping their order (consecutive records of one topic go together). */
async function publishInOrder(log: Log, records: SpoolRecord[]): Promise<void> {
  let start = 0;
  while (start < records.length) {
    const topic = records[start]!.topic;
    let end = start;
    while (end < records.length && records[end]!.topic === topic) end++;
    await log.publish(
      topic,
      records.slice(start, end).map((r) => ({ key: r.key, value: r.value })),
    );
    start = end;
  }
}
