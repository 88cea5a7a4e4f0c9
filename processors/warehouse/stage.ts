/**
 * The warehouse stage: consumes the raw archive, canonical events and dead letters, writes them
 * to DuckDB with the facts of every touched session, their keys in the facts outbox and the
 * offsets in one transaction; then the outbox is published to facts.v1 (facts-publisher.ts).
 * Offsets live in DuckDB and are sought on assignment, so whatever the log's group position
 * says, a restart resumes exactly after the last commit.
 */
import type { DeadLetter, RawWebhook, SessionEvent, SessionFact } from '../../lib/canonical.js';
import { openSubjects, subjectHashes, type ErasureRequest } from '../../lib/erasure.js';
import type { AvroCodec, Deserializer } from '../../lib/avro.js';
import { SessionflowError, isSessionflowError } from '../../lib/errors.js';
import { retry } from '../../lib/retry.js';
import type { Logger } from '../../lib/logger.js';
import type { Metrics } from '../../lib/metrics.js';
import { tpKey, type Consumer, type Log, type MessageBatch } from '../../lib/log/types.js';
import { valueSubject, type Topics } from '../../lib/topics.js';
import { createFactsPublisher } from './facts-publisher.js';
import { unreadableRecord } from '../dead-letters.js';
import type { ErasureOrder, ErasureResult, WarehouseBatch, WarehouseWriter } from './writer.js';

export interface WarehouseSinkDeps {
  log: Log;
  codec: AvroCodec;
  topics: Topics;
  warehouse: WarehouseWriter;
  logger: Logger;
  metrics: Metrics;
  /** Flush at most this long after the first record of a batch arrived. */
  lingerMs?: number;
  /** Flush as soon as this many records are waiting. */
  maxRecords?: number;
  /**
   * Flush as soon as the records waiting hold this many bytes (32 MiB by default): raw bodies go
   * up to BODY_LIMIT_BYTES each, so a count alone does not bound the memory a batch takes.
   */
  maxBytes?: number;
  /** How long stop() waits for the log to acknowledge the last facts (the rest stays in the outbox). */
  factsGraceMs?: number;
  /** PII_KEY, which opens erasure requests; without it a request is refused. */
  piiKey?: string;
  /**
   * Called after each erasure request, with what the warehouse erased or why it refused: the
   * pipeline erases the log's copies and writes the answer (processors/erasure-requests.ts).
   */
  onErasure?: (order: ErasureOrder, outcome: ErasureResult | { error: string }) => Promise<void>;
  /** Called with the deliveries a batch dropped as erased (by ingest_id): the pipeline erases the log's copies. */
  onRefused?: (ingestIds: string[]) => Promise<void>;
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
  const maxRecords = deps.maxRecords ?? 5000;
  const maxBytes = deps.maxBytes ?? 32 * 1024 * 1024;
  const readers = {
    raw: codec.deserializer<RawWebhook>('RawWebhook'),
    event: codec.deserializer<SessionEvent>('SessionEvent'),
    dead: codec.deserializer<DeadLetter>('DeadLetter'),
    erasure: codec.deserializer<ErasureRequest>('ErasureRequest'),
  };
  const factWriter = await codec.serializer<SessionFact>(valueSubject(topics.facts), 'SessionFact');
  const publisher = createFactsPublisher({ log, topic: topics.facts, warehouse, writer: factWriter, logger });
  // What a previous process committed but facts.v1 did not acknowledge goes first.
  publisher.kick();
  const rawTopics = new Set(topics.allRaw);

  let pending = emptyBatch();
  let pendingRecords = 0;
  let pendingBytes = 0;
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> = Promise.resolve();
  /** A write queued behind the one in progress (at most one: it takes whatever is buffered when it starts). */
  let queued = 0;
  let failure: unknown;
  const stopping = new AbortController();
  let failed!: (err: unknown) => void;
  const failedPromise = new Promise<never>((_, reject) => (failed = reject));
  failedPromise.catch(() => undefined);

