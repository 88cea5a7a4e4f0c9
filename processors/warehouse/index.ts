/**
 * The warehouse sink (DESIGN sections 6-8): stores each batch in DATA_DIR/warehouse.duckdb in
 * one transaction with its offsets, then brings the Parquet dataset up to date.
 *
 * One connection and one queue: batches, exports and reads run one at a time, so an export
 * always sees committed batches and nothing else. The export of a batch runs after applyBatch
 * has returned; the next batch waits for it. The idle sweep, the rebuild and the replay run their
 * chunks in the same queue (sweep.ts, rebuild.ts, replay.ts). Use `createWarehouse`, one per DATA_DIR.
 */
import { join } from 'node:path';
import { SessionflowError } from '../../lib/errors.js';
import { SerialQueue, inTransaction, openDuckDB, queryRows, type DuckDBConnection, type DuckDBInstance } from '../../lib/duckdb.js';
import { nowMicros, type Micros } from '../../lib/time.js';
import { applyInTransaction, type ApplyContext } from './apply.js';
import { createStaging } from './bind.js';
import { outboxSize, readOutbox, removeFromOutbox } from './outbox.js';
import { ParquetExporter } from './export.js';
import type { WarehouseCore } from './core.js';
import { rebuild } from './rebuild.js';
import { replay } from './replay.js';
import { sweepIdle } from './sweep.js';
import { describeTables, warehouseDdl } from './tables.js';
import type {
  BatchResult,
  OutboxChunk,
  OutboxMark,
  RebuildOptions,
  RebuildReport,
  ReplayOptions,
  ReplayReport,
  SweepResult,
  Warehouse,
  WarehouseBatch,
  WarehouseOptions,
} from './types.js';

export type * from './types.js';
export { openDataset, type Dataset } from './query.js';

export async function createWarehouse(options: WarehouseOptions): Promise<Warehouse> {
  const db = await openDuckDB(join(options.dataDir, 'warehouse.duckdb'));
  let conn: DuckDBConnection | undefined;
  try {
    conn = await db.connect();
    await conn.run(await warehouseDdl());
    const tables = await describeTables(conn);
    await createStaging(conn, tables.values());
    const exporter = new ParquetExporter(conn, options.dataDir, options.logger, tables);
    // Exports a crash or a failure left behind are done before the first new batch.
    await exporter.repair();
    const run = await exporter.exportPending();
    if (run.exported + run.failed > 0) options.logger.info(run, 'caught up on Parquet exports left pending');
    return new DuckDBWarehouse(
      db,
      conn,
      exporter,
      { conn, tables, logger: options.logger, idleHorizonMicros: options.idleHorizonMicros },
      options.clock ?? nowMicros,
    );
  } catch (cause) {
    conn?.closeSync();
    db.closeSync();
    throw new SessionflowError('WAREHOUSE_FAILED', `cannot open the warehouse in ${options.dataDir}`, { cause });
  }
}

class DuckDBWarehouse implements Warehouse, WarehouseCore {
  private readonly queue = new SerialQueue();
  private exportQueued = false;
  private closed = false;

  constructor(
    private readonly db: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    readonly exporter: ParquetExporter,
    readonly ctx: ApplyContext,
    readonly clock: () => Micros,
  ) {}

  async applyBatch(batch: WarehouseBatch): Promise<BatchResult> {
    let started = 0;
    const result = await this.transaction(() => {
      started = performance.now();
      return applyInTransaction(this.ctx, batch, this.clock());
    });
    this.ctx.logger.debug(
      { events: batch.events.length, inserted: result.insertedEvents, sessions: result.touchedSessions.length, ms: Math.round(performance.now() - started) },
      'warehouse batch stored',
    );
    this.scheduleExport();
    return result;
  }

  async sweepIdle(options?: { after?: string; limit?: number }): Promise<SweepResult> {
    const result = await sweepIdle(this, options);
    if (result.facts.length > 0) this.scheduleExport();
    return result;
  }

  rebuild(options?: RebuildOptions): Promise<RebuildReport> {
    return rebuild(this, options);
  }

  replay(options: ReplayOptions): Promise<ReplayReport> {
    return replay(this, options);
  }

  serial<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SessionflowError('WAREHOUSE_FAILED', 'the warehouse is closed'));
    return this.queue.run(work);
  }

  transaction<T>(work: () => Promise<T>): Promise<T> {
    return this.serial(async () => {
      try {
        return await inTransaction(this.conn, work);
      } catch (cause) {
        if (cause instanceof SessionflowError) throw cause;
        throw new SessionflowError('WAREHOUSE_FAILED', cause instanceof Error ? cause.message : String(cause), { cause });
      }
    });
  }

  /** One export run after the batches queued so far; several batches can share it. */
  private scheduleExport(): void {
    if (this.exportQueued) return;
    this.exportQueued = true;
    void this.queue.run(async () => {
      this.exportQueued = false;
      try {
        await this.exporter.exportPending();
      } catch (err) {
        this.ctx.logger.error({ err }, 'Parquet export failed; pending partitions are retried after the next batch');
      }
    });
  }

  pendingFacts(limit = 500): Promise<OutboxChunk> {
    return this.serial(() => readOutbox(this.conn, this.ctx.tables, limit));
  }

  factsPublished(marks: readonly OutboxMark[]): Promise<number> {
    return this.serial(() => removeFromOutbox(this.conn, marks));
  }

  outboxSize(): Promise<number> {
    return this.serial(() => outboxSize(this.conn));
  }

  async offsets(): Promise<Map<string, number>> {
    const rows = await this.queue.run(() =>
      queryRows<{ topic: string; partition: number; next_offset: bigint }>(this.conn, 'SELECT topic, "partition", next_offset FROM pipeline_offsets'),
    );
    return new Map(rows.map((row) => [`${row.topic}:${row.partition}`, Number(row.next_offset)]));
  }

  async flush(): Promise<void> {
    if (!this.closed) this.scheduleExport();
    await this.queue.idle();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.idle();
    this.conn.closeSync();
    this.db.closeSync();
  }
}
