/**
 * What the warehouse's long operations (idle sweep, rebuild, replay) work with: the writer's
 * connection and exporter, and its one queue, so each of their chunks runs between batches,
 * never beside one.
 */
import type { Micros } from '../../lib/time.js';
import type { ApplyContext } from './apply.js';
import type { ParquetExporter } from './export.js';

export interface WarehouseCore {
  readonly ctx: ApplyContext;
  readonly exporter: ParquetExporter;
  readonly clock: () => Micros;
  /** Runs `work` in the queue (reads, exports). */
  serial<T>(work: () => Promise<T>): Promise<T>;
  /** Runs `work` in the queue inside one transaction; errors come out as WAREHOUSE_FAILED. */
  transaction<T>(work: () => Promise<T>): Promise<T>;
}
