/**
 * What the warehouse's long operations (idle sweep, rebuild, replay) work with: the writer's
 * connection and its queue, so each of their chunks runs between batches, never beside one,
 * and the exporter, which runs in a queue of its own beside the writer.
 */
import type { Micros } from '../../lib/time.js';
import type { ApplyContext } from './apply.js';
import type { ExportRun, ParquetExporter } from './export.js';
import type { OnProgress } from './types.js';

export interface WarehouseCore {
  readonly ctx: ApplyContext;
  readonly exporter: ParquetExporter;
  readonly clock: () => Micros;
  /** Runs `work` in the writer's queue (reads, writes). */
  serial<T>(work: () => Promise<T>): Promise<T>;
  /** Exports every pending partition now, after the export in progress; resolves when done. */
  exportPending(onProgress?: OnProgress): Promise<ExportRun>;
  /** Runs `work` in the queue inside one transaction; errors come out as WAREHOUSE_FAILED. */
  transaction<T>(work: () => Promise<T>): Promise<T>;
}
