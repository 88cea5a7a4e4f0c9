import type { DeadLetter, RawWebhook, SessionEvent, SessionFact } from '../../lib/canonical.js';
import type { Logger } from '../../lib/logger.js';
import type { Micros } from '../../lib/time.js';

export interface WarehouseOptions {
  /** DATA_DIR: the warehouse is DATA_DIR/warehouse.duckdb, the dataset DATA_DIR/parquet/. */
  dataDir: string;
  logger: Logger;
  /** A session still open with no event for longer than this is folded as `abandoned`. */
  idleHorizonMicros?: number;
  /** The clock for the idle horizon and the bookkeeping timestamps; tests pass a fixed one. */
  clock?: () => Micros;
}

/** What one consumer poll brings: the rows to store and the log positions they account for. */
export interface WarehouseBatch {
  raw: RawWebhook[];
  events: SessionEvent[];
  deadLetters: DeadLetter[];
  offsets: { topic: string; partition: number; next_offset: number }[];
}

export interface BatchResult {
  /** Events stored by this batch. */
  insertedEvents: number;
  /** Events whose event_id was already stored, or repeated within the batch. */
  duplicateEvents: number;
  /** Sessions whose facts were recomputed (those the batch brought at least one new event), sorted. */
  touchedSessions: string[];
  /** Their recomputed facts, in the order of touchedSessions. */
  facts: SessionFact[];
}

export interface Warehouse {
  /** Stores the batch and its offsets in one transaction, then exports the Parquet it touched. */
  applyBatch(batch: WarehouseBatch): Promise<BatchResult>;
  /** Stored positions: `${topic}:${partition}` → next offset to read. */
  offsets(): Promise<Map<string, number>>;
  /** Settles once the Parquet exports queued so far are done (failures stay pending and are logged). */
  flush(): Promise<void>;
  /** Waits for the export in progress, then closes DuckDB. */
  close(): Promise<void>;
}
