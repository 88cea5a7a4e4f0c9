/**
 * The log: topics of partitioned, offset-addressed messages with consumer-group positions.
 * Embedded mode keeps it in segment files under DATA_DIR/log (embedded.ts); Kafka mode is Apache
 * Kafka. Both run the same contract suite (test/lib/log-contract.ts).
 */

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Keep only the latest message per key (Kafka cleanup.policy=compact). */
  compacted?: boolean;
  /** Largest message the topic takes (Kafka max.message.bytes); raw topics carry whole webhook bodies. */
  maxMessageBytes?: number;
  /**
   * How long records are kept (Kafka retention.ms): raw topics carry bodies with personal data,
   * kept for RAW_RETENTION_DAYS. The embedded log applies it with `expire`.
   */
  retentionMs?: number;
}

export interface OutgoingMessage {
  /** Messages with the same key go to the same partition, in order. */
  key: Buffer | null;
  value: Buffer;
}

/**
 * A message's bytes as a topic's max.message.bytes counts them: key, value and, generously, the
 * record's own framing in a Kafka record batch (varint lengths, offset and timestamp deltas).
 */
export const messageBytes = (m: OutgoingMessage): number => m.value.length + (m.key?.length ?? 0) + 64;

export interface LogRecord {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer;
  /** When the log appended the message, epoch milliseconds. */
  timestamp: number;
}

export interface MessageBatch {
  topic: string;
  partition: number;
  records: LogRecord[];
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A partition's key in the maps of positions and offsets (seek, committedOffsets, endOffsets): `topic:partition`. */
export const tpKey = (topic: string, partition: number): string => `${topic}:${partition}`;

export interface ConsumeOptions {
  group: string;
  topics: string[];
  /**
   * Handles one batch of one partition. When it resolves the group's position moves past the
   * batch; when it rejects the consumer stops and `done` rejects with the error (infrastructure
   * errors stop a process; data errors are the handler's to turn into dead letters).
   */
  eachBatch: (batch: MessageBatch) => Promise<void>;
  /**
   * Called when partitions are assigned; returns the next offset to read per partition for
   * those it tracks itself (the warehouse keeps its offsets in DuckDB), by `tpKey`.
   */
  seek?: (assigned: TopicPartition[]) => Promise<Map<string, number>>;
  /** Upper bound on records per batch. */
  maxBatchSize?: number;
  /**
   * Upper bound on a batch's bytes (values): a batch ends with the record that reaches it, so one
   * record larger than the bound still comes, alone. Kafka bounds its fetches itself (kafkajs
   * maxBytesPerPartition); the embedded log reads by it.
   */
  maxBatchBytes?: number;
}

export interface Consumer {
  /** Stops after the batch in hand has been handled and its position committed. */
  stop(): Promise<void>;
  /** Settles when the consumer stops: resolves on stop(), rejects on a handler error. */
  readonly done: Promise<void>;
}

/**
 * What a log is, for the pipeline to arrange around it (bin/pipeline.ts). What it can do beyond
 * the contract are its optional methods (messageLimit, prune, erase, expire, writable): present
 * when it can.
 */
export interface LogCapabilities {
  /**
   * Other processes open it beside this one (Kafka: any number of clients). When false, only the
   * process that opened it can (the embedded log locks DATA_DIR/log): other commands leave their
   * work in DATA_DIR for that process (`sessionflow erase`, processors/erasure-requests.ts).
   */
  readonly shared: boolean;
  /**
   * Its acknowledgements come from other machines (Kafka's brokers), which can be slow or away:
   * the ingest does not keep a provider waiting on them but spools what is not acknowledged in
   * time (ingest/spooling-sink.ts). When false a publish is a local write, and its failures are
   * the disk's.
   */
  readonly remote: boolean;
}

export interface Log {
  /** Which implementation, for logs and messages: the pipeline asks `capabilities` and the optional methods. */
  readonly kind: 'embedded' | 'kafka';
  readonly capabilities: LogCapabilities;
  createTopics(specs: TopicSpec[]): Promise<void>;
  /**
   * The most `messageBytes` one message on `topic` may weigh (Kafka: the topic's max.message.bytes
   * less a record batch's framing); undefined when the log sets no limit (embedded).
   */
  messageLimit?(topic: string): Promise<number | undefined>;
  /** Resolves once every message is durable (embedded: committed; Kafka: acks=all). */
  publish(topic: string, messages: OutgoingMessage[]): Promise<void>;
  consume(options: ConsumeOptions): Promise<Consumer>;
  /** The group's committed next offset per partition, by `tpKey`. */
  committedOffsets(group: string, topic: string): Promise<Map<string, number>>;
  /** Next offset to be written per partition, by `tpKey`. */
  endOffsets(topic: string): Promise<Map<string, number>>;
  /**
   * Retention the log runs itself (embedded mode; Kafka runs its own): removes consumed messages
   * older than `retentionMs` and compacts compacted topics. Returns how many messages went.
   */
  prune?(retentionMs: number): Promise<number>;
  /**
   * Erases the records `match` picks, in place (embedded mode, sessionflow erase); Kafka cannot,
   * and its raw topics keep bodies until their retention.ms. Returns how many records went.
   */
  erase?(match: (topic: string, frame: { key: Buffer | null; value: Buffer }) => boolean): Promise<number>;
  /**
   * Raw retention the log runs itself (embedded mode; Kafka applies retention.ms): erases in place
   * the records of `topics` older than `cutoffMs` that every consumer has read. Returns how many.
   */
  expire?(topics: readonly string[], cutoffMs: number): Promise<number>;
  /**
   * Whether a publish can be stored right now, for logs that can tell (embedded: false after its
   * disk refused a write, until it has room again). The ingest answers 503 and /health/ready says
   * not ready meanwhile, instead of acknowledging what it cannot store.
   */
  readonly writable?: boolean;
  close(): Promise<void>;
}

/** Partition for a key: the same key always lands on the same partition (murmur2 as Kafka's default partitioner is not needed in embedded mode). */
export function partitionFor(key: Buffer | null, partitions: number, fallback: number): number {
  if (!key || partitions <= 1) return key ? 0 : fallback % Math.max(1, partitions);
  let h = 0x811c9dc5;
  for (const byte of key) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}
