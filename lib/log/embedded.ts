/**
 * The embedded log: Kafka's model (topics, partitions, offsets, consumer-group positions) stored
 * as Kafka stores its own, for `npm start` with no other service (DESIGN section 2):
 *
 *   DATA_DIR/log/LOCK                                 the process that has it open (dir-lock.ts)
 *   DATA_DIR/log/topics/<topic>/topic.json            partitions, compacted, maxMessageBytes
 *   DATA_DIR/log/topics/<topic>/<partition>/<base>.log  append-only segments of CRC frames (frame.ts)
 *   DATA_DIR/log/groups/<group>.json                  consumer positions (positions.ts)
 *   DATA_DIR/log/registry.json                        the embedded schema registry
 *   DATA_DIR/log/corrupt/                             bad stretches of segments, set aside at open
 *
 * Appends are group-committed: everything published while a write and fdatasync are in flight
 * goes into the next, one write and one fdatasync per touched segment file; a publish resolves
 * only after its fdatasync. A failed or short write (a full disk) cuts the files back to their
 * last good size and refuses that group (LOG_UNAVAILABLE); the next publish tries again.
 */
import {
  ftruncate,
  ftruncateSync,
  fdatasync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statfs,
  writeSync,
  existsSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fsyncDir, writeFileAtomicSync } from '../atomic-file.js';
import { SerialQueue } from '../duckdb.js';
import { SessionflowError } from '../errors.js';
import { GroupCommit } from '../group-commit.js';
import type { Logger } from '../logger.js';
import { lockDir } from './dir-lock.js';
import { EmbeddedConsumer, type ConsumerSource } from './embedded-consumer.js';
import { frameSize, type Frame } from './frame.js';
import { Partition, type Damage } from './partition.js';
import { GroupPositions } from './positions.js';
import {
  partitionFor,
  tpKey,
  type ConsumeOptions,
  type Consumer,
  type Log,
  type LogCapabilities,
  type OutgoingMessage,
  type TopicPartition,
  type TopicSpec,
} from './types.js';

const fdatasyncP = promisify(fdatasync);
const ftruncateP = promisify(ftruncate);

export interface EmbeddedLogOptions {
  /** A segment is closed and a new one started past this size (Kafka's segment.bytes); 64 MiB. */
  segmentBytes?: number;
  /** Upper bound on the bytes of one group commit; 16 MiB. */
  maxCommitBytes?: number;
  /** Where damage found at open, and a disk that refuses writes, are reported (counts and places, never contents). */
  logger?: Pick<Logger, 'warn'> & Partial<Pick<Logger, 'info'>>;
}

interface Topic {
  spec: TopicSpec;
  partitions: Partition[];
}

interface PendingPublish {
  topic: Topic;
  messages: OutgoingMessage[];
  partitions: number[];
  bytes: number;
}

interface Append {
  partition: Partition;
  buf: Buffer;
  frames: Array<[number, number, number, number]>;
}

