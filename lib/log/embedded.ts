/**
 * The embedded log: Kafka's model (topics, partitions, offsets, consumer-group positions) in a
 * DuckDB file, for `npm start` with no other service. Publishes that arrive while a commit is
 * in flight are grouped into the next transaction, so many concurrent requests share one commit.
 *
 * A full disk: a commit DuckDB cannot write is rolled back and the publish fails (the ingest
 * answers 503); `writable` turns false and a probe retries a tiny write with backoff until the
 * disk takes writes again. When DuckDB invalidated the instance instead (a checkpoint that could
 * not write), the file is opened again and the next offsets are read back from what it holds.
 * Consumers ride it out: their reads and position commits are retried, they do not stop.
 */
import { EventEmitter } from 'node:events';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BIGINT, BLOB, INTEGER, LIST, VARCHAR, blobValue, listValue, type DuckDBValue } from '@duckdb/node-api';
import { SessionflowError } from '../errors.js';
import { GroupCommit } from '../group-commit.js';
import { SerialQueue, queryRows, storageFault, type DuckDBConnection, type DuckDBFile, type FileConnection } from '../duckdb.js';
import type { Logger } from '../logger.js';
import { bail, retry } from '../retry.js';
import {
  partitionFor,
  type ConsumeOptions,
  type Consumer,
  type Log,
  type LogRecord,
  type OutgoingMessage,
  type TopicPartition,
  type TopicSpec,
} from './types.js';

const DDL = [
  `CREATE TABLE IF NOT EXISTS log_topics (topic VARCHAR PRIMARY KEY, partitions INTEGER NOT NULL, compacted BOOLEAN NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS log_messages (topic VARCHAR NOT NULL, "partition" INTEGER NOT NULL, "offset" BIGINT NOT NULL, "key" BLOB, "value" BLOB NOT NULL, ts BIGINT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS log_positions (grp VARCHAR NOT NULL, topic VARCHAR NOT NULL, "partition" INTEGER NOT NULL, next_offset BIGINT NOT NULL, PRIMARY KEY (grp, topic, "partition"))`,
  // One row the write probe replaces while the disk is refusing writes.
  `CREATE TABLE IF NOT EXISTS log_probe (id INTEGER PRIMARY KEY, probed_at BIGINT NOT NULL)`,
];

/** Backoff of the write probe and of consumers' retried reads and commits while the disk refuses writes. */
const STORAGE_RETRY = { initialMs: 100, maxMs: 2000 };

/** Free space the probe wants before it calls the log writable again (a checkpoint needs room too). */
const MIN_FREE_BYTES = 1024 * 1024;

interface PendingPublish {
  topic: string;
  messages: OutgoingMessage[];
}

const tpKey = (topic: string, partition: number) => `${topic}:${partition}`;

/** What one consumer batch reads at most unless its group says otherwise (ConsumeOptions.maxBatchBytes). */
const DEFAULT_BATCH_BYTES = 16 * 1024 * 1024;

export class EmbeddedLog implements Log {
  readonly kind = 'embedded' as const;
  private readonly topics = new Map<string, TopicSpec>();
  private readonly next = new Map<string, number>();
  private readonly writes = new SerialQueue();
  private readonly appended = new EventEmitter();
  private readonly group = new GroupCommit<PendingPublish>((publishes) => this.append(publishes));
  private closed = false;
  private roundRobin = 0;
  private readonly activeGroups = new Set<string>();
  private readonly consumers = new Set<EmbeddedConsumer>();
  private readonly closing = new AbortController();
  /** A write failed for want of disk; cleared by the probe once the disk takes writes again. */
  private failing = false;
  /** DuckDB invalidated the instance: the file is opened again before the next write. */
  private needsReopen = false;
  private recovering: Promise<void> | undefined;

  private readonly reads = new SerialQueue();

  private constructor(
    private readonly file: DuckDBFile,
    private readonly writer: FileConnection,
    private readonly reader: FileConnection,
    private readonly logger: Logger | undefined,
  ) {
    this.appended.setMaxListeners(0);
  }

  static async open(file: DuckDBFile, logger?: Logger): Promise<EmbeddedLog> {
    const writer = await file.connect();
    await writer.use(async (conn) => {
      for (const statement of DDL) await conn.run(statement);
    });
    const log = new EmbeddedLog(file, writer, await file.connect(), logger);
    await log.loadState();
    return log;
  }

