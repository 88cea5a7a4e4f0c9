/**
 * Group commit: what is submitted while a commit is in flight goes into the next one, so many
 * concurrent callers share one DuckDB transaction, one fsync or one produce request. Each
 * caller's promise settles with the commit its item went into.
 */
interface Entry<T> {
  item: T;
  weight: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions<T> {
  /** Upper bound on the summed weight of one commit (an item heavier than that goes alone). */
  maxWeight?: number;
  weigh?: (item: T) => number;
}

export class GroupCommit<T> {
  private pending: Entry<T>[] = [];
  private running: Promise<void> | undefined;

  constructor(
    private readonly commit: (items: T[]) => Promise<void>,
    private readonly options: GroupCommitOptions<T> = {},
  ) {}

  submit(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, weight: this.options.weigh?.(item) ?? 1, resolve, reject });
      this.running ??= this.drain();
    });
  }

  /** Settles when everything submitted so far has been committed (or refused). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    const limit = this.options.maxWeight ?? Infinity;
    try {
      while (this.pending.length > 0) {
        let [weight, take] = [0, 0];
        while (take < this.pending.length && (take === 0 || weight + this.pending[take]!.weight <= limit)) weight += this.pending[take++]!.weight;
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
