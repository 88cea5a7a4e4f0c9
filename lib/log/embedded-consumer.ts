/**
 * A consumer of the embedded log: one per group per process, reading every partition of its
 * topics in turn, one bounded batch at a time, and woken by appends (no polling delay).
 */
import { retry } from '../retry.js';
import type { Frame } from './frame.js';
import type { ReadCursor } from './partition.js';
import { tpKey, type ConsumeOptions, type Consumer, type LogRecord, type TopicPartition } from './types.js';

/** What one batch reads at most unless its group says otherwise (ConsumeOptions.maxBatchBytes). */
const DEFAULT_BATCH_BYTES = 16 * 1024 * 1024;
const DEFAULT_BATCH_SIZE = 500;

/**
 * All a consumer sees of the embedded log: its partitions' ends and records, the stored group
 * positions, and a wake-up on append. EmbeddedLog.consume hands each consumer one.
 */
export interface ConsumerSource {
  /** Next offset to be written to the partition. */
  endOffset(topic: string, partition: number): number;
  /** Records of one partition from `from` on, within the bounds; `cursor` goes on from the previous read. */
  read(
    topic: string,
    partition: number,
    from: number,
    maxRecords: number,
    maxBytes: number,
    cursor?: ReadCursor,
  ): { frames: Frame[]; cursor?: ReadCursor };
  /** Stores the group's next offset on the partition; resolves once it is on disk. */
  commitPosition(group: string, topic: string, partition: number, nextOffset: number): Promise<void>;
  /** Resolves on the next append (or after `ms`, or on abort). */
  waitForAppend(ms: number, abort: AbortSignal): Promise<void>;
}

export class EmbeddedConsumer implements Consumer {
  private readonly abort = new AbortController();
  private readonly cursors = new Map<string, ReadCursor>();
  private lastCommit: { topic: string; partition: number; nextOffset: number; stored: Promise<void> } | undefined;
  private resolveDone!: () => void;
  private rejectDone!: (err: unknown) => void;
  readonly done: Promise<void>;

  constructor(
    private readonly source: ConsumerSource,
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
        this.onStop();
        this.resolveDone();
      },
      (err: unknown) => {
        this.onStop();
        this.rejectDone(err);
      },
    );
  }

  private async loop(): Promise<void> {
    const limit = this.options.maxBatchSize ?? DEFAULT_BATCH_SIZE;
    const maxBytes = this.options.maxBatchBytes ?? DEFAULT_BATCH_BYTES;
    while (!this.abort.signal.aborted) {
      let worked = false;
      for (const { topic, partition } of this.assigned) {
        if (this.abort.signal.aborted) break;
        const key = tpKey(topic, partition);
        const from = this.positions.get(key) ?? 0;
        if (this.source.endOffset(topic, partition) <= from) continue;
        const { frames, cursor } = this.source.read(topic, partition, from, limit, maxBytes, this.cursors.get(key));
        if (frames.length === 0) continue;
        // Copies: a record kept by a handler must not keep the whole chunk it was read in alive.
        const records: LogRecord[] = frames.map((f) => ({
          topic,
          partition,
          offset: f.offset,
          key: f.key && Buffer.from(f.key),
          value: Buffer.from(f.value),
          timestamp: f.timestamp,
        }));
        await this.options.eachBatch({ topic, partition, records });
        const nextOffset = records.at(-1)!.offset + 1;
        this.positions.set(key, nextOffset);
        // Stored in the background (commits meanwhile share one write): the next batch need not wait for it.
        this.lastCommit = {
          topic,
          partition,
          nextOffset,
          stored: this.source.commitPosition(this.options.group, topic, partition, nextOffset),
        };
        this.lastCommit.stored.catch(() => undefined);
        if (cursor) this.cursors.set(key, cursor);
        worked = true;
      }
      // Nothing to read: checked without awaiting anything, so no append can slip in before the wait.
      if (!worked) await this.source.waitForAppend(5000, this.abort.signal);
      // A backlog and a handler that never waits on I/O must not keep the rest of the process waiting.
      else await new Promise((resolve) => setImmediate(resolve));
    }
    await this.positionsStored();
  }

  /** Before stopping: the last position is stored, retried a few times if the disk refused it. */
  private async positionsStored(): Promise<void> {
    const last = this.lastCommit;
    if (!last) return;
    await last.stored.catch(() =>
      retry(() => this.source.commitPosition(this.options.group, last.topic, last.partition, last.nextOffset), {
        initialMs: 100,
        maxMs: 1000,
        attempts: 5,
      }),
    );
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done.catch(() => undefined);
  }
}
