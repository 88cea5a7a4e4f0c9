/**
 * The warehouse writer (DESIGN sections 6-8): stores each batch in DATA_DIR/warehouse.duckdb in
 * one transaction with its offsets, then brings the Parquet dataset up to date.
 *
 * One connection and one queue: batches, exports and reads run one at a time, so an export
 * always sees committed batches and nothing else. The export of a batch runs after applyBatch
 * has returned; the next batch waits for it. The idle sweep, the rebuild and the replay run their
 * chunks in the same queue, through the WarehouseCore the writer hands them (core.ts).
 * Use `createWarehouse`, one per DATA_DIR.
 *
 * A full disk: a batch DuckDB cannot commit fails with STORAGE_UNAVAILABLE (the stage, stage.ts, retries it),
 * an export that cannot write is retried on a timer with backoff. When DuckDB invalidated the
 * instance (a checkpoint that could not write), the file is opened again before the next
 * statement: it holds the batches that committed and nothing else, offsets included.
 */
import { rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SessionflowError } from '../../lib/errors.js';
import { tpKey } from '../../lib/log/types.js';
import {
  SerialQueue,
  inTransaction,
  openDuckDB,
  readRows,
  sqlString,
  storageFault,
  type DuckDBConnection,
  type DuckDBInstance,
} from '../../lib/duckdb.js';
import * as field from '../../lib/record.js';
import { backoffDelay } from '../../lib/retry.js';
import { nowMicros, type Micros } from '../../lib/time.js';
import { applyInTransaction, unfoldedSessions, type ApplyContext } from './apply.js';
import { createStaging } from './bind.js';
import { eraseInTransaction, loadErasedKeys, type ErasedKeys, type ErasureOrder, type ErasureResult } from './erase.js';
import { fsyncPath } from '../../lib/atomic-file.js';
import { prepareRestricted } from './files.js';
import { outboxSize, readOutbox, removeFromOutbox } from './outbox.js';
import { ParquetExporter } from './export.js';
import type { WarehouseCore } from './core.js';
import { rebuild } from './rebuild.js';
import { replay } from './replay.js';
import { expireRawInTransaction } from './retention.js';
import { SessionCache } from './session-cache.js';
import { sweepIdle } from './sweep.js';
import { describeTables, quoteIdent, warehouseDdl } from './tables.js';
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

/** The events of recently touched sessions the writer keeps (session-cache.ts): 256 MiB by its estimate. */
const DEFAULT_SESSION_CACHE_BYTES = 256 * 1024 * 1024;

/**
 * DuckDB threads of the writer. Its batches are a few thousand rows, too small to gain from more,
 * and on a small machine every other core is the ingest's: with DuckDB's default (one thread
 * per core) a batch or an export took both cores and the acknowledgement waited behind it.
 */
const WAREHOUSE_THREADS = 1;

/** How often, at most, committed batches are exported to Parquet: facts readable within about a second of the ack. */
const DEFAULT_EXPORT_INTERVAL_MS = 250;

const compactPath = (path: string) => `${path}.compact`;

/** A copy compactFile did not finish (a crash): the file it was to replace is whole. */
async function removeCompactLeftover(path: string): Promise<void> {
  await rm(compactPath(path), { force: true });
  await rm(`${compactPath(path)}.wal`, { force: true });
}

