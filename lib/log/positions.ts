/**
 * Consumer-group positions of the embedded log: per group a small JSON file under `groups/`,
 * replaced atomically (atomic-file.ts). A group's file is written at most every
 * WRITE_INTERVAL_MS: the commits of that time share one write, so a busy consumer pays for a few
 * writes a second, not one per batch. A kill -9 can lose the last interval's positions; those
 * records are read again, which every consumer of the log is built to take (DESIGN section 8),
 * as after a Kafka consumer's auto-commit interval.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { GroupCommit } from '../group-commit.js';

/** How often at most a group's positions file is written (Kafka's consumers commit every 5 s by default). */
const WRITE_INTERVAL_MS = 250;

interface GroupFile {
  group: string;
  /** Next offset to read, by `tpKey`. */
  positions: Record<string, number>;
}

/** A file name for any group name (Kafka allows any string): readable when it can be, else hashed. */
function fileOf(group: string): string {
  const safe = encodeURIComponent(group);
  return safe.length <= 200 ? `${safe}.json` : `${createHash('sha256').update(group).digest('hex')}.json`;
}

export class GroupPositions {
  private readonly groups = new Map<string, Map<string, number>>();
  private readonly writers = new Map<string, GroupCommit<void>>();

  private constructor(private readonly dir: string) {}

  static load(dir: string): GroupPositions {
    mkdirSync(dir, { recursive: true });
    const store = new GroupPositions(dir);
    for (const name of readdirSync(dir)) {
      if (!name.endsWith('.json')) continue;
      const file = JSON.parse(readFileSync(join(dir, name), 'utf8')) as GroupFile;
      store.groups.set(file.group, new Map(Object.entries(file.positions)));
    }
    return store;
  }

  /** The group's positions on `topic`'s partitions, by `tpKey`. */
  of(group: string, topic: string): Map<string, number> {
    const prefix = `${topic}:`;
    return new Map(
      [...(this.groups.get(group) ?? [])].filter(
        ([key]) => key.startsWith(prefix) && !key.slice(prefix.length).includes(':'),
      ),
    );
  }

  /** The lowest position any group has on the partition, or undefined when no group has one. */
  lowest(key: string): number | undefined {
    let low: number | undefined;
    for (const positions of this.groups.values()) {
      const p = positions.get(key);
      if (p !== undefined && (low === undefined || p < low)) low = p;
    }
    return low;
  }

  /** Sets the position and resolves once the group's file holds it. */
  commit(group: string, key: string, next: number): Promise<void> {
    const positions = this.groups.get(group) ?? this.groups.set(group, new Map()).get(group)!;
    positions.set(key, next);
    let writer = this.writers.get(group);
    if (!writer) {
      const path = join(this.dir, fileOf(group));
      writer = new GroupCommit<void>(
        () => {
          const file: GroupFile = { group, positions: Object.fromEntries(this.groups.get(group)!) };
          return writeFileAtomic(path, JSON.stringify(file));
        },
        { minIntervalMs: WRITE_INTERVAL_MS },
      );
      this.writers.set(group, writer);
    }
    return writer.submit();
  }

  async idle(): Promise<void> {
    await Promise.all([...this.writers.values()].map((w) => w.idle()));
  }
}
