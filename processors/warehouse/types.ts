import type { DeadLetter, RawWebhook, SessionEvent, SessionFact } from '../../lib/canonical.js';
import type { Logger } from '../../lib/logger.js';
import type { Micros } from '../../lib/time.js';
import type { NormalizeResult } from '../adapters/types.js';
import type { ErasureOrder, ErasureResult } from './erase.js';

export type { ErasureOrder, ErasureResult } from './erase.js';

export interface WarehouseOptions {
  /** DATA_DIR: the warehouse is DATA_DIR/warehouse.duckdb, the dataset DATA_DIR/parquet/. */
  dataDir: string;
  logger: Logger;
  /** A session still open with no event for longer than this is folded as `abandoned`. */
  idleHorizonMicros?: number;
  /**
   * The clock for the idle horizon and the bookkeeping timestamps; tests pass a fixed one. It is
   * read once per batch, sweep, rebuild or replay: every session of one run is judged at one instant.
   */
  clock?: () => Micros;
  /** Bytes of session events the writer keeps in memory to fold without reading back (256 MiB by default). */
  sessionCacheBytes?: number;
  /** At most one Parquet export run per this many milliseconds after commits (250 by default). */
  exportIntervalMs?: number;
  /** PII_KEY: erasures keep keyed hashes of what they removed, to recognise it when it comes again. Needed to erase. */
  piiKey?: string;
}

/** What one consumer poll brings: the rows to store and the log positions they account for. */
export interface WarehouseBatch {
  raw: RawWebhook[];
  events: SessionEvent[];
  deadLetters: DeadLetter[];
  offsets: { topic: string; partition: number; next_offset: number }[];
  /**
   * Set by a replay: the archived deliveries this batch normalized again. Their `normalize` dead
   * letters that the batch does not repeat are resolved (removed), and their events already
   * stored are not counted as duplicate deliveries.
   */
  renormalized?: readonly string[];
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
  /** Stored dead letters this batch added. */
  insertedDeadLetters: number;
  /** Dead letters of `renormalized` deliveries that the current adapters no longer produce. */
  resolvedDeadLetters: number;
  /** Deliveries dropped because an erasure covers them (a redelivery of erased data), by ingest_id. */
  refusedDeliveries: string[];
}

export interface SweepResult {
  /** The facts the sweep changed (sessions now `abandoned`, or `open` again under a longer horizon). */
  facts: SessionFact[];
  /** The last session key this call looked at, to pass as `after`; undefined once the sweep is through. */
  next: string | undefined;
}

/** An outbox row as read: removed after the publish only if its seq is still the same. */
export interface OutboxMark {
  sessionKey: string;
  seq: number;
}

/** Facts waiting in the outbox (in the order they changed) and the rows they came from. */
export interface OutboxChunk {
  facts: SessionFact[];
  marks: OutboxMark[];
}

/** Called after each chunk of a long run. */
export type OnProgress = (done: number, total: number) => void;

export interface RunControl {
  /** Aborting stops the run between two chunks: every committed chunk stays, nothing half-done. */
  signal?: AbortSignal;
  onProgress?: OnProgress;
  /** Progress of the Parquet export that follows (partitions). */
  onExportProgress?: OnProgress;
}

export interface RebuildOptions extends RunControl {
  /** Sessions per transaction (default 1000). */
  chunkSize?: number;
}

export interface RebuildReport {
  /** Sessions in session_events, and how many of them were folded again. */
  total: number;
  rebuilt: number;
  /** Sessions whose fact or spans came out different from what was stored. */
  changed: number;
  /** Sessions whose fold threw: they keep their previous facts (and are logged). */
  failed: string[];
  /** Facts of sessions that have no event any more, removed. */
  orphans: number;
  /** Parquet partitions written (or removed when empty). */
  exported: number;
  interrupted: boolean;
}

export interface ReplaySelection {
  provider?: string;
  /** received_at >= from */
  from?: Micros;
  /** received_at < to */
  to?: Micros;
}

export interface ReplayOptions extends RunControl, ReplaySelection {
  /** The current adapters (normalizeRaw with the PII key the pipeline uses). */
  normalize: (raw: RawWebhook) => NormalizeResult;
  /** Raw webhooks per transaction (default 1000). */
  chunkSize?: number;
}

export interface ReplayReport {
  /** Raw webhooks selected, and how many were normalized again. */
  total: number;
  replayed: number;
  /** Events not stored before (an adapter fix, or a delivery that never reached the warehouse). */
  insertedEvents: number;
  insertedDeadLetters: number;
  resolvedDeadLetters: number;
  /** Sessions folded again because they got new events. */
  sessions: number;
  /** Parquet partitions written (or removed when empty). */
  exported: number;
  interrupted: boolean;
  /** received_at of the last raw webhook replayed: where `--from` resumes an interrupted run. */
  lastReceivedAt: Micros | undefined;
}

/**
 * What the streaming pipeline needs of the warehouse: the writer, in the caller's thread
 * (createWarehouse) or in a worker thread of its own (thread.ts).
 */
export interface WarehouseWriter {
  /** False while the disk refuses the warehouse's writes (batches are retried, not lost). */
  readonly writable: boolean;
  /** Stores the batch and its offsets in one transaction, then exports the Parquet it touched. */
  applyBatch(batch: WarehouseBatch): Promise<BatchResult>;
  /**
   * Folds again, in one transaction, up to `limit` sessions (in key order, after `after`) whose
   * stored status disagrees with the idle horizon at this instant: `open` with no event for longer
   * than the horizon becomes `abandoned` (and back, when the horizon grew). Then exports them.
   */
  sweepIdle(options?: { after?: string; limit?: number }): Promise<SweepResult>;
  /**
   * Erases people (erase.ts) in one transaction with the request's offset, then brings the Parquet
   * dataset up to date before it answers. A dry run counts and changes nothing.
   */
  erase(order: ErasureOrder): Promise<ErasureResult>;
  /**
   * Raw retention: removes the bodies of deliveries received before `cutoff` (epoch micros) from
   * the raw archive, its Parquet files and the warehouse file; events and facts stay. Returns
   * deliveries removed per provider.
   */
  expireRaw(cutoff: Micros): Promise<Record<string, number>>;
  /**
   * Up to `limit` (default 500) facts of the outbox, older changes first: sessions whose fact changed (batch, sweep,
   * rebuild, replay) and that facts.v1 has not acknowledged yet, with their current fact.
   */
  pendingFacts(limit?: number): Promise<OutboxChunk>;
  /** Removes from the outbox what was published; a session changed meanwhile stays. Returns the rows removed. */
  factsPublished(marks: readonly OutboxMark[]): Promise<number>;
  /** Sessions in the outbox. */
  outboxSize(): Promise<number>;
  /** Stored positions: next offset to read, by `tpKey` (lib/log/types.ts). */
  offsets(): Promise<Map<string, number>>;
  /** Settles once the Parquet exports queued so far are done (failures stay pending and are logged). */
  flush(): Promise<void>;
  /** Waits for the export in progress, then closes DuckDB. */
  close(): Promise<void>;
}

/** The writer and the maintenance runs, which work on the file in the caller's thread. */
export interface Warehouse extends WarehouseWriter {
  /** Folds every session again from session_events, chunk by chunk, then rewrites every facts and spans partition. */
  rebuild(options?: RebuildOptions): Promise<RebuildReport>;
  /** Normalizes the raw archive again with `options.normalize` and stores what it yields, chunk by chunk. */
  replay(options: ReplayOptions): Promise<ReplayReport>;
}