export async function createWarehouse(options: WarehouseOptions): Promise<Warehouse> {
  await removeCompactLeftover(join(options.dataDir, 'warehouse.duckdb'));
  const db = await openDuckDB(join(options.dataDir, 'warehouse.duckdb'), { threads: WAREHOUSE_THREADS });
  let conn: DuckDBConnection | undefined;
  try {
    conn = await db.connect();
    await conn.run(await warehouseDdl());
    const tables = await describeTables(conn);
    await createStaging(conn, tables.values());
    const exporter = new ParquetExporter(conn, options.dataDir, options.logger, tables);
    if (await prepareRestricted(options.dataDir)) {
      options.logger.warn(
        { from: 'parquet/raw_webhooks', to: 'restricted/raw_webhooks' },
        'moved the raw archive out of the dataset BI reads',
      );
    }
    // Exports a crash or a failure left behind are done before the first new batch.
    await exporter.repair();
    const run = await exporter.exportPending();
    if (run.exported + run.failed > 0) options.logger.info(run, 'caught up on Parquet exports left pending');
    return new DuckDBWarehouse(
      join(options.dataDir, 'warehouse.duckdb'),
      db,
      conn,
      exporter,
      {
        conn,
        tables,
        logger: options.logger,
        idleHorizonMicros: options.idleHorizonMicros,
        cache: new SessionCache(options.sessionCacheBytes ?? DEFAULT_SESSION_CACHE_BYTES),
        unfolded: await unfoldedSessions(conn),
        erased: await loadErasedKeys(conn),
        droppedDeliveries: new Set(),
        piiKey: options.piiKey,
      },
      options.clock ?? nowMicros,
      options.exportIntervalMs ?? DEFAULT_EXPORT_INTERVAL_MS,
    );
  } catch (cause) {
    conn?.closeSync();
    db.closeSync();
    throw new SessionflowError('WAREHOUSE_FAILED', `cannot open the warehouse in ${options.dataDir}`, { cause });
  }
}

class DuckDBWarehouse implements Warehouse {
  private readonly queue = new SerialQueue();
  /** What the sweep, the rebuild and the replay see of the writer (core.ts). */
  private readonly core: WarehouseCore;
  private exportQueued = false;
  private exportTimer: NodeJS.Timeout | undefined;
  private lastExport = -Infinity;
  private closed = false;
  /** A write failed for want of disk; cleared by the next batch that commits. */
  private failing = false;
  /** DuckDB invalidated the instance: opened again before the next statement. */
  private needsReopen = false;
  private exportRetry: NodeJS.Timeout | undefined;
  private exportAttempts = 0;

  constructor(
    private readonly path: string,
    private db: DuckDBInstance,
    private conn: DuckDBConnection,
    private readonly exporter: ParquetExporter,
    private readonly ctx: ApplyContext,
    private readonly clock: () => Micros,
    private readonly exportIntervalMs: number,
  ) {
    this.core = {
      ctx,
      clock,
      serial: (work) => this.serial(work),
      transaction: (work) => this.transaction(work),
      exportPending: (onProgress) => this.serial(() => exporter.exportPending(onProgress)),
      markAllRewritten: () => this.serial(() => exporter.markAllRewritten()),
    };
  }

  async applyBatch(batch: WarehouseBatch): Promise<BatchResult> {
    let started = 0;
    const result = await this.transaction(() => {
      started = performance.now();
      return applyInTransaction(this.ctx, batch, this.clock());
    });
    this.ctx.logger.debug(
      {
        events: batch.events.length,
        inserted: result.insertedEvents,
        sessions: result.touchedSessions.length,
        ms: Math.round(performance.now() - started),
      },
      'warehouse batch stored',
    );
    this.scheduleExport();
    return result;
  }

  async sweepIdle(options?: { after?: string; limit?: number }): Promise<SweepResult> {
    const result = await sweepIdle(this.core, options);
    if (result.facts.length > 0) this.scheduleExport();
    return result;
  }

