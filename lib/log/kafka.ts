/**
 * The Kafka log, on kafkajs. Publishes are idempotent with acks=all and keys placed by the Java
 * client's murmur2 partitioner, so a key lands where a Java producer would put it. Publishes that
 * arrive while a send is in flight are grouped into the next `sendBatch` (one produce request
 * for many HTTP requests), as the embedded log groups them into one commit.
 *
 * Checked against Apache Kafka 4.1, which dropped the pre-2.1 protocol versions (KIP-896):
 * kafkajs 2.2.4 negotiates versions inside the broker's ranges for everything used here
 * (Produce v7, Fetch v11, JoinGroup v5, OffsetCommit v5, CreateTopics v3, ...), and
 * CreateTopics v3 accepts replication factor -1 (the broker's default.replication.factor).
 *
 * kafkajs' idempotent producer retries forever by default. With fewer retries, a failed send
 * hands its sequence numbers back and the next send reuses them, which the broker may take for
 * a duplicate of a batch it did write, and drop. So retries are bounded (a publish fails within
 * seconds and the caller spools) and a producer that failed a send is replaced: a new producer
 * id starts new sequences, as the Java producer bumps its epoch.
 */
import { Kafka, Partitioners, logLevel as Level, type Admin, type Batch, type EachBatchPayload, type Consumer as KafkaJSConsumer, type LogEntry, type Producer } from 'kafkajs';
import { SessionflowError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ConsumeOptions, Consumer, Log, LogRecord, OutgoingMessage, TopicPartition, TopicSpec } from './types.js';

export interface KafkaLogOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
  /** Replicas per new topic; -1 (default) takes the broker's default.replication.factor. */
  replicationFactor?: number;
  /** Bytes merged into one grouped send at most (a partition's record batch must stay under the broker's message.max.bytes, 1 MB by default). */
  maxSendBytes?: number;
}

interface PendingPublish {
  topic: string;
  messages: OutgoingMessage[];
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const tpKey = (topic: string, partition: number) => `${topic}:${partition}`;
const unavailable = (detail: string, cause: unknown) => new SessionflowError('LOG_UNAVAILABLE', detail, { cause });
const failWith = (detail: string) => (cause: unknown) => Promise.reject(unavailable(detail, cause));

export class KafkaLog implements Log {
  readonly kind = 'kafka' as const;
  /** Produce requests made, and the publishes and messages they carried. */
  readonly stats = { sends: 0, publishes: 0, messages: 0 };
  private pending: PendingPublish[] = [];
  private flushing = false;
  private flushed: Promise<void> = Promise.resolve();
  private closed = false;
  private producer: Promise<Producer> | undefined;
  private readonly knownTopics = new Set<string>();
  private readonly consumers = new Set<KafkaGroupConsumer>();

  private constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly options: KafkaLogOptions,
  ) {}

  static async connect(options: KafkaLogOptions): Promise<KafkaLog> {
    const kafka = new Kafka({ clientId: options.clientId, brokers: options.brokers, logLevel: kafkaLevel(options.logger), logCreator: () => logTo(options.logger) });
    const log = new KafkaLog(kafka, kafka.admin(), options);
    try {
      await log.admin.connect();
      await log.connectedProducer();
    } catch (cause) {
      await log.close();
      throw unavailable(`cannot reach the Kafka brokers ${options.brokers.join(',')}`, cause);
    }
    return log;
  }