  /**
   * Queues a write of what is buffered. The batch is taken when its write starts, not when it is
   * queued: what arrives while the previous batch is being written joins it, so batches grow
   * with the backlog (up to maxRecords / maxBytes) and the fixed cost of a batch is shared.
   */
  const flush = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pendingRecords === 0 || queued > 0) return writing;
    queued += 1;
    writing = writing.then(async () => {
      queued -= 1;
      // Stopping: only the batch in hand is finished. What was not started is not committed, so
      // its offsets are not either: the next start reads it again (offsets live in DuckDB).
      if (failure || stopping.signal.aborted || pendingRecords === 0) return;
      const batch = { ...pending, offsets: latestOffsets(pending.offsets) };
      pending = emptyBatch();
      pendingRecords = 0;
      pendingBytes = 0;
      try {
        const result = await storeRetrying(warehouse, batch, stopping.signal, logger);
        metrics.warehouseBatches.inc();
        metrics.warehouseRows.inc({ table: 'session_events' }, result.insertedEvents);
        metrics.warehouseRows.inc({ table: 'raw_webhooks' }, batch.raw.length);
        metrics.warehouseRows.inc({ table: 'dead_letters' }, batch.deadLetters.length);
        metrics.warehouseDuplicates.inc(result.duplicateEvents);
        // Committed with their keys in the outbox: published beside the next batches, never lost.
        if (result.facts.length > 0) publisher.kick();
        if (result.refusedDeliveries.length > 0) {
          logger.info({ deliveries: result.refusedDeliveries.length }, 'erase: redeliveries of erased data dropped');
          await deps.onRefused?.(result.refusedDeliveries);
        }
        logger.debug(
          {
            raw: batch.raw.length,
            events: result.insertedEvents,
            duplicates: result.duplicateEvents,
            sessions: result.touchedSessions.length,
          },
          'warehouse batch',
        );
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

  /** Each erasure request of the batch, one after the other; a refused one is answered, not retried. */
  const eraseEach = async (batch: MessageBatch): Promise<void> => {
    for (const record of batch.records) {
      const offsets = [{ topic: batch.topic, partition: batch.partition, next_offset: record.offset + 1 }];
      let order: ErasureOrder;
      try {
        const request = await readers.erasure.decode(record.value);
        if (deps.piiKey === undefined) throw new SessionflowError('ERASURE_INVALID', 'this process has no PII_KEY');
        const subjects = openSubjects(deps.piiKey, request.subjects);
        order = {
          requestId: request.request_id,
          requestedAt: request.requested_at,
          dryRun: request.dry_run,
          subjects,
          subjectHashes: subjectHashes(deps.piiKey, subjects),
          offsets,
        };
      } catch (err) {
        if (!isSessionflowError(err) || err.retriable) throw err;
        const requestId = record.key?.toString() ?? `offset-${record.offset}`;
        logger.error({ request_id: requestId, err: err.message }, 'erase: request refused');
        await deps.onErasure?.(
          {
            requestId,
            requestedAt: 0,
            dryRun: false,
            subjects: { emails: [], phones: [], participants: [], sessions: [] },
            subjectHashes: [],
            offsets,
          },
          { error: err.message },
        );
        continue;
      }
      try {
        const result = await retry(() => warehouse.erase(order), {
          initialMs: 100,
          maxMs: 5000,
          signal: stopping.signal,
          onRetry: (err, attempt, delayMs) =>
            logger.warn({ err: String(err), attempt, delayMs }, 'erase not stored; retrying'),
        });
        publisher.kick();
        await deps.onErasure?.(order, result);
      } catch (err) {
        if (isSessionflowError(err, 'ERASURE_INVALID')) {
          await deps.onErasure?.(order, { error: err.message });
          continue;
        }
        failure = err;
        logger.error({ err }, 'erase failed');
        failed(err);
        return;
      }
    }
  };

  const offsetsAtStart = await warehouse.offsets();
  const consumer = await log.consume({
    group: topics.group('warehouse'),
    topics: [...topics.allRaw, topics.events, topics.deadLetters, topics.erasures],
    maxBatchSize: maxRecords,
    maxBatchBytes: maxBytes,
    seek: async (assigned) => {
      const stored = await warehouse.offsets().catch(() => offsetsAtStart);
      const result = new Map<string, number>();
      for (const { topic, partition } of assigned) {
        const key = tpKey(topic, partition);
        result.set(key, stored.get(key) ?? 0);
      }
      return result;
    },
    eachBatch: async (batch: MessageBatch) => {
      if (failure) throw failure;
      if (batch.topic === topics.erasures) {
        // After every batch buffered before it, and before any that comes after.
        void flush();
        writing = writing.then(() => (failure || stopping.signal.aborted ? undefined : eraseEach(batch)));
        await writing;
        if (failure) throw failure;
        return;
      }
      // Decoded apart, then added in one synchronous step: a decode can wait on the registry, and
      // a write that starts meanwhile takes `pending` with it. Records decoded into a batch
      // already taken would be lost while their offsets went on to be committed.
      const decoded = emptyBatch();
      await decodeInto(decoded, batch, rawTopics, topics, readers);
      pending.raw.push(...decoded.raw);
      pending.events.push(...decoded.events);
      pending.deadLetters.push(...decoded.deadLetters);
      pending.offsets.push({
        topic: batch.topic,
        partition: batch.partition,
        next_offset: batch.records.at(-1)!.offset + 1,
      });
      pendingRecords += batch.records.length;
      for (const record of batch.records) pendingBytes += record.value.length;
      // The consumer reads no further ahead than one batch being written and one filling: a
      // backlog stays in the log, not in this process's memory (nor in what a stop must finish).
      if (pendingRecords >= maxRecords || pendingBytes >= maxBytes) await flush();
      else timer ??= setTimeout(() => void flush(), lingerMs);
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

/**
 * Stores a batch, retrying with backoff while the failure is retriable (the disk refuses writes:
 * STORAGE_UNAVAILABLE) until it works or the sink stops: a full disk holds the batch back, it does
 * not end the process. Any other failure (WAREHOUSE_FAILED, INTERNAL) is thrown at once and stops
 * the process. A retry is safe: the batch and its offsets commit together or not at all, and what
 * it stores is keyed (DESIGN section 8).
 */
function storeRetrying(warehouse: WarehouseWriter, batch: WarehouseBatch, signal: AbortSignal, logger: Logger) {
  return retry(() => warehouse.applyBatch(batch), {
    initialMs: 100,
    maxMs: 5000,
    signal,
    onRetry: (err, attempt, delayMs) =>
      logger.warn(
        { err: String(err), code: isSessionflowError(err) ? err.code : undefined, attempt, delayMs },
        'warehouse batch not stored; retrying',
      ),
  });
}

/** One row per partition: the furthest offset buffered. */
function latestOffsets(offsets: WarehouseBatch['offsets']): WarehouseBatch['offsets'] {
  const latest = new Map<string, WarehouseBatch['offsets'][number]>();
  for (const o of offsets) {
    const key = tpKey(o.topic, o.partition);
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
  readers: {
    raw: Deserializer<RawWebhook>;
    event: Deserializer<SessionEvent>;
    dead: Deserializer<DeadLetter>;
    erasure: Deserializer<ErasureRequest>;
  },
): Promise<void> {
  for (const record of batch.records) {
    try {
      if (rawTopics.has(batch.topic)) target.raw.push(await readers.raw.decode(record.value));
      else if (batch.topic === topics.events) target.events.push(await readers.event.decode(record.value));
      else if (batch.topic === topics.deadLetters) target.deadLetters.push(await readers.dead.decode(record.value));
    } catch (err) {
      // A message on our own topics that can never be read: kept as a dead letter, never a crash loop.
      if (isSessionflowError(err, 'ENVELOPE_UNREADABLE') || isSessionflowError(err, 'SCHEMA_NOT_FOUND'))
        target.deadLetters.push(unreadableRecord(record, err, 'warehouse'));
      else throw err;
    }
  }
}