/** Free bytes the log's filesystem needs before a log that ran out of room takes deliveries again. */
const ROOM_TO_RESUME = 8 * 1024 * 1024;
/** Kafka's rule for topic names, which also keeps them safe as folder names. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

export class EmbeddedLog implements Log {
  readonly kind = 'embedded' as const;
  /** Locked to this process; publishes are local writes. */
  readonly capabilities: LogCapabilities = Object.freeze({ shared: false, remote: false });
  private readonly topics = new Map<string, Topic>();
  private readonly group: GroupCommit<PendingPublish>;
  private readonly waiters = new Set<() => void>();
  private readonly activeGroups = new Set<string>();
  private readonly consumers = new Set<EmbeddedConsumer>();
  private readonly maintenance = new SerialQueue();
  private readonly segmentBytes: number;
  private closed = false;
  private roundRobin = 0;
  /** Set when the disk refused an append; cleared by the next append that works. */
  private refused: NodeJS.Timeout | undefined;

  private constructor(
    readonly dir: string,
    private readonly positions: GroupPositions,
    private readonly release: () => void,
    private readonly options: EmbeddedLogOptions,
  ) {
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    this.group = new GroupCommit((publishes) => this.commit(publishes), {
      maxWeight: options.maxCommitBytes ?? 16 * 1024 * 1024,
      weigh: (p) => p.bytes,
    });
  }

  /** Opens (or creates) the log in `dir`, checking every frame of every segment (recover.ts). */
  static async open(dir: string, options: EmbeddedLogOptions = {}): Promise<EmbeddedLog> {
    mkdirSync(join(dir, 'topics'), { recursive: true });
    const release = lockDir(dir);
    try {
      const log = new EmbeddedLog(dir, GroupPositions.load(join(dir, 'groups')), release, options);
      const damage = damageReporter(dir, options.logger);
      for (const name of readdirSync(join(dir, 'topics'))) {
        const topicDir = join(dir, 'topics', name);
        const meta = join(topicDir, 'topic.json');
        if (!existsSync(meta)) continue; // a creation cut short before any publish
        const spec = { topic: name, ...(JSON.parse(readFileSync(meta, 'utf8')) as Omit<TopicSpec, 'topic'>) };
        const partitions = Array.from({ length: spec.partitions }, (_, p) =>
          Partition.open(join(topicDir, String(p)), damage),
        );
        log.topics.set(name, { spec, partitions });
      }
      return log;
    } catch (err) {
      release();
      throw err;
    }
  }

  async createTopics(specs: TopicSpec[]): Promise<void> {
    if (this.closed) throw new SessionflowError('LOG_CLOSED');
    for (const spec of specs) {
      if (!TOPIC_NAME.test(spec.topic) || spec.topic === '.' || spec.topic === '..')
        throw new SessionflowError('CONFIG_INVALID', `not a valid topic name: ${spec.topic}`);
      const topicDir = join(this.dir, 'topics', spec.topic);
      const existing = this.topics.get(spec.topic);
      // An existing topic keeps its partitions (keys would move); its limits follow the configuration.
      const meta = {
        partitions: existing?.spec.partitions ?? spec.partitions,
        compacted: spec.compacted ?? false,
        ...(spec.maxMessageBytes && { maxMessageBytes: spec.maxMessageBytes }),
      };
      if (existing) {
        if (existing.spec.compacted === meta.compacted && existing.spec.maxMessageBytes === meta.maxMessageBytes)
          continue;
        writeFileAtomicSync(join(topicDir, 'topic.json'), JSON.stringify(meta));
        existing.spec = { topic: spec.topic, ...meta };
        continue;
      }
      const partitions = Array.from({ length: meta.partitions }, (_, p) => Partition.create(join(topicDir, String(p))));
      writeFileAtomicSync(join(topicDir, 'topic.json'), JSON.stringify(meta));
      fsyncDir(topicDir);
      fsyncDir(join(this.dir, 'topics'));
      this.topics.set(spec.topic, { spec: { topic: spec.topic, ...meta }, partitions });
    }
  }

  publish(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (this.closed) return Promise.reject(new SessionflowError('LOG_CLOSED'));
    const t = this.topics.get(topic);
    if (!t) return Promise.reject(new SessionflowError('LOG_UNAVAILABLE', `unknown topic ${topic}`));
    if (messages.length === 0) return Promise.resolve();
    const partitions = messages.map((m) => partitionFor(m.key, t.spec.partitions, this.roundRobin++));
    const perPartition = new Map<number, number>();
    let bytes = 0;
    for (const [i, m] of messages.entries()) {
      const size = frameSize(m.key, m.value);
      bytes += size;
      perPartition.set(partitions[i]!, (perPartition.get(partitions[i]!) ?? 0) + size);
    }
    // As Kafka refuses a record batch over the topic's max.message.bytes (one batch per partition).
    const limit = t.spec.maxMessageBytes;
    if (limit && [...perPartition.values()].some((n) => n > limit)) {
      return Promise.reject(
        new SessionflowError('BODY_TOO_LARGE', `a message is larger than ${topic} accepts (maxMessageBytes ${limit})`),
      );
    }
    return this.group.submit({ topic: t, messages, partitions, bytes });
  }

  private async commit(group: PendingPublish[]): Promise<void> {
    const byPartition = new Map<Partition, OutgoingMessage[]>();
    for (const { topic, messages, partitions } of group) {
      for (const [i, m] of messages.entries()) {
        const partition = topic.partitions[partitions[i]!]!;
        (byPartition.get(partition) ?? byPartition.set(partition, []).get(partition)!).push(m);
      }
    }
    const now = Date.now();
    await this.append(
      [...byPartition].map(([partition, messages]) => ({ partition, ...partition.encode(messages, now) })),
    );
  }

  /** Writes and fdatasyncs each partition's frames (concurrently); all or none become visible. */
  private async append(appends: Append[]): Promise<void> {
    try {
      for (const a of appends) {
        if (a.partition.dirty) {
          ftruncateSync(a.partition.active.fd!, a.partition.active.size);
          a.partition.dirty = false;
        }
        const { size } = a.partition.active;
        if (size > 0 && size + a.buf.length > this.segmentBytes) a.partition.roll();
      }
    } catch (cause) {
      throw new SessionflowError('LOG_UNAVAILABLE', 'could not prepare the embedded log for an append', { cause });
    }
    const results = await Promise.allSettled(
      appends.map((a) => writeDurably(a.partition.active.fd!, a.buf, a.partition.active.size)),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      // Back to the last good size, so what was refused is never read nor found at the next open.
      await Promise.all(
        appends.map((a) =>
          ftruncateP(a.partition.active.fd!, a.partition.active.size)
            .then(
              () => fdatasyncP(a.partition.active.fd!),
              () => {
                a.partition.dirty = true;
              },
            )
            .catch(() => undefined),
        ),
      );
      this.watchForRoom();
      throw new SessionflowError('LOG_UNAVAILABLE', 'could not append to the embedded log', { cause: failed.reason });
    }
    this.roomAgain();
    for (const a of appends) a.partition.appended(a.frames);
    // Consumers are woken after the publishers' continuations: a delivery's 2xx goes out before
    // normalize and the warehouse start on it in the same process.
    setImmediate(() => {
      for (const wake of [...this.waiters]) wake();
    });
  }

  get writable(): boolean {
    return this.refused === undefined;
  }

  /**
   * After a refused append: not writable until the log's filesystem has ROOM_TO_RESUME free
   * again (looked at every second), so the ingest answers 503 meanwhile rather than try each
   * delivery against a full disk. A write that works in the meantime clears it too.
   */
  private watchForRoom(): void {
    if (this.refused || this.closed) return;
    this.options.logger?.warn(
      { dir: this.dir },
      'embedded log: the disk refused a write; deliveries get 503 until it has room again',
    );
    const look = () =>
      statfs(this.dir, (err, stats) => {
        if (!this.refused) return;
        if (!err && Number(stats.bavail) * Number(stats.bsize) >= ROOM_TO_RESUME) this.roomAgain();
        else this.refused = setTimeout(look, 1000).unref();
      });
    this.refused = setTimeout(look, 1000).unref();
  }

  private roomAgain(): void {
    if (!this.refused) return;
    clearTimeout(this.refused);
    this.refused = undefined;
    this.options.logger?.info?.({ dir: this.dir }, 'embedded log: the disk takes writes again');
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    if (this.closed) throw new SessionflowError('LOG_CLOSED');
    if (this.activeGroups.has(options.group)) {
      throw new SessionflowError('LOG_UNAVAILABLE', `group ${options.group} already has a consumer in this process`);
    }
    const assigned: TopicPartition[] = [];
    for (const topic of options.topics) {
      const t = this.topics.get(topic);
      if (!t) throw new SessionflowError('LOG_UNAVAILABLE', `unknown topic ${topic}`);
      for (let partition = 0; partition < t.spec.partitions; partition++) assigned.push({ topic, partition });
    }
    const positions = new Map<string, number>();
    for (const topic of options.topics)
      for (const [key, offset] of this.positions.of(options.group, topic)) positions.set(key, offset);
    if (options.seek) for (const [key, offset] of await options.seek(assigned)) positions.set(key, offset);
    this.activeGroups.add(options.group);
    const consumer = new EmbeddedConsumer(this.source, options, assigned, positions, () => {
      this.activeGroups.delete(options.group);
      this.consumers.delete(consumer);
    });
    this.consumers.add(consumer);
    consumer.start();
    return consumer;
  }

  /** @internal For the migration of an older log (migrate-duckdb.ts); consumers commit through their source. */
  commitPosition(group: string, topic: string, partition: number, nextOffset: number): Promise<void> {
    return this.positions.commit(group, tpKey(topic, partition), nextOffset).catch((cause: unknown) => {
      throw new SessionflowError('LOG_UNAVAILABLE', `could not store the position of ${group}`, { cause });
    });
  }

  /** What the consumers see of the log (embedded-consumer.ts). */
  private readonly source: ConsumerSource = {
    endOffset: (topic, partition) => this.topics.get(topic)?.partitions[partition]?.nextOffset ?? 0,
    read: (topic, partition, from, maxRecords, maxBytes, cursor) => {
      const p = this.topics.get(topic)?.partitions[partition];
      if (!p) return { frames: [] };
      try {
        return p.read(from, maxRecords, maxBytes, cursor);
      } catch (cause) {
        const where = `${tpKey(topic, partition)} at offset ${from}`;
        throw new SessionflowError('LOG_UNAVAILABLE', `could not read ${where}`, { cause });
      }
    },
    commitPosition: (group, topic, partition, nextOffset) => this.commitPosition(group, topic, partition, nextOffset),
    waitForAppend: (ms, abort) =>
      new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          abort.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        this.waiters.add(done);
        abort.addEventListener('abort', done, { once: true });
      }),
  };

  async committedOffsets(group: string, topic: string): Promise<Map<string, number>> {
    return this.positions.of(group, topic);
  }

  async endOffsets(topic: string): Promise<Map<string, number>> {
    const t = this.topics.get(topic);
    return new Map((t?.partitions ?? []).map((p, i) => [tpKey(topic, i), p.nextOffset]));
  }

  /**
   * Retention, as Kafka's but safe where every consumer is known: deletes whole closed segments
   * older than `retentionMs` whose records every group with a position on that partition has
   * consumed (none when no group has one), and compacts the closed segments of compacted topics
   * (latest record per key). The active segment always stays, so offsets never go back.
   * Returns how many records went.
   */
  prune(retentionMs: number): Promise<number> {
    return this.maintenance.run(async () => {
      if (this.closed) return 0;
      const cutoff = Date.now() - retentionMs;
      let removed = 0;
      for (const [name, t] of this.topics) {
        for (const [i, p] of t.partitions.entries()) {
          const low = this.positions.lowest(tpKey(name, i));
          if (low !== undefined) removed += p.deleteConsumed(low, cutoff);
          if (t.spec.compacted && p.compactedAt !== p.nextOffset) {
            const at = p.nextOffset;
            removed += await p.compact();
            p.compactedAt = at;
          }
        }
      }
      return removed;
    });
  }

  /**
   * Erases in place every record `match` picks, in every topic (sessionflow erase, DESIGN section
   * 9): see Partition.erase. Runs between group commits; returns how many records went.
   */
  erase(match: (topic: string, frame: { key: Buffer | null; value: Buffer }) => boolean): Promise<number> {
    return this.maintenance.run(async () => {
      if (this.closed) throw new SessionflowError('LOG_CLOSED');
      let erased = 0;
      try {
        for (const [name, t] of this.topics)
          for (const p of t.partitions) erased += p.erase((frame) => match(name, frame));
      } catch (cause) {
        throw new SessionflowError('LOG_UNAVAILABLE', 'could not erase records of the embedded log', { cause });
      }
      return erased;
    });
  }

  expire(topics: readonly string[], cutoffMs: number): Promise<number> {
    return this.maintenance.run(async () => {
      if (this.closed) return 0;
      let expired = 0;
      for (const name of topics) {
        for (const [i, p] of (this.topics.get(name)?.partitions ?? []).entries()) {
          const low = this.positions.lowest(tpKey(name, i));
          if (low === undefined) continue; // nobody has read it: what is not consumed stays
          expired += p.erase((frame) => frame.offset < low && frame.timestamp < cutoffMs);
        }
      }
      return expired;
    });
  }

  /**
   * @internal For the migration of an older log: appends records with their own offsets and
   * timestamps (ascending, past the partition's end), durably.
   */
  async importRecords(topic: string, partition: number, records: Array<Frame>): Promise<void> {
    const p = this.topics.get(topic)?.partitions[partition];
    if (!p) throw new SessionflowError('LOG_UNAVAILABLE', `unknown topic ${topic}`);
    if (records.length === 0) return;
    if (p.nextOffset === 0 && p.active.records === 0 && records[0]!.offset > 0) p.startAt(records[0]!.offset);
    await this.group.idle();
    await this.append([{ partition: p, ...p.encode(records, Date.now()) }]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.consumers].map((c) => c.stop()));
    this.closed = true;
    clearTimeout(this.refused);
    await this.group.idle();
    await this.maintenance.idle();
    await this.positions.idle();
    for (const t of this.topics.values()) for (const p of t.partitions) p.close();
    this.release();
  }
}

