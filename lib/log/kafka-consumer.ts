import type { Batch, EachBatchPayload, Consumer as KafkaJSConsumer } from 'kafkajs';
import { SessionflowError } from '../errors.js';
import type { Logger } from '../logger.js';
import { tpKey, type ConsumeOptions, type Consumer, type LogRecord, type TopicPartition } from './types.js';

export const unavailable = (detail: string, cause: unknown) =>
  new SessionflowError('LOG_UNAVAILABLE', detail, { cause });

/**
 * One member of a consumer group. Offsets are resolved and committed by hand after each handled
 * batch; a handler error stops the member without committing. `seek` positions are applied with
 * the assigned partitions paused (so nothing is fetched from the group's committed offset
 * meanwhile), and the first batch after a seek must have been fetched from exactly there.
 */
export class KafkaGroupConsumer implements Consumer {
  readonly done: Promise<void>;
  private settle!: (err?: unknown) => void;
  private stopping: Promise<void> | undefined;
  private failed = false;
  private generation = 0;
  private seeking: Promise<void> = Promise.resolve();
  /** Where the next batch of a partition must start after a seek; checked once per seek. */
  private readonly sought = new Map<string, number>();

  constructor(
    private readonly consumer: KafkaJSConsumer,
    private readonly options: ConsumeOptions,
    private readonly logger: Logger,
  ) {
    this.done = new Promise<void>(
      (resolve, reject) => (this.settle = (err) => (err === undefined ? resolve() : reject(err))),
    );
    this.done.catch(() => undefined);
  }

  async start(): Promise<void> {
    const { consumer, options } = this;
    // Emitted synchronously after join and sync, before the generation's first fetch.
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => this.assigned(payload.memberAssignment));
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.fail(unavailable(`consumer of ${options.group} crashed`, payload.error));
    });
    // kafkajs resolves a batch that was all filtered out (compaction, control records) without eachBatch.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.batchSize === 0) this.sought.delete(tpKey(payload.topic, payload.partition));
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: options.topics, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.handle(payload),
      });
    } catch (cause) {
      const err = unavailable(`cannot start a consumer in group ${options.group}`, cause);
      await this.shutdown(err);
      throw err;
    }
  }

  private assigned(assignment: Record<string, number[]>): void {
    const generation = ++this.generation;
    this.sought.clear();
    const partitions: TopicPartition[] = Object.entries(assignment).flatMap(([topic, ps]) =>
      ps.map((partition) => ({ topic, partition })),
    );
    this.logger.debug(
      { group: this.options.group, partitions: partitions.map((tp) => tpKey(tp.topic, tp.partition)) },
      'partitions assigned',
    );
    const { seek } = this.options;
    if (!seek || partitions.length === 0) return;
    const byTopic = Object.entries(assignment).map(([topic, ps]) => ({ topic, partitions: ps }));
    this.consumer.pause(byTopic);
    this.seeking = seek(partitions).then(
      (positions) => {
        if (generation !== this.generation) return; // a newer assignment runs its own seek
        for (const { topic, partition } of partitions) {
          const offset = positions.get(tpKey(topic, partition));
          if (offset === undefined) continue;
          this.consumer.seek({ topic, partition, offset: String(offset) });
          this.sought.set(tpKey(topic, partition), offset);
        }
        this.consumer.resume(byTopic);
      },
      (err: unknown) => this.fail(err),
    );
  }

  private async handle({
    batch,
    resolveOffset,
    commitOffsetsIfNecessary,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> {
    if (this.failed) return;
    await this.seeking;
    if (this.failed || !isRunning() || isStale()) return;
    const { topic, partition } = batch;
    const sought = this.sought.get(tpKey(topic, partition));
    if (sought !== undefined) {
      // Untyped, but a kafkajs Batch keeps the offset it was fetched from.
      const fetchedFrom = Number((batch as Batch & { fetchedOffset?: string }).fetchedOffset ?? batch.firstOffset());
      if (fetchedFrom !== sought) {
        this.logger.warn(
          { group: this.options.group, topic, partition, fetchedFrom, sought },
          'batch not fetched from the sought offset: skipped, seeking again',
        );
        this.consumer.seek({ topic, partition, offset: String(sought) });
        return;
      }
      this.sought.delete(tpKey(topic, partition));
    }
    const records: LogRecord[] = batch.messages.map((m) => ({
      topic,
      partition,
      offset: Number(m.offset),
      key: m.key ?? null,
      value: m.value ?? Buffer.alloc(0),
      timestamp: Number(m.timestamp),
    }));
    const size = this.options.maxBatchSize ?? 500;
    for (let start = 0; start < records.length; start += size) {
      if (!isRunning() || isStale()) return; // the rest is fetched again by whoever reads on
      const chunk = records.slice(start, start + size);
      try {
        await this.options.eachBatch({ topic, partition, records: chunk });
      } catch (err) {
        this.fail(err);
        return;
      }
      const next = chunk[chunk.length - 1]!.offset + 1;
      resolveOffset(String(next - 1));
      await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: String(next) }] }] });
      await heartbeat();
    }
  }

  /** Stops without committing anything more. Not awaited: kafkajs' stop waits for the eachBatch in hand. */
  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    void this.shutdown(err);
  }

  private shutdown(err?: unknown): Promise<void> {
    this.stopping ??= this.consumer.disconnect().then(
      () => this.settle(err),
      (cause: unknown) =>
        this.settle(err ?? unavailable(`consumer of ${this.options.group} did not stop cleanly`, cause)),
    );
    return this.stopping;
  }

  async stop(): Promise<void> {
    await this.shutdown();
    await this.done.catch(() => undefined);
  }
}