  private connectedProducer(): Promise<Producer> {
    this.producer ??= (async () => {
      const producer = this.kafka.producer({
        idempotent: true, // implies acks=all; one request in flight keeps the sequences in order
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.JavaCompatiblePartitioner,
        allowAutoTopicCreation: false,
        retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5_000 },
      });
      try {
        await producer.connect();
      } catch (err) {
        this.producer = undefined;
        await producer.disconnect().catch(() => undefined);
        throw err;
      }
      return producer;
    })();
    return this.producer;
  }

  async createTopics(specs: TopicSpec[]): Promise<void> {
    await this.admin
      .createTopics({
        waitForLeaders: true,
        topics: specs.map((spec) => ({
          topic: spec.topic,
          numPartitions: spec.partitions,
          replicationFactor: this.options.replicationFactor ?? -1,
          configEntries: [
            ...(spec.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : []),
            ...(spec.maxMessageBytes ? [{ name: 'max.message.bytes', value: String(spec.maxMessageBytes) }] : []),
          ],
        })),
      }) // resolves false, not an error, for topics that exist already
      .catch(failWith(`could not create topics ${specs.map((s) => s.topic).join(', ')}`));
    for (const spec of specs) this.knownTopics.add(spec.topic);
  }

  async publish(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (this.closed) throw new SessionflowError('LOG_CLOSED');
    if (messages.length === 0) return;
    // An unknown topic would fail the whole grouped send after kafkajs' metadata retries: refuse it alone, up front.
    if (!this.knownTopics.has(topic)) {
      for (const name of await this.admin.listTopics().catch(failWith('cannot list topics'))) this.knownTopics.add(name);
      if (!this.knownTopics.has(topic)) throw new SessionflowError('LOG_UNAVAILABLE', `unknown topic ${topic}`);
    }
    const bytes = messages.reduce((sum, m) => sum + m.value.length + (m.key?.length ?? 0) + 32, 0);
    return new Promise((resolve, reject) => {
      this.pending.push({ topic, messages, bytes, resolve, reject });
      if (!this.flushing) this.flushed = this.flush();
    });
  }

  /** Group send: everything queued while the previous send ran goes into the next one, up to maxSendBytes. */
  private async flush(): Promise<void> {
    const limit = this.options.maxSendBytes ?? 900_000;
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        let [bytes, take] = [0, 0];
        while (take < this.pending.length && (take === 0 || bytes + this.pending[take]!.bytes <= limit)) bytes += this.pending[take++]!.bytes;
        await this.send(this.pending.splice(0, take));
      }
    } finally {
      this.flushing = false;
    }
  }

  private async send(group: PendingPublish[]): Promise<void> {
    const byTopic = new Map<string, OutgoingMessage[]>();
    for (const { topic, messages } of group) {
      const list = byTopic.get(topic) ?? byTopic.set(topic, []).get(topic)!;
      for (const m of messages) list.push(m);
    }
    const producer = this.connectedProducer();
    try {
      await (await producer).sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    } catch (cause) {
      if (this.producer === producer) this.producer = undefined; // never reuse the sequences of a failed send (see the header)
      void producer.then((p) => p.disconnect()).catch(() => undefined);
      const where = [...byTopic.keys()].join(', ');
      // A message over the topic's max.message.bytes is sent alone (it exceeds maxSendBytes) and is not worth retrying.
      const err = errorTypes(cause).some((t) => t === 'MESSAGE_TOO_LARGE' || t === 'RECORD_LIST_TOO_LARGE')
        ? new SessionflowError('BODY_TOO_LARGE', `a message is larger than ${where} accepts (max.message.bytes)`, { cause })
        : unavailable(`could not publish to ${where}`, cause);
      for (const p of group) p.reject(err);
      return;
    }
    this.stats.sends += 1;
    this.stats.publishes += group.length;
    for (const p of group) {
      this.stats.messages += p.messages.length;
      p.resolve();
    }
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    if (this.closed) throw new SessionflowError('LOG_CLOSED');
    const consumer = this.kafka.consumer({
      groupId: options.group,
      // Quick rebalances: a member that stops says so (LeaveGroup), one that dies is noticed after
      // sessionTimeout; the short fetch long-poll lets heartbeats, and a pending rebalance, be seen within a second.
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      rebalanceTimeout: 30_000,
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: false,
    });
    const member = new KafkaGroupConsumer(consumer, options, this.options.logger);
    this.consumers.add(member);
    void member.done.catch(() => undefined).finally(() => this.consumers.delete(member));
    await member.start();
    return member;
  }

  async committedOffsets(group: string, topic: string): Promise<Map<string, number>> {
    const topics = await this.admin.fetchOffsets({ groupId: group, topics: [topic] }).catch(failWith(`cannot read the offsets of ${group}`));
    const partitions = topics.find((t) => t.topic === topic)?.partitions ?? [];
    return new Map(partitions.filter((p) => Number(p.offset) >= 0).map((p) => [tpKey(topic, p.partition), Number(p.offset)])); // -1: none
  }

  async endOffsets(topic: string): Promise<Map<string, number>> {
    // `offset` is the high watermark: the next offset to be written (with acks=all, every acknowledged message is below it).
    const partitions = await this.admin.fetchTopicOffsets(topic).catch(failWith(`cannot read the end offsets of ${topic}`));
    return new Map(partitions.map((p) => [tpKey(topic, p.partition), Number(p.offset)]));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.consumers].map((c) => c.stop()));
    while (this.flushing) await this.flushed;
    this.closed = true;
    await Promise.allSettled([this.producer?.then((p) => p.disconnect()), this.admin.disconnect()]);
  }
}