  /** Topics and next offsets as the file holds them (at open, and after a reopen). */
  private async loadState(): Promise<void> {
    await this.writer.use(async (conn) => {
      const topics = await queryRows<{ topic: string; partitions: number; compacted: boolean }>(conn, 'SELECT * FROM log_topics');
      const ends = await queryRows<{ topic: string; partition: number; next: bigint }>(
        conn,
        `SELECT topic, "partition", max("offset") + 1 AS next FROM log_messages GROUP BY ALL`,
      );
      for (const row of topics) this.topics.set(row.topic, { ...this.topics.get(row.topic), topic: row.topic, partitions: row.partitions, compacted: row.compacted });
      this.next.clear();
      for (const row of ends) this.next.set(tpKey(row.topic, row.partition), Number(row.next));
    });
  }

  /** False while the disk refuses our writes (publishes fail; the ingest is not ready). */
  get writable(): boolean {
    return !this.failing;
  }

  /**
   * Runs a write in the writer's queue. A failure for want of disk marks the log not writable and
   * starts the probe; an invalidated instance is opened again (and the offsets read back) first
   * thing in the next write.
   */
  private write<T>(work: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    return this.writes.run(async () => {
      try {
        if (this.needsReopen) {
          await this.file.reopen();
          this.needsReopen = false;
          await this.loadState();
          this.logger?.info({ file: this.file.path }, 'embedded log opened again after DuckDB invalidated it');
        }
        return await this.writer.use(work);
      } catch (err) {
        this.noteFault(err);
        throw err;
      }
    });
  }

  /**
   * @internal A statement failed: when the disk is the reason, the log is not writable until the
   * probe commits a write with MIN_FREE_BYTES to spare. Only the probe says so: a small write that
   * fits in the last page of the WAL proves nothing about the next delivery.
   */
  noteFault(err: unknown): void {
    const fault = storageFault(err);
    if (!fault || this.closed) return;
    if (fault === 'invalidated') this.needsReopen = true;
    if (!this.failing) this.logger?.warn({ err: String(err), fault }, 'embedded log cannot write; not ready until the disk takes writes again');
    this.failing = true;
    this.startProbe();
  }

  private startProbe(): void {
    this.recovering ??= retry(() => this.probe(), { ...STORAGE_RETRY, signal: this.closing.signal })
      .then(
        () => this.logger?.info('embedded log: the disk takes writes again'),
        () => undefined,
      )
      .finally(() => {
        this.recovering = undefined;
        // A write failed again after the probe's own: probe again.
        if (this.failing && !this.closed) this.startProbe();
      });
  }

  private async probe(): Promise<void> {
    const { bavail, bsize } = await statfs(dirname(this.file.path));
    const free = Number(bavail) * Number(bsize);
    if (free < MIN_FREE_BYTES) throw new SessionflowError('STORAGE_UNAVAILABLE', `${free} bytes free`);
    await this.write(async (conn) => {
      await conn.run('INSERT OR REPLACE INTO log_probe VALUES (1, $1)', [BigInt(Date.now())]);
      // In the writer's queue: no other write's outcome comes between this one and the flag.
      this.failing = false;
    });
  }

  async createTopics(specs: TopicSpec[]): Promise<void> {
    await this.write(async (conn) => {
      for (const spec of specs) {
        if (this.topics.has(spec.topic)) continue;
        await conn.run('INSERT INTO log_topics VALUES ($1, $2, $3)', [spec.topic, spec.partitions, spec.compacted ?? false]);
        this.topics.set(spec.topic, { ...spec });
      }
    });
  }

  publish(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (this.closed) return Promise.reject(new SessionflowError('LOG_CLOSED'));
    if (!this.topics.has(topic)) return Promise.reject(new SessionflowError('LOG_UNAVAILABLE', `unknown topic ${topic}`));
    if (messages.length === 0) return Promise.resolve();
    // Group commit: everything published while the previous commit ran goes into one transaction.
    return this.group.submit({ topic, messages });
  }

  private async append(group: PendingPublish[]): Promise<void> {
    try {
      await this.write(() => this.appendNow(group));
    } catch (cause) {
      throw new SessionflowError('LOG_UNAVAILABLE', 'could not append to the embedded log', { cause });
    }
  }

