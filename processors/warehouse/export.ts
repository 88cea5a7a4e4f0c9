/**
 * Warehouse → Parquet dataset (DESIGN section 7), a short while after commits and at open.
 *
 * parquet_pending lists the partitions committed batches touched; an entry is deleted only
 * once its file is in place, so an export that failed or never ran (crash) runs again later.
 * A run writes each pending partition once, however many batches touched it since the last
 * run. Exports are idempotent: a rewrite writes the partition as it is now; an append writes
 * the new batches' rows under a name that says which batches it holds (files.ts), so doing it
 * twice replaces the same file. batch_id 0 on an append-only table (a replay removed resolved
 * dead letters) writes the partition's files again from the table, as one file over the same
 * batches.
 *
 * Compaction (append-only tables) keeps a partition to a few files of geometrically growing
 * size (see compact). For the short time between a merged file's rename and the removal of its
 * inputs a reader listing the folder sees those rows twice, or finds a listed file gone
 * (openDataset retries that query once); a crash in that window is repaired at the next open
 * from the file names (files.ts).
 */
import { BIGINT, LIST, VARCHAR, listValue } from '@duckdb/node-api';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readRows, sqlString, storageFault, type DuckDBConnection, type ResultRow } from '../../lib/duckdb.js';
import type { Logger } from '../../lib/logger.js';
import * as field from '../../lib/record.js';
import {
  REWRITE_FILE,
  batchesCovered,
  batchFileName,
  compactedFileName,
  listDataFiles,
  parsePartitionDir,
  partitionDir,
  partitionDirs,
  publish,
  removePartitionFile,
  repairPartition,
  tempPath,
} from './files.js';
import {
  DATASET_TABLES,
  datasetTable,
  parquetColumns,
  tableSchema,
  type DatasetTable,
  type TableSchema,
} from './tables.js';

interface Pending {
  table_name: string;
  provider: string;
  date: string;
  batch_id: number;
}

const pendingOf = (row: ResultRow): Pending => ({
  table_name: row.get('table_name', field.string),
  provider: row.get('provider', field.string),
  date: row.get('date', field.string),
  batch_id: row.get('batch_id', field.long),
});

export interface ExportRun {
  exported: number;
  failed: number;
  compacted: number;
}

export class ParquetExporter {
  constructor(
    /** The writer's connection; the warehouse replaces it when it opens the file again. */
    public conn: DuckDBConnection,
    private readonly dataDir: string,
    private readonly logger: Logger,
    private readonly tables: Map<string, TableSchema>,
    private readonly compactAbove = 16,
  ) {}

  /** Cleans what a crash may have left in the dataset folders. */
  async repair(): Promise<void> {
    for (const table of DATASET_TABLES) {
      for (const dir of await partitionDirs(this.dataDir, table.name)) {
        const removed = await repairPartition(dir);
        if (removed.length > 0)
          this.logger.warn({ dir, removed }, 'removed leftovers of an interrupted Parquet export');
      }
    }
  }

