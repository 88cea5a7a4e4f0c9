/**
 * What the warehouse's long operations (idle sweep, rebuild, replay: sweep.ts, rebuild.ts,
 * replay.ts) work with, and all they see of the writer: its context, its clock and its one
 * queue, so each of their chunks runs between batches, never beside one. The writer hands them
 * one (writer.ts); they do not get the writer itself.
 */
import type { Micros } from '../../lib/time.js';
import type { ApplyContext } from './apply.js';
import type { ExportRun } from './export.js';

export interface WarehouseCore {
  /** The connection (replaced when the file is opened again), tables, session cache and erased keys. */
  readonly ctx: ApplyContext;
  readonly clock: () => Micros;
  /** Runs `work` in the queue (reads). */
  serial<T>(work: () => Promise<T>): Promise<T>;
  /** Runs `work` in the queue inside one transaction; errors come out as WAREHOUSE_FAILED. */
  transaction<T>(work: () => Promise<T>): Promise<T>;
  /** Writes the Parquet partitions marked pending, in the queue. */
  exportPending(onProgress?: (done: number, total: number) => void): Promise<ExportRun>;
  /** Marks every facts and spans partition to be written again (ParquetExporter.markAllRewritten), in the queue. */
  markAllRewritten(): Promise<void>;
}