  /** Inside write(): offsets are assigned from what the file holds, also right after a reopen. */
  private async appendNow(group: PendingPublish[]): Promise<void> {
    const topics: DuckDBValue[] = [];
    const partitions: DuckDBValue[] = [];
    const offsets: DuckDBValue[] = [];
    const keys: DuckDBValue[] = [];
    const values: DuckDBValue[] = [];
    const stamps: DuckDBValue[] = [];
    const assigned = new Map<string, number>();
    const now = BigInt(Date.now());
    for (const { topic, messages } of group) {
      const spec = this.topics.get(topic)!;
      for (const message of messages) {
        const partition = partitionFor(message.key, spec.partitions, this.roundRobin++);
        const key = tpKey(topic, partition);
        const offset = assigned.get(key) ?? this.next.get(key) ?? 0;
        assigned.set(key, offset + 1);
        topics.push(topic);
        partitions.push(partition);
        offsets.push(BigInt(offset));
        keys.push(message.key ? blobValue(message.key) : null);
        values.push(blobValue(message.value));
        stamps.push(now);
      }
    }
    await this.writer.use((conn) =>
      conn.run(
        `INSERT INTO log_messages SELECT unnest($1), unnest($2), unnest($3), unnest($4), unnest($5), unnest($6)`,
        [listValue(topics), listValue(partitions), listValue(offsets), listValue(keys), listValue(values), listValue(stamps)],
        { 1: LIST(VARCHAR), 2: LIST(INTEGER), 3: LIST(BIGINT), 4: LIST(BLOB), 5: LIST(BLOB), 6: LIST(BIGINT) },
      ),
    );
    for (const [key, next] of assigned) this.next.set(key, next);
    this.appended.emit('append');
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    if (this.closed) throw new SessionflowError('LOG_CLOSED');
    if (this.activeGroups.has(options.group)) {
      throw new SessionflowError('LOG_UNAVAILABLE', `group ${options.group} already has a consumer in this process`);
    }
    const assigned: TopicPartition[] = [];
    for (const topic of options.topics) {
      const spec = this.topics.get(topic);
      if (!spec) throw new SessionflowError('LOG_UNAVAILABLE', `unknown topic ${topic}`);
      for (let partition = 0; partition < spec.partitions; partition++) assigned.push({ topic, partition });
    }
    const positions = new Map<string, number>();
    for (const topic of options.topics) {
      for (const [key, offset] of await this.committedOffsets(options.group, topic)) positions.set(key, offset);
    }
    if (options.seek) {
      for (const [key, offset] of await options.seek(assigned)) positions.set(key, offset);
    }
    this.activeGroups.add(options.group);
    const consumer = new EmbeddedConsumer(this, await this.file.connect(), options, assigned, positions, () => {
      this.activeGroups.delete(options.group);
      this.consumers.delete(consumer);
    });
    this.consumers.add(consumer);
    consumer.start();
    return consumer;
  }

  /** @internal */
  endOffset(topic: string, partition: number): number {
    return this.next.get(tpKey(topic, partition)) ?? 0;
  }

  /** @internal */
  async read(conn: DuckDBConnection, topic: string, partition: number, from: number, limit: number, maxBytes = DEFAULT_BATCH_BYTES): Promise<LogRecord[]> {
    const rows = await queryRows<{ offset: bigint; key: Uint8Array | null; value: Uint8Array; ts: bigint }>(
      conn,
      `WITH page AS (
         SELECT "offset", "key", "value", ts, sum(octet_length("value")) OVER (ORDER BY "offset") AS upto
         FROM (SELECT * FROM log_messages WHERE topic = $1 AND "partition" = $2 AND "offset" >= $3 ORDER BY "offset" LIMIT $4)
       )
       SELECT "offset", "key", "value", ts FROM page WHERE upto - octet_length("value") < $5 ORDER BY "offset"`,
      [topic, partition, BigInt(from), limit, maxBytes],
    );
    return rows.map((row) => ({
      topic,
      partition,
      offset: Number(row.offset),
      key: row.key ? Buffer.from(row.key) : null,
      value: Buffer.from(row.value),
      timestamp: Number(row.ts),
    }));
  }

  /** @internal */
  commitPosition(group: string, topic: string, partition: number, nextOffset: number): Promise<void> {
    return this.write(async (conn) => {
      await conn.run('INSERT OR REPLACE INTO log_positions VALUES ($1, $2, $3, $4)', [group, topic, partition, BigInt(nextOffset)]);
    });
  }

  /** @internal Retries `work` while the disk is the reason it fails (a consumer's read or commit), until `signal` aborts. */
  retryStorage<T>(work: () => Promise<T>, signal: AbortSignal): Promise<T> {
    return retry(
      async () => {
        try {
          return await work();
        } catch (err) {
          if (!storageFault(err) || signal.aborted) bail(err);
          this.noteFault(err);
          throw err;
        }
      },
      { ...STORAGE_RETRY, signal },
    );
  }