  /**
   * Writes every pending partition once, whatever number of batches touched it since the last
   * run: a rewritten table's partition as it is now, an append-only table's new batches as one
   * file. A failed partition is left for the next run. `onProgress` hears (partitions done,
   * partitions pending) during long runs (rebuild, replay).
   */
  async exportPending(onProgress?: (done: number, total: number) => void): Promise<ExportRun> {
    const run: ExportRun = { exported: 0, failed: 0, compacted: 0 };
    const started = performance.now();
    // Facts first, then spans, then the append-only tables: what analysts wait for is readable
    // a few hundred milliseconds sooner under load, when a run writes a dozen partitions.
    const pending = await readRows(
      this.conn,
      `SELECT table_name, provider, CAST("date" AS VARCHAR) AS "date", batch_id FROM parquet_pending
       ORDER BY CASE table_name WHEN 'session_facts' THEN 0 WHEN 'participant_sessions' THEN 1 ELSE 2 END,
         batch_id, table_name, provider, "date"`,
      pendingOf,
    );
    const partitions = new Map<string, { table: DatasetTable; entry: Pending; dir: string; batches: number[] }>();
    for (const entry of pending) {
      const table = datasetTable(entry.table_name);
      const dir = partitionDir(this.dataDir, table.name, entry.provider, entry.date);
      const unit = partitions.get(dir) ?? partitions.set(dir, { table, entry, dir, batches: [] }).get(dir)!;
      unit.batches.push(entry.batch_id);
    }
    const appended = new Map<string, DatasetTable>();
    // The partitions whose files are in place: their pending rows go in one statement after the
    // loop. A run cut short leaves them all pending, and they are written again, alike.
    const written: Pending[] = [];
    let done = 0;
    for (const { table, entry, dir, batches } of partitions.values()) {
      onProgress?.(done++, partitions.size);
      try {
        if (table.mode === 'rewrite') await this.rewrite(table, entry, dir);
        else {
          // batch 0: rows left the table (a replay resolved dead letters); the files are derived again first.
          if (batches[0] === 0) await this.rederive(table, entry, dir);
          const added = batches.filter((b) => b > 0);
          if (added.length > 0) await this.append(table, entry, dir, { first: added[0]!, last: added.at(-1)! });
          appended.set(dir, table);
        }
        written.push({ ...entry, batch_id: batches.at(-1)! });
        run.exported += 1;
      } catch (err) {
        // DuckDB gave up on the instance: nothing more runs on it until the warehouse opens it again.
        if (storageFault(err) === 'invalidated') throw err;
        run.failed += 1;
        this.logger.error(
          { err, table: table.name, provider: entry.provider, date: entry.date },
          'Parquet export failed; will retry',
        );
      }
    }
    if (written.length > 0) await this.exported(written);
    for (const [dir, table] of appended) {
      try {
        if (await this.compact(table, dir)) run.compacted += 1;
      } catch (err) {
        if (storageFault(err) === 'invalidated') throw err;
        this.logger.error({ err, dir }, 'Parquet compaction failed; will retry');
      }
    }
    if (pending.length > 0) {
      onProgress?.(partitions.size, partitions.size);
      this.logger.debug({ ...run, ms: Math.round(performance.now() - started) }, 'Parquet export');
    }
    return run;
  }

  /**
   * Removes the pending rows of partitions whose files are in place, up to the batch each export
   * covered: one statement for the whole run (a statement costs the writer more than its rows do).
   */
  private async exported(entries: readonly Pending[]): Promise<void> {
    await this.conn.run(
      `DELETE FROM parquet_pending p
       USING (SELECT unnest($1) AS table_name, unnest($2) AS provider, CAST(unnest($3) AS DATE) AS "date", unnest($4) AS batch_id) AS x
       WHERE p.table_name = x.table_name AND p.provider = x.provider AND p."date" = x."date" AND p.batch_id <= x.batch_id`,
      [
        listValue(entries.map((e) => e.table_name)),
        listValue(entries.map((e) => e.provider)),
        listValue(entries.map((e) => e.date)),
        listValue(entries.map((e) => BigInt(e.batch_id))),
      ],
      [LIST(VARCHAR), LIST(VARCHAR), LIST(VARCHAR), LIST(BIGINT)],
    );
  }

  /**
   * Marks every facts and spans partition for a rewrite: those the warehouse has rows for, and
   * those on disk (a partition no session lands in any more is removed by its rewrite).
   */
  async markAllRewritten(): Promise<void> {
    for (const table of DATASET_TABLES.filter((t) => t.mode === 'rewrite')) {
      await this.conn.run(
        `INSERT OR IGNORE INTO parquet_pending SELECT DISTINCT '${table.name}', provider, part_date, 0 FROM (${table.source})`,
      );
      for (const dir of await partitionDirs(this.dataDir, table.name)) {
        const partition = parsePartitionDir(dir);
        if (!partition) continue;
        await this.conn.run(`INSERT OR IGNORE INTO parquet_pending VALUES ($1, $2, CAST($3 AS DATE), 0)`, [
          table.name,
          partition.provider,
          partition.date,
        ]);
      }
    }
  }

  /** The partition's rows, or those of batches first..last only (append-only tables). */
  private select(table: DatasetTable, entry: Pending, batches?: { first: number; last: number }): string {
    const columns = parquetColumns(tableSchema(this.tables, table.name));
    return (
      `SELECT ${columns.join(', ')} FROM (${table.source}) AS s ` +
      `WHERE provider = ${sqlString(entry.provider)} AND part_date = DATE ${sqlString(entry.date)}` +
      (batches ? ` AND batch_id BETWEEN ${batches.first} AND ${batches.last}` : '') +
      ` ORDER BY ${table.orderBy}`
    );
  }

