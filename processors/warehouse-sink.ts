/**
 * The warehouse stage: consumes the raw archive, canonical events and dead letters, writes them
 * to DuckDB with the facts of every touched session, their keys in the facts outbox and the
 * offsets in one transaction; then the outbox is published to facts.v1 (facts-publisher.ts).
 * Offsets live in DuckDB and are sought on assignment, so whatever the log's group position
 * says, a restart resumes exactly after the last commit.
 */
import type { DeadLetter, RawWebhook, SessionEvent, SessionFact } from '../lib/canonical.js';
import type { AvroCodec, Deserializer } from '../lib/avro.js';
import { isSessionflowError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import type { Consumer, Log, LogRecord, MessageBatch } from '../lib/log/types.js';
import { nowMicros } from '../lib/time.js';
import { valueSubject, type Topics } from '../lib/topics.js';
import { createFactsPublisher } from './facts-publisher.js';
import { recordRef } from './normalize.js';
import type { Warehouse, WarehouseBatch } from './warehouse/index.js';

/** The warehouse writers' consumer group under the default topic prefix (see Topics.group). */
export const WAREHOUSE_GROUP = 'sessionflow-warehouse';

export interface WarehouseSinkDeps {
  log: Log;
  codec: AvroCodec;
  topics: Topics;
  warehouse: Warehouse;
  logger: Logger;
  metrics: Metrics;
  /** Flush at most this long after the first record of a batch arrived. */
  lingerMs?: number;
  /** Flush as soon as this many records are waiting. */
  maxRecords?: number;
  /** How long stop() waits for the log to acknowledge the last facts (the rest stays in the outbox). */
  factsGraceMs?: number;
}

export interface WarehouseSink {
  readonly consumer: Consumer;
  /**
   * Stops consuming, finishes and commits the batch being written (what is buffered behind it is
   * read again at the next start), and publishes the outbox for a short while.
   */
  stop(): Promise<void>;
  /**
   * Folds again the sessions the clock has made `abandoned` (Warehouse.sweepIdle), a chunk at a
   * time between batches, and publishes their facts (through the outbox); a failure is logged and
   * left to the next sweep.
   */
  sweep(): Promise<void>;
  /** Settles when the sink stops; rejects when a write failed. */
  readonly done: Promise<void>;
}

export async function startWarehouseSink(deps: WarehouseSinkDeps): Promise<WarehouseSink> {
  const { log, codec, topics, warehouse, logger, metrics } = deps;
  const lingerMs = deps.lingerMs ?? 100;
  const maxRecords = deps.maxRecords ?? 2000;
  const readers = {
    raw: codec.deserializer<RawWebhook>('RawWebhook'),
    event: codec.deserializer<SessionEvent>('SessionEvent'),
    dead: codec.deserializer<DeadLetter>('DeadLetter'),
  };
  const factWriter = await codec.serializer<SessionFact>(valueSubject(topics.facts), 'SessionFact');
  const publisher = createFactsPublisher({ log, topic: topics.facts, warehouse, writer: factWriter, logger });
  // What a previous process committed but facts.v1 did not acknowledge goes first.
  publisher.kick();
  const rawTopics = new Set(topics.allRaw);

  let pending = emptyBatch();
  let pendingRecords = 0;
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> = Promise.resolve();
  /** Batches handed to the writer and not finished: the consumer waits while two are (backpressure). */
  let queued = 0;
  let failure: unknown;
  const stopping = new AbortController();
  let failed!: (err: unknown) => void;
  const failedPromise = new Promise<never>((_, reject) => (failed = reject));
  failedPromise.catch(() => undefined);

  const flush = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pendingRecords === 0) return writing;
    const batch = { ...pending, offsets: latestOffsets(pending.offsets) };
    pending = emptyBatch();
    pendingRecords = 0;
    queued += 1;
    writing = writing.then(async () => {
      queued -= 1;
      // Stopping: only the batch in hand is finished. What was not started is not committed, so
      // its offsets are not either: the next start reads it again (offsets live in DuckDB).
      if (failure || stopping.signal.aborted) return;
      try {
        const result = await warehouse.applyBatch(batch);
        metrics.warehouseBatches.inc();
        metrics.warehouseRows.inc({ table: 'session_events' }, result.insertedEvents);
        metrics.warehouseRows.inc({ table: 'raw_webhooks' }, batch.raw.length);
        metrics.warehouseRows.inc({ table: 'dead_letters' }, batch.deadLetters.length);
        metrics.warehouseDuplicates.inc(result.duplicateEvents);
        // Committed with their keys in the outbox: published beside the next batches, never lost.
        if (result.facts.length > 0) publisher.kick();
        logger.debug({ raw: batch.raw.length, events: result.insertedEvents, duplicates: result.duplicateEvents, sessions: result.touchedSessions.length }, 'warehouse batch');
      } catch (err) {
        failure = err;
        logger.error({ err }, 'warehouse batch failed');
        failed(err);
      }
    });
    return writing;
  };

  const sweep = (after?: string): Promise<void> => {
    writing = writing.then(async () => {
      if (failure || stopping.signal.aborted) return;
      try {
        const { facts, next } = await warehouse.sweepIdle({ after });
        if (facts.length > 0) {
          publisher.kick();
          logger.info({ sessions: facts.length }, 'idle sessions folded again');
        }
        if (next !== undefined) void sweep(next); // the next chunk queues behind the batches waiting now
      } catch (err) {
        logger.warn({ err }, 'idle sweep failed; the next one retries');
      }
    });
    return writing;
  };

  const offsetsAtStart = await warehouse.offsets();
  const consumer = await log.consume({
    group: topics.group('warehouse'),
    topics: [...topics.allRaw, topics.events, topics.deadLetters],
    maxBatchSize: maxRecords,
    seek: async (assigned) => {
      const stored = await warehouse.offsets().catch(() => offsetsAtStart);
      const result = new Map<string, number>();
      for (const { topic, partition } of assigned) {
        const key = `${topic}:${partition}`;
        result.set(key, stored.get(key) ?? 0);
      }
      return result;
    },
    eachBatch: async (batch: MessageBatch) => {
      if (failure) throw failure;
      await decodeInto(pending, batch, rawTopics, topics, readers);
      pending.offsets.push({ topic: batch.topic, partition: batch.partition, next_offset: batch.records.at(-1)!.offset + 1 });
      pendingRecords += batch.records.length;
      if (pendingRecords >= maxRecords) await flush();
      else timer ??= setTimeout(() => void flush(), lingerMs);
      // The consumer reads no further ahead than one batch being written and one waiting: a
      // backlog stays in the log, not in this process's memory (nor in what a stop must finish).
      while (queued > 1 && !failure && !stopping.signal.aborted) await writing;
      if (failure) throw failure;
    },
  });

  const done = Promise.race([consumer.done, failedPromise]);
  done.catch(() => undefined);
  return {
    consumer,
    done,
    sweep: () => sweep(),
    async stop() {
      // The batch being written is finished and committed; the records buffered or queued behind
      // it are dropped uncommitted and read again at the next start.
      stopping.abort(new Error('the warehouse sink is stopping'));
      clearTimeout(timer);
      timer = undefined;
      await consumer.stop();
      await writing;
      await publisher.stop(deps.factsGraceMs ?? 3000);
      if (failure) throw failure;
    },
  };
}

