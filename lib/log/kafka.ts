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
import {
  Kafka,
  Partitioners,
  logLevel as Level,
  type Admin,
  type ConfigResourceTypes,
  type ITopicConfig,
  type LogEntry,
  type Producer,
} from 'kafkajs';
import { SessionflowError } from '../errors.js';
import { GroupCommit } from '../group-commit.js';
import type { Logger } from '../logger.js';
import { KafkaGroupConsumer, unavailable } from './kafka-consumer.js';
import {
  messageBytes,
  tpKey,
  type ConsumeOptions,
  type Consumer,
  type Log,
  type LogCapabilities,
  type OutgoingMessage,
  type TopicSpec,
} from './types.js';

export interface KafkaLogOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
  /** Replicas per new topic; -1 (default) takes the broker's default.replication.factor. */
  replicationFactor?: number;
  /** Bytes merged into one grouped send at most (besides each topic's own max.message.bytes). */
  maxSendBytes?: number;
}

interface PendingPublish {
  topic: string;
  messages: OutgoingMessage[];
  bytes: number;
  /** The most bytes a send holding this publish may carry: its topic's limit, or maxSendBytes. */
  cap: number;
}

/** A record batch's own framing (61 bytes of header), with room to spare. */
const BATCH_OVERHEAD = 1024;
/** kafkajs' ConfigResourceTypes.TOPIC: the enum is not a named export Node's ESM loader finds in kafkajs (CommonJS). */
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;
/** The broker's message.max.bytes default, for a topic whose config does not say. */
const BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/**
 * The settings of a topic KafkaLog creates. With three replicas or more, min.insync.replicas is
 * 2: an acks=all write is then on at least two brokers before it is acknowledged, and one broker
 * may be down without stopping writes. With fewer (or -1, the broker's default replication factor,
 * unknown here) the broker's own min.insync.replicas stands, since 2 of 2 would stop writes
 * whenever one broker is down and 2 of 1 would refuse every write.
 */
export function topicConfig(spec: TopicSpec, replicationFactor: number): ITopicConfig {
  return {
    topic: spec.topic,
    numPartitions: spec.partitions,
    replicationFactor,
    configEntries: [
      ...(spec.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : []),
      ...(spec.maxMessageBytes ? [{ name: 'max.message.bytes', value: String(spec.maxMessageBytes) }] : []),
      ...(spec.retentionMs ? [{ name: 'retention.ms', value: String(Math.round(spec.retentionMs)) }] : []),
      ...(replicationFactor >= 3 ? [{ name: 'min.insync.replicas', value: '2' }] : []),
    ],
  };
}

const failWith = (detail: string) => (cause: unknown) => Promise.reject(unavailable(detail, cause));

export class KafkaLog implements Log {
  readonly kind = 'kafka' as const;
  /** Any number of clients, on brokers elsewhere. */
  readonly capabilities: LogCapabilities = Object.freeze({ shared: true, remote: true });
  /** Produce requests made, and the publishes and messages they carried. */
  readonly stats = { sends: 0, publishes: 0, messages: 0 };
  /** Everything published while a send is in flight goes into the next one, up to maxSendBytes. */
  private readonly group: GroupCommit<PendingPublish>;
  private closed = false;
  private producer: Promise<Producer> | undefined;
  private readonly knownTopics = new Set<string>();
  /** Each topic's messageLimit, read from the broker on first use. */
  private readonly limits = new Map<string, Promise<number>>();
  private readonly consumers = new Set<KafkaGroupConsumer>();