/**
 * One member of a consumer group. Offsets are resolved and committed by hand after each handled
 * batch; a handler error stops the member without committing. `seek` positions are applied with
 * the assigned partitions paused (so nothing is fetched from the group's committed offset
 * meanwhile), and the first batch after a seek must have been fetched from exactly there.
 */
class KafkaGroupConsumer implements Consumer {
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
    this.done = new Promise<void>((resolve, reject) => (this.settle = (err) => (err === undefined ? resolve() : reject(err))));
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
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (payload) => this.handle(payload) });
    } catch (cause) {
      const err = unavailable(`cannot start a consumer in group ${options.group}`, cause);
      await this.shutdown(err);
      throw err;
    }
  }

  private assigned(assignment: Record<string, number[]>): void {
    const generation = ++this.generation;
    this.sought.clear();
    const partitions: TopicPartition[] = Object.entries(assignment).flatMap(([topic, ps]) => ps.map((partition) => ({ topic, partition })));
    this.logger.debug({ group: this.options.group, partitions: partitions.map((tp) => tpKey(tp.topic, tp.partition)) }, 'partitions assigned');
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

  private async handle({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (this.failed) return;
    await this.seeking;
    if (this.failed || !isRunning() || isStale()) return;
    const { topic, partition } = batch;
    const sought = this.sought.get(tpKey(topic, partition));
    if (sought !== undefined) {
      // Untyped, but a kafkajs Batch keeps the offset it was fetched from.
      const fetchedFrom = Number((batch as Batch & { fetchedOffset?: string }).fetchedOffset ?? batch.firstOffset());
      if (fetchedFrom !== sought) {
        this.logger.warn({ group: this.options.group, topic, partition, fetchedFrom, sought }, 'batch not fetched from the sought offset: skipped, seeking again');
        this.consumer.seek({ topic, partition, offset: String(sought) });
        return;
      }
      this.sought.delete(tpKey(topic, partition));
    }
    const records: LogRecord[] = batch.messages.map((m) => ({ topic, partition, offset: Number(m.offset), key: m.key ?? null, value: m.value ?? Buffer.alloc(0), timestamp: Number(m.timestamp) }));
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
      (cause: unknown) => this.settle(err ?? unavailable(`consumer of ${this.options.group} did not stop cleanly`, cause)),
    );
    return this.stopping;
  }

  async stop(): Promise<void> {
    await this.shutdown();
    await this.done.catch(() => undefined);
  }
}

/** The kafkajs error types along a cause chain. */
function errorTypes(err: unknown): string[] {
  const types: string[] = [];
  let e = err as { type?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++, e = e.cause as typeof e) if (typeof e.type === 'string') types.push(e.type);
  return types;
}

function kafkaLevel(logger: Logger): Level {
  const levels: Record<string, Level> = { trace: Level.DEBUG, debug: Level.DEBUG, info: Level.INFO, warn: Level.WARN, error: Level.ERROR, fatal: Level.ERROR };
  return levels[logger.level] ?? Level.NOTHING;
}

/** Fields of kafkajs log lines that say where and why, never what a message contained. */
const SAFE_FIELDS = ['broker', 'clientId', 'groupId', 'memberId', 'topic', 'partition', 'error', 'retryCount', 'retryTime', 'memberAssignment'];

function logTo(logger: Logger): (entry: LogEntry) => void {
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  return ({ namespace, level, log }) => {
    if (log.message.startsWith('Limiting retries for the idempotent producer')) return; // handled, see the header
    const fields: Record<string, unknown> = { namespace };
    for (const name of SAFE_FIELDS) if (name in log) fields[name] = (log as Record<string, unknown>)[name];
    // [Connection] logs every error response at ERROR, also those kafkajs retries and overcomes
    // ("the coordinator is loading" on a fresh broker); a final failure reaches the caller as an error.
    if (level === Level.ERROR && namespace !== 'Connection') kafkaLogger.error(fields, log.message);
    else if (level <= Level.WARN) kafkaLogger.warn(fields, log.message);
    else if (level === Level.INFO) kafkaLogger.info(fields, log.message);
    else kafkaLogger.debug(fields, log.message);
  };
}
