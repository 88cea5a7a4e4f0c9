/**
 * Group commit: what is submitted while a commit is in flight goes into the next one, so many
 * concurrent callers share one DuckDB transaction, one fsync or one produce request. Each
 * caller's promise settles with the commit its item went into.
 */
interface Entry<T> {
  item: T;
  weight: number;
  cap: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions<T> {
  /**
   * Upper bound on the summed weight of one commit (an item heavier than that goes alone). As a
   * function it is each item's own bound, and a commit stays under the smallest bound of its items
   * (a Kafka topic's max.message.bytes).
   */
  maxWeight?: number | ((item: T) => number);
  /** An item's weight, e.g. its bytes: memory and request sizes are bounded by bytes, not counts. */
  weigh?: (item: T) => number;
  /**
   * A commit starts no sooner than this after the previous one started (0 by default): what is
   * submitted meanwhile shares it. For commits whose cost, not their latency, matters (consumer
   * positions). `idle()` starts a waiting commit at once.
   */
  minIntervalMs?: number;
}

export class GroupCommit<T> {
  private pending: Entry<T>[] = [];
  private running: Promise<void> | undefined;
  private lastStart = -Infinity;
  /** Ends the pause before the next commit (set while one is pausing). */
  private hurry: (() => void) | undefined;

  constructor(
    private readonly commit: (items: T[]) => Promise<void>,
    private readonly options: GroupCommitOptions<T> = {},
  ) {}

  submit(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      const { maxWeight = Infinity, weigh } = this.options;
      this.pending.push({
        item,
        weight: weigh?.(item) ?? 1,
        cap: typeof maxWeight === 'function' ? maxWeight(item) : maxWeight,
        resolve,
        reject,
      });
      this.running ??= this.drain();
    });
  }

  /** Settles when everything submitted so far has been committed (or refused). */
  async idle(): Promise<void> {
    while (this.running) {
      this.hurry?.();
      await this.running;
    }
  }

  /** Waits out what is left of minIntervalMs since the previous commit started, unless hurried. */
  private pause(): Promise<void> | undefined {
    const wait = this.lastStart + (this.options.minIntervalMs ?? 0) - performance.now();
    if (wait <= 0) return undefined;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, wait);
      this.hurry = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => (this.hurry = undefined));
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const pause = this.pause();
        if (pause) await pause;
        this.lastStart = performance.now();
        let [weight, take, cap] = [0, 0, Infinity];
        for (; take < this.pending.length; take++) {
          const next = this.pending[take]!;
          const nextCap = Math.min(cap, next.cap);
          if (take > 0 && weight + next.weight > nextCap) break;
          [weight, cap] = [weight + next.weight, nextCap];
        }
        const group = this.pending.splice(0, take);
        try {
          await this.commit(group.map((e) => e.item));
        } catch (err) {
          for (const e of group) e.reject(err);
          continue;
        }
        for (const e of group) e.resolve();
      }
    } finally {
      this.running = undefined;
    }
  }
}