  /** @internal Resolves on the next append, or after `ms`. */
  waitForAppend(ms: number, abort: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.appended.off('append', done);
        abort.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.appended.once('append', done);
      abort.addEventListener('abort', done, { once: true });
    });
  }

  async committedOffsets(group: string, topic: string): Promise<Map<string, number>> {
    const rows = await this.reads.run(() =>
      this.reader.use((conn) =>
        queryRows<{ partition: number; next_offset: bigint }>(conn, `SELECT "partition", next_offset FROM log_positions WHERE grp = $1 AND topic = $2`, [group, topic]),
      ),
    );
    return new Map(rows.map((row) => [tpKey(topic, row.partition), Number(row.next_offset)]));
  }

  async endOffsets(topic: string): Promise<Map<string, number>> {
    const spec = this.topics.get(topic);
    const result = new Map<string, number>();
    for (let partition = 0; partition < (spec?.partitions ?? 0); partition++) result.set(tpKey(topic, partition), this.endOffset(topic, partition));
    return result;
  }

  /**
   * Retention, as Kafka's but safe for the embedded case where every consumer is known: removes
   * messages older than `retentionMs` that every group with a position on their partition has
   * already consumed, and on compacted topics every message a newer one with the same key
   * replaces. The last message of a partition always stays, so offsets never go back.
   * Returns how many messages went.
   */
  prune(retentionMs: number): Promise<number> {
    return this.write(async (conn) => {
      const cutoff = BigInt(Date.now() - retentionMs);
      const removed = await queryRows<{ n: bigint }>(
        conn,
        `WITH doomed AS (
           SELECT m.topic, m."partition", m."offset" FROM log_messages m
           JOIN log_topics t USING (topic)
           WHERE m."offset" < (SELECT max(x."offset") FROM log_messages x WHERE x.topic = m.topic AND x."partition" = m."partition")
             AND (
               (m.ts < $1 AND m."offset" < (SELECT coalesce(min(p.next_offset), 0) FROM log_positions p WHERE p.topic = m.topic AND p."partition" = m."partition"))
               OR (t.compacted AND m."key" IS NOT NULL AND EXISTS (
                 SELECT 1 FROM log_messages y WHERE y.topic = m.topic AND y."partition" = m."partition" AND y."key" = m."key" AND y."offset" > m."offset"))
             )
         )
         DELETE FROM log_messages d USING doomed
         WHERE d.topic = doomed.topic AND d."partition" = doomed."partition" AND d."offset" = doomed."offset"
         RETURNING 1 AS n`,
        [cutoff],
      );
      return removed.length;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.consumers].map((c) => c.stop()));
    this.closed = true;
    this.closing.abort(new SessionflowError('LOG_CLOSED'));
    await this.recovering;
    await this.group.idle();
    await this.writes.idle();
    this.writer.closeSync();
    this.reader.closeSync();
  }
}

/** Rethrows `err` unless the consumer is stopping (then undefined: the loop ends). */
function stopped(signal: AbortSignal): (err: unknown) => undefined {
  return (err) => {
    if (signal.aborted) return undefined;
    throw err;
  };
}

class EmbeddedConsumer implements Consumer {
  private readonly abort = new AbortController();
  private resolveDone!: () => void;
  private rejectDone!: (err: unknown) => void;
  readonly done: Promise<void>;

  constructor(
    private readonly log: EmbeddedLog,
    private readonly conn: FileConnection,
    private readonly options: ConsumeOptions,
    private readonly assigned: TopicPartition[],
    private readonly positions: Map<string, number>,
    private readonly onStop: () => void,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => undefined);
  }

  start(): void {
    this.loop().then(
      () => {
        this.conn.closeSync();
        this.onStop();
        this.resolveDone();
      },
      (err: unknown) => {
        this.conn.closeSync();
        this.onStop();
        this.rejectDone(err);
      },
    );
  }

  private async loop(): Promise<void> {
    const limit = this.options.maxBatchSize ?? 500;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let worked = false;
      for (const { topic, partition } of this.assigned) {
        if (signal.aborted) break;
        const key = tpKey(topic, partition);
        const from = this.positions.get(key) ?? 0;
        if (this.log.endOffset(topic, partition) <= from) continue;
        // A full disk does not stop a consumer: reads and the position commit are retried.
        const records = await this.log.retryStorage(() => this.conn.use((conn) => this.log.read(conn, topic, partition, from, limit, this.options.maxBatchBytes)), signal).catch(stopped(signal));
        if (!records || records.length === 0) continue;
        await this.options.eachBatch({ topic, partition, records });
        const nextOffset = records[records.length - 1]!.offset + 1;
        // Stopped before the commit: the batch is handled again after a restart (stages are idempotent).
        if ((await this.log.retryStorage(() => this.log.commitPosition(this.options.group, topic, partition, nextOffset), signal).then(() => true, stopped(signal))) !== true) break;
        this.positions.set(key, nextOffset);
        worked = true;
      }
      if (!worked) await this.log.waitForAppend(1000, signal);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done.catch(() => undefined);
  }
}
