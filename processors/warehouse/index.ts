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
import { ParquetExporter } from './export.js';
import type { WarehouseCore } from './core.js';
import { rebuild } from './rebuild.js';
import { replay } from './replay.js';
import { SessionCache } from './session-cache.js';
import { sweepIdle } from './sweep.js';
import { describeTables, warehouseDdl } from './tables.js';
import type {
  BatchResult,
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

/** The events of recently touched sessions the writer keeps (session-cache.ts): 256 MiB by its estimate. */
const DEFAULT_SESSION_CACHE_BYTES = 256 * 1024 * 1024;

/** How often, at most, committed batches are exported to Parquet: facts readable within about a second of the ack. */
const DEFAULT_EXPORT_INTERVAL_MS = 250;

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
      { conn, tables, logger: options.logger, idleHorizonMicros: options.idleHorizonMicros, cache: new SessionCache(options.sessionCacheBytes ?? DEFAULT_SESSION_CACHE_BYTES) },
      options.clock ?? nowMicros,
      options.exportIntervalMs ?? DEFAULT_EXPORT_INTERVAL_MS,
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
  private exportTimer: NodeJS.Timeout | undefined;
  private lastExport = -Infinity;
  private closed = false;

  constructor(
    private readonly db: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    readonly exporter: ParquetExporter,
    readonly ctx: ApplyContext,
    readonly clock: () => Micros,
    private readonly exportIntervalMs: number,
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
        const result = await inTransaction(this.conn, work);
        this.ctx.cache.commit();
        return result;
      } catch (cause) {
        this.ctx.cache.rollback();
        if (cause instanceof SessionflowError) throw cause;
        throw new SessionflowError('WAREHOUSE_FAILED', cause instanceof Error ? cause.message : String(cause), { cause });
      }
    });
  }

  /**
   * One export run at most every `exportIntervalMs` after a commit: the batches committed in the
   * meantime share it, so under load a partition gets one new file per interval, not one per
   * batch, and the writer spends its time on batches. `now` runs it next in the queue.
   */
  private scheduleExport(now = false): void {
    if (now && this.exportTimer) {
      clearTimeout(this.exportTimer);
      this.exportTimer = undefined;
    }
    if (this.exportQueued || this.exportTimer) return;
    const wait = now ? 0 : Math.max(0, this.lastExport + this.exportIntervalMs - performance.now());
    const start = () => {
      this.exportTimer = undefined;
      this.exportQueued = true;
      void this.queue.run(async () => {
        this.exportQueued = false;
        this.lastExport = performance.now();
        try {
          await this.exporter.exportPending();
        } catch (err) {
          this.ctx.logger.error({ err }, 'Parquet export failed; pending partitions are retried after the next batch');
        }
      });
    };
    if (wait === 0) start();
    else this.exportTimer = setTimeout(start, wait);
  }

  async offsets(): Promise<Map<string, number>> {
    const rows = await this.queue.run(() =>
      queryRows<{ topic: string; partition: number; next_offset: bigint }>(this.conn, 'SELECT topic, "partition", next_offset FROM pipeline_offsets'),
    );
    return new Map(rows.map((row) => [`${row.topic}:${row.partition}`, Number(row.next_offset)]));
  }

  async flush(): Promise<void> {
    if (!this.closed) this.scheduleExport(true);
    await this.queue.idle();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.exportTimer) {
      // What the timer would have exported goes now: a stop leaves the dataset up to date.
      clearTimeout(this.exportTimer);
      this.exportTimer = undefined;
      void this.queue.run(() => this.exporter.exportPending().then(() => undefined, (err: unknown) => this.ctx.logger.error({ err }, 'Parquet export failed at close; pending partitions are exported at the next open')));
    }
    await this.queue.idle();
    this.conn.closeSync();
    this.db.closeSync();
  }
}