  /**
   * Erases what `order` names (erase.ts) in one transaction with its offset, or for a dry run
   * counts it and changes nothing. Answers once the Parquet dataset no longer holds them and the
   * warehouse file has been written anew without them (compactFile).
   */
  async erase(order: ErasureOrder): Promise<ErasureResult> {
    const piiKey = this.ctx.piiKey;
    if (piiKey === undefined) throw new SessionflowError('ERASURE_INVALID', 'the warehouse was opened without PII_KEY');
    const now = this.clock();
    const outcome = order.dryRun
      ? await this.serial(async () => {
          await this.conn.run('BEGIN TRANSACTION');
          try {
            return await eraseInTransaction(this.ctx, order, piiKey, now);
          } finally {
            await this.conn.run('ROLLBACK');
            this.ctx.cache.rollback();
          }
        })
      : await this.transaction(() => eraseInTransaction(this.ctx, order, piiKey, now));
    for (const kind of Object.keys(outcome.erased) as Array<keyof ErasedKeys>)
      for (const key of outcome.erased[kind]) this.ctx.erased[kind].add(key);
    if (!order.dryRun) {
      await this.flush();
      await this.serial(() => this.compactFile());
    }
    this.ctx.logger.info(
      {
        request_id: order.requestId,
        dry_run: order.dryRun,
        deliveries: outcome.result.deliveries,
        events: outcome.result.events,
        sessions_refolded: outcome.result.sessions_refolded,
        sessions_removed: outcome.result.sessions_removed,
        partitions: outcome.result.partitions,
      },
      order.dryRun ? 'erase: dry run counted' : 'erase: done',
    );
    return outcome.result;
  }

  /**
   * Removes the bodies of deliveries received before `cutoff` (retention.ts), then rewrites their
   * restricted Parquet partitions and the warehouse file without them. Returns deliveries removed
   * per provider.
   */
  async expireRaw(cutoff: Micros): Promise<Record<string, number>> {
    const removed = await this.transaction(() => expireRawInTransaction(this.ctx, cutoff, this.clock()));
    if (removed.size > 0) {
      await this.flush();
      await this.serial(() => this.compactFile());
    }
    return Object.fromEntries(removed);
  }

  rebuild(options?: RebuildOptions): Promise<RebuildReport> {
    return rebuild(this.core, options);
  }

  replay(options: ReplayOptions): Promise<ReplayReport> {
    return replay(this.core, options);
  }

