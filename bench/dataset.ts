/**
 * What the benchmark reads back, the way analysts read it: the Parquet dataset through
 * `openDataset` (processors/warehouse/query.ts), polled while the product runs; and the files
 * of the dataset on disk, counted per partition.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openDataset, type Dataset } from '../processors/warehouse/query.js';
import { sqlString } from '../lib/duckdb.js';
import * as field from '../lib/record.js';

export { openDataset, type Dataset };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Stored {
  /** Rows of session_events received since the instant asked for. */
  events: number;
  /** Distinct deliveries (ingest ids) those rows came from. */
  deliveries: number;
}

/** Events stored in Parquet whose received_at is at or after `sinceMs` (epoch ms). */
export async function storedSince(dataset: Dataset, sinceMs: number): Promise<Stored> {
  const { rows } = await dataset.query(
    `SELECT count(*), count(DISTINCT ingest_id) FROM session_events WHERE received_at >= to_timestamp(${(sinceMs / 1000).toFixed(3)})`,
  );
  const [events, deliveries] = rows[0] as [number | bigint, number | bigint];
  return { events: Number(events), deliveries: Number(deliveries) };
}

/**
 * Polls until the deliveries (or the events, `what`) received since `sinceMs` in Parquet reach `deliveries`, or the
 * time is up; returns what was stored and when (performance.now()) it was first seen complete.
 */
export async function waitForDeliveries(
  dataset: Dataset,
  sinceMs: number,
  deliveries: number,
  timeoutMs: number,
  pollMs = 100,
  what: keyof Stored = 'deliveries',
): Promise<Stored & { at: number; complete: boolean }> {
  const deadline = performance.now() + timeoutMs;
  let last: Stored = { events: 0, deliveries: 0 };
  for (;;) {
    try {
      last = await storedSince(dataset, sinceMs);
    } catch {
      // A file replaced under the reader twice in a row: look again.
    }
    const at = performance.now();
    if (last[what] >= deliveries) return { ...last, at, complete: true };
    if (at >= deadline) return { ...last, at, complete: false };
    await sleep(pollMs);
  }
}

/** Which of `sessionKeys` have a fact in Parquet now (Zoom sessions started since yesterday). */
export async function factsPresent(dataset: Dataset, sessionKeys: readonly string[]): Promise<Set<string>> {
  if (sessionKeys.length === 0) return new Set();
  const keys = await dataset.read(
    `SELECT session_key FROM session_facts
     WHERE provider = 'zoom' AND "date" >= current_date - 1 AND session_key IN (${sessionKeys.map(sqlString).join(',')})`,
    (row) => row.get('session_key', field.string),
  );
  return new Set(keys);
}

export interface FileCounts {
  /** Per table: partitions, the most files in one partition, and all files. */
  [table: string]: { partitions: number; maxFiles: number; files: number };
}

/** Counts the visible Parquet files (not the hidden temporaries) of every partition of the dataset. */
export async function countFiles(dataDir: string): Promise<FileCounts> {
  const root = join(dataDir, 'parquet');
  const counts: FileCounts = {};
  const list = async (dir: string) => {
    try {
      return await readdir(dir, { withFileTypes: true });
    } catch {
      return [];
    }
  };
  for (const table of await list(root)) {
    if (!table.isDirectory()) continue;
    const entry = { partitions: 0, maxFiles: 0, files: 0 };
    const visit = async (dir: string) => {
      const items = await list(dir);
      const files = items.filter((i) => i.isFile() && i.name.endsWith('.parquet') && !i.name.startsWith('.')).length;
      if (files > 0) {
        entry.partitions++;
        entry.files += files;
        entry.maxFiles = Math.max(entry.maxFiles, files);
      }
      for (const sub of items) if (sub.isDirectory()) await visit(join(dir, sub.name));
    };
    await visit(join(root, table.name));
    counts[table.name] = entry;
  }
  return counts;
}

/** Samples countFiles every `everyMs` and keeps, per table, the most files one partition had. */
export class FileSampler {
  readonly maxFiles = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly dataDir: string,
    private readonly everyMs = 1000,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sample(), this.everyMs);
  }

  async sample(): Promise<FileCounts> {
    if (this.busy) return {};
    this.busy = true;
    try {
      const counts = await countFiles(this.dataDir);
      for (const [table, c] of Object.entries(counts))
        this.maxFiles.set(table, Math.max(this.maxFiles.get(table) ?? 0, c.maxFiles));
      return counts;
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