/** One row per partition: the furthest offset buffered. */
function latestOffsets(offsets: WarehouseBatch['offsets']): WarehouseBatch['offsets'] {
  const latest = new Map<string, WarehouseBatch['offsets'][number]>();
  for (const o of offsets) {
    const key = `${o.topic}:${o.partition}`;
    if ((latest.get(key)?.next_offset ?? -1) < o.next_offset) latest.set(key, o);
  }
  return [...latest.values()];
}

function emptyBatch(): WarehouseBatch {
  return { raw: [], events: [], deadLetters: [], offsets: [] };
}

async function decodeInto(
  target: WarehouseBatch,
  batch: MessageBatch,
  rawTopics: Set<string>,
  topics: Topics,
  readers: { raw: Deserializer<RawWebhook>; event: Deserializer<SessionEvent>; dead: Deserializer<DeadLetter> },
): Promise<void> {
  for (const record of batch.records) {
    try {
      if (rawTopics.has(batch.topic)) target.raw.push(await readers.raw.decode(record.value));
      else if (batch.topic === topics.events) target.events.push(await readers.event.decode(record.value));
      else if (batch.topic === topics.deadLetters) target.deadLetters.push(await readers.dead.decode(record.value));
    } catch (err) {
      if (!isSessionflowError(err, 'ENVELOPE_UNREADABLE')) throw err;
      target.deadLetters.push(unreadable(record, err.message));
    }
  }
}

/** A message on our own topics that does not decode: kept as a dead letter, never a crash loop. */
function unreadable(record: LogRecord, message: string): DeadLetter {
  return {
    ingest_id: recordRef(record),
    provider: 'unknown',
    stage: 'warehouse',
    error_code: 'ENVELOPE_UNREADABLE',
    message,
    field_path: null,
    provider_type: null,
    received_at: record.timestamp * 1000,
    failed_at: nowMicros(),
  };
}