  private constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly options: KafkaLogOptions,
  ) {
    this.group = new GroupCommit((publishes) => this.send(publishes), {
      maxWeight: (p) => p.cap,
      weigh: (p) => p.bytes,
    });
  }

  static async connect(options: KafkaLogOptions): Promise<KafkaLog> {
    const kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      logLevel: kafkaLevel(options.logger),
      logCreator: () => logTo(options.logger),
    });
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
        topics: specs.map((spec) => topicConfig(spec, this.options.replicationFactor ?? -1)),
      }) // resolves false, not an error, for topics that exist already
      .catch(failWith(`could not create topics ${specs.map((s) => s.topic).join(', ')}`));
    // A topic that existed already takes the retention of today's configuration (raw topics:
    // RAW_RETENTION_DAYS). kafkajs alters a topic's configuration whole: every entry we set goes again.
    const retained = specs.filter((spec) => spec.retentionMs !== undefined);
    if (retained.length > 0) {
      await this.admin
        .alterConfigs({
          validateOnly: false,
          resources: retained.map((spec) => ({
            type: TOPIC_RESOURCE,
            name: spec.topic,
            configEntries: topicConfig(spec, this.options.replicationFactor ?? -1).configEntries ?? [],
          })),
        })
        .catch(failWith(`could not set retention.ms on ${retained.map((s) => s.topic).join(', ')}`));
    }
    for (const spec of specs) this.knownTopics.add(spec.topic);
  }

  async publish(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (this.closed) throw new SessionflowError('LOG_CLOSED');
    if (messages.length === 0) return;
    // An unknown topic would fail the whole grouped send after kafkajs' metadata retries: refuse it alone, up front.
    if (!this.knownTopics.has(topic)) {
      for (const name of await this.admin.listTopics().catch(failWith('cannot list topics')))
        this.knownTopics.add(name);
      if (!this.knownTopics.has(topic)) throw new SessionflowError('LOG_UNAVAILABLE', `unknown topic ${topic}`);
    }
    const limit = await this.messageLimit(topic);
    const tooLarge = messages.find((m) => messageBytes(m) > limit);
    if (tooLarge)
      throw new SessionflowError(
        'BODY_TOO_LARGE',
        `a message of ${messageBytes(tooLarge)} bytes is larger than ${topic} accepts ` +
          `(max.message.bytes, less ${BATCH_OVERHEAD} bytes of batch framing: ${limit})`,
      );
    // Many messages at once (a spool drain, a normalized batch) go in as many sends as the topic needs, in order.
    const cap = Math.min(limit, this.options.maxSendBytes ?? 900_000);
    const parts: PendingPublish[] = [];
    for (const m of messages) {
      const last = parts.at(-1);
      if (last && last.bytes + messageBytes(m) <= cap) {
        last.messages.push(m);
        last.bytes += messageBytes(m);
      } else parts.push({ topic, messages: [m], bytes: messageBytes(m), cap });
    }
    await Promise.all(parts.map((p) => this.group.submit(p)));
  }

  /** The most bytes (`messageBytes`) a message, or a grouped send, may carry to `topic`. */
  messageLimit(topic: string): Promise<number> {
    let limit = this.limits.get(topic);
    if (!limit) {
      limit = this.admin
        .describeConfigs({
          includeSynonyms: false,
          resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: ['max.message.bytes'] }],
        })
        .then(({ resources }) => {
          const value = Number(
            resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue,
          );
          return (Number.isFinite(value) && value > 0 ? value : BROKER_DEFAULT_MAX_MESSAGE_BYTES) - BATCH_OVERHEAD;
        })
        .catch((cause: unknown) => {
          this.limits.delete(topic);
          throw unavailable(`cannot read the max.message.bytes of ${topic}`, cause);
        });
      this.limits.set(topic, limit);
    }
    return limit;
  }

  private async send(group: PendingPublish[]): Promise<void> {
    const byTopic = new Map<string, OutgoingMessage[]>();
    for (const { topic, messages } of group) {
      const list = byTopic.get(topic) ?? byTopic.set(topic, []).get(topic)!;
      for (const m of messages) list.push(m);
    }
    const producer = this.connectedProducer();
    try {
      await (await producer).sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    } catch (cause) {
      if (this.producer === producer) this.producer = undefined; // never reuse the sequences of a failed send (see the header)
      void producer.then((p) => p.disconnect()).catch(() => undefined);
      const where = [...byTopic.keys()].join(', ');
      if (!errorTypes(cause).some((t) => t === 'MESSAGE_TOO_LARGE' || t === 'RECORD_LIST_TOO_LARGE'))
        throw unavailable(`could not publish to ${where}`, cause);
      // One message refused alone is too large for its topic, and not worth retrying. Several
      // refused together means the limit read earlier is stale (the topic was altered): read it
      // again, and let the callers retry (the ingest spools them) rather than refuse them all.
      if (group.length === 1 && group[0]!.messages.length === 1)
        throw new SessionflowError('BODY_TOO_LARGE', `a message is larger than ${where} accepts (max.message.bytes)`, {
          cause,
        });
      for (const topic of byTopic.keys()) this.limits.delete(topic);
      throw unavailable(`${where} refused a grouped send as too large; its max.message.bytes is read again`, cause);
    }
    this.stats.sends += 1;
    this.stats.publishes += group.length;
    for (const p of group) this.stats.messages += p.messages.length;
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
    const topics = await this.admin
      .fetchOffsets({ groupId: group, topics: [topic] })
      .catch(failWith(`cannot read the offsets of ${group}`));
    const partitions = topics.find((t) => t.topic === topic)?.partitions ?? [];
    return new Map(
      partitions.filter((p) => Number(p.offset) >= 0).map((p) => [tpKey(topic, p.partition), Number(p.offset)]),
    ); // -1: none
  }

  async endOffsets(topic: string): Promise<Map<string, number>> {
    // `offset` is the high watermark: the next offset to be written (with acks=all, every acknowledged message is below it).
    const partitions = await this.admin
      .fetchTopicOffsets(topic)
      .catch(failWith(`cannot read the end offsets of ${topic}`));
    return new Map(partitions.map((p) => [tpKey(topic, p.partition), Number(p.offset)]));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.consumers].map((c) => c.stop()));
    await this.group.idle();
    this.closed = true;
    await Promise.allSettled([this.producer?.then((p) => p.disconnect()), this.admin.disconnect()]);
  }
}

/** The kafkajs error types along a cause chain. */
function errorTypes(err: unknown): string[] {
  const types: string[] = [];
  let e = err as { type?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++, e = e.cause as typeof e)
    if (typeof e.type === 'string') types.push(e.type);
  return types;
}

function kafkaLevel(logger: Logger): Level {
  const levels: Record<string, Level> = {
    trace: Level.DEBUG,
    debug: Level.DEBUG,
    info: Level.INFO,
    warn: Level.WARN,
    error: Level.ERROR,
    fatal: Level.ERROR,
  };
  return levels[logger.level] ?? Level.NOTHING;
}

/** Fields of kafkajs log lines that say where and why, never what a message contained. */
const SAFE_FIELDS = [
  'broker',
  'clientId',
  'groupId',
  'memberId',
  'topic',
  'partition',
  'error',
  'retryCount',
  'retryTime',
  'memberAssignment',
];

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