/**
 * All of `buf` at `position` (a short write is continued; a full disk then fails), then fdatasync.
 * The write goes to the page cache on this thread: that takes microseconds, less than handing it
 * to the thread pool costs this thread. Only the fdatasync, which waits for the disk, goes there.
 */
async function writeDurably(fd: number, buf: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buf.length; ) {
    const n = writeSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw Object.assign(new Error('no space left on device (a write took nothing)'), { code: 'ENOSPC' });
    done += n;
  }
  await fdatasyncP(fd);
}

/** Bad stretches found at open go to DATA_DIR/log/corrupt/, each under a name of its own. */
function damageReporter(dir: string, logger: EmbeddedLogOptions['logger']): Damage {
  const corrupt = join(dir, 'corrupt');
  return {
    setAside(segment, position, bytes) {
      mkdirSync(corrupt, { recursive: true });
      const name = `${segment.slice(join(dir, 'topics').length + 1).replaceAll('/', '_')}@${position}.${Date.now()}.bad`;
      writeFileAtomicSync(join(corrupt, name), bytes);
      fsyncDir(corrupt);
    },
    report({ segment, cutBytes, regions, asideBytes }) {
      const where = segment.slice(dir.length + 1);
      const fields = { segment: where, cutBytes, regions, asideBytes, ...(regions > 0 && { asideIn: corrupt }) };
      const message =
        regions > 0
          ? 'embedded log: bad frames set aside at open; the frames after them are kept'
          : 'embedded log: cut a torn tail at open (an append a crash interrupted, never acknowledged)';
      if (logger) logger.warn(fields, message);
      else process.emitWarning(`${message} ${JSON.stringify(fields)}`);
    },
  };
}