  /** The partition as it is now, as one file; no rows left (the sessions moved day) removes it. */
  private async rewrite(table: DatasetTable, entry: Pending, dir: string): Promise<void> {
    const path = join(dir, REWRITE_FILE);
    if ((await this.copy(this.select(table, entry), path)) === 0) await removePartitionFile(path);
  }

  /**
   * An append-only partition after rows left the table: its files hold batches first..last; they
   * become one `c-<first>-<last>.parquet` with what the table holds of those batches now (no file
   * when nothing is left). Batches not exported yet come later as their own files.
   */
  private async rederive(table: DatasetTable, entry: Pending, dir: string): Promise<void> {
    const files = await listDataFiles(dir);
    if (files.length === 0) return;
    const first = Math.min(...files.map((f) => f.first));
    const last = Math.max(...files.map((f) => f.last));
    const target = compactedFileName(first, last);
    const rows = await this.copy(this.select(table, entry, { first, last }), join(dir, target));
    for (const file of files) if (rows === 0 || file.name !== target) await removePartitionFile(join(dir, file.name));
  }

  /**
   * Batches first..last's rows as one more file (`b-<n>` for one batch, `c-<first>-<last>` for
   * several), unless a file already holds them all; files it holds in turn (written by a run a
   * crash cut short) are removed.
   */
  private async append(
    table: DatasetTable,
    entry: Pending,
    dir: string,
    batches: { first: number; last: number },
  ): Promise<void> {
    const files = await listDataFiles(dir);
    if (batchesCovered(files, batches)) return;
    const target =
      batches.first === batches.last ? batchFileName(batches.first) : compactedFileName(batches.first, batches.last);
    if ((await this.copy(this.select(table, entry, batches), join(dir, target))) === 0) return;
    for (const file of files)
      if (batches.first <= file.first && file.last <= batches.last) await rm(join(dir, file.name), { force: true });
  }

  /**
   * Keeps a partition to a few files, as a log-structured merge does: once it has more than
   * `compactAbove`, the newest files are merged into one, up to (not including) the first older
   * file with more rows than everything newer than it together. Files grow geometrically, so the
   * partition holds a logarithmic number of them and a merge rewrites mostly recent, small
   * files, never the whole day's again and again.
   */
  private async compact(table: DatasetTable, dir: string): Promise<boolean> {
    const files = await listDataFiles(dir);
    if (files.length <= this.compactAbove) return false;
    // Rows, not bytes: a small Parquet file is mostly its own metadata.
    const counted = await readRows(
      this.conn,
      `SELECT file_name, num_rows FROM parquet_file_metadata([${files.map((f) => sqlString(join(dir, f.name))).join(', ')}])`,
      (row) => [row.get('file_name', field.string), row.get('num_rows', field.long)] as const,
    );
    const rows = new Map(counted);
    const sizes = files.map((f) => rows.get(join(dir, f.name)) ?? 0);
    let take = 2;
    let newer = sizes.at(-1)! + sizes.at(-2)!;
    while (take < files.length && sizes[files.length - 1 - take]! <= newer) newer += sizes[files.length - 1 - take++]!;
    const merged = files.slice(files.length - take);
    const first = merged[0]!.first;
    const last = merged.at(-1)!.last;
    const list = merged.map((f) => sqlString(join(dir, f.name))).join(', ');
    // hive_partitioning = false: the folder names must not come back as columns of the file.
    const select = `SELECT * FROM read_parquet([${list}], hive_partitioning = false, union_by_name = true) ORDER BY ${table.orderBy}`;
    const target = compactedFileName(first, last);
    await this.copy(select, join(dir, target));
    for (const file of merged) if (file.name !== target) await rm(join(dir, file.name), { force: true });
    this.logger.debug({ dir, files: merged.length, target }, 'compacted Parquet partition');
    return true;
  }

  /** COPY to a temporary name beside `path`, then rename; returns the rows written (0: no file). */
  private async copy(select: string, path: string): Promise<number> {
    await mkdir(dirname(path), { recursive: true });
    const tmp = tempPath(path);
    try {
      const result = await this.conn.run(`COPY (${select}) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd)`);
      const rows = Number(result.rowsChanged);
      if (rows === 0) {
        await rm(tmp, { force: true });
        return 0;
      }
      await publish(tmp, path);
      return rows;
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }
}