  get writable(): boolean {
    return !this.failing;
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SessionflowError('WAREHOUSE_FAILED', 'the warehouse is closed'));
    return this.queue.run(() => this.guarded(work));
  }

  private transaction<T>(work: () => Promise<T>): Promise<T> {
    return this.serial(async () => {
      try {
        const result = await inTransaction(this.conn, work);
        this.ctx.cache.commit();
        if (this.failing) this.ctx.logger.info('warehouse: the disk takes writes again');
        this.failing = false;
        return result;
      } catch (cause) {
        this.ctx.cache.rollback();
        if (cause instanceof SessionflowError) throw cause;
        const message = cause instanceof Error ? cause.message : String(cause);
        if (storageFault(cause)) throw new SessionflowError('STORAGE_UNAVAILABLE', message, { cause });
        throw new SessionflowError('WAREHOUSE_FAILED', message, { cause });
      }
    });
  }

  /** In the queue: opens the file again first when DuckDB invalidated it, and notes a failure for want of disk. */
  private async guarded<T>(work: () => Promise<T>): Promise<T> {
    try {
      if (this.needsReopen) await this.reopen();
      return await work();
    } catch (err) {
      const fault = storageFault(err);
      if (fault) {
        if (!this.failing)
          this.ctx.logger.warn(
            { err: String(err), fault },
            'warehouse cannot write; retrying until the disk takes writes again',
          );
        this.failing = true;
        if (fault === 'invalidated') this.needsReopen = true;
      }
      throw err;
    }
  }

  /**
   * Writes the warehouse file anew, from what its tables hold now, and swaps it in. A DELETE frees
   * DuckDB's blocks but does not clear them: the removed rows' bytes stay in the file until the
   * blocks are reused. After an erasure they must not (DESIGN section 9), so the live data is
   * copied to a new file (COPY FROM DATABASE: tables, keys and sequences), which is fsync'd and
   * renamed over the old one. Batches wait meanwhile; the ingest goes on acknowledging into the
   * log. A crash before the rename leaves the old file whole, and the copy is removed at open.
   */
  private async compactFile(): Promise<void> {
    const fresh = compactPath(this.path);
    await removeCompactLeftover(this.path);
    const [name] = await readRows(this.conn, 'SELECT current_database() AS name', (row) =>
      row.get('name', field.string),
    );
    await this.conn.run('CHECKPOINT');
    await this.conn.run(`ATTACH ${sqlString(fresh)} AS sessionflow_compact`);
    try {
      await this.conn.run(`COPY FROM DATABASE ${quoteIdent(name!)} TO sessionflow_compact`);
    } finally {
      await this.conn.run('DETACH sessionflow_compact');
    }
    this.conn.closeSync();
    this.db.closeSync();
    this.needsReopen = true;
    await fsyncPath(fresh);
    await rename(fresh, this.path);
    await fsyncPath(dirname(this.path));
    await this.reopen();
  }

  /** Closes the invalidated instance and opens the file again; the TEMP staging tables are made anew. */
  private async reopen(): Promise<void> {
    for (const close of [() => this.conn.closeSync(), () => this.db.closeSync()]) {
      try {
        close();
      } catch {
        // an invalidated instance (or one closed by a reopen that failed) is dropped either way
      }
    }
    this.db = await openDuckDB(this.path, { threads: WAREHOUSE_THREADS });
    this.conn = await this.db.connect();
    await createStaging(this.conn, this.ctx.tables.values());
    this.ctx.conn = this.conn;
    this.exporter.conn = this.conn;
    this.needsReopen = false;
    this.ctx.logger.info({ file: this.path }, 'warehouse file opened again');
  }

  /**
   * One export run at most every `exportIntervalMs` after a commit: the batches committed in the
   * meantime share it, so under load a partition gets one new file per interval, not one per
   * batch, and the writer spends its time on batches. `now` runs it next in the queue. A failed
   * run is retried with backoff, batches or not.
   */
  private scheduleExport(now = false): void {
    if (this.closed) return;
    if (now && this.exportTimer) {
      clearTimeout(this.exportTimer);
      this.exportTimer = undefined;
    }
    if (this.exportQueued || this.exportTimer) return;
    const wait = now ? 0 : Math.max(0, this.lastExport + this.exportIntervalMs - performance.now());
    if (wait === 0) this.queueExport();
    else this.exportTimer = setTimeout(() => this.queueExport(), wait);
  }

  private queueExport(): void {
    this.exportTimer = undefined;
    this.exportQueued = true;
    void this.queue.run(async () => {
      this.exportQueued = false;
      this.lastExport = performance.now();
      let failed: boolean;
      try {
        failed = (await this.guarded(() => this.exporter.exportPending())).failed > 0;
      } catch (err) {
        failed = true;
        this.ctx.logger.error({ err }, 'Parquet export failed; pending partitions are retried');
      }
      if (!failed) this.exportAttempts = 0;
      else if (!this.exportRetry && !this.closed) {
        this.exportAttempts += 1;
        this.exportRetry = setTimeout(
          () => {
            this.exportRetry = undefined;
            this.scheduleExport(true);
          },
          backoffDelay(this.exportAttempts, 500, 10_000),
        );
        this.exportRetry.unref();
      }
    });
  }

  pendingFacts(limit = 500): Promise<OutboxChunk> {
    return this.serial(() => readOutbox(this.conn, limit));
  }

  factsPublished(marks: readonly OutboxMark[]): Promise<number> {
    return this.serial(() => removeFromOutbox(this.conn, marks));
  }

  outboxSize(): Promise<number> {
    return this.serial(() => outboxSize(this.conn));
  }

  async offsets(): Promise<Map<string, number>> {
    const offsets = await this.serial(() =>
      readRows(this.conn, 'SELECT topic, "partition", next_offset FROM pipeline_offsets', (row) => {
        const partition = tpKey(row.get('topic', field.string), row.get('partition', field.long));
        return [partition, row.get('next_offset', field.long)] as const;
      }),
    );
    return new Map(offsets);
  }

  async flush(): Promise<void> {
    if (!this.closed) this.scheduleExport(true);
    await this.queue.idle();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.exportRetry);
    if (this.exportTimer) {
      // What the timer would have exported goes now: a stop leaves the dataset up to date.
      clearTimeout(this.exportTimer);
      this.queueExport();
    }
    await this.queue.idle();
    this.conn.closeSync();
    this.db.closeSync();
  }
}
