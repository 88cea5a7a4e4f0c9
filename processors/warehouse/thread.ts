/**
 * The warehouse writer in a worker thread of its own, for the long-running pipeline (`run`,
 * `warehouse`). A batch is a few dozen DuckDB calls, and each waits for the thread that made it
 * to be free again: on the thread that also answers webhooks and normalizes, every one of them
 * waited behind the requests in hand, and a batch took ten times its work. In its own thread
 * the writer folds, stores and exports on the second core, and the ingest keeps the first.
 *
 * The worker (thread-main.ts) opens the warehouse with createWarehouse, as a standby while
 * another process holds the file, and answers the WarehouseWriter calls posted to it, one
 * message each way. Errors come back with their code, so the sink's retry of
 * STORAGE_UNAVAILABLE works as in one thread. If the worker dies, every call fails with
 * WAREHOUSE_FAILED and the pipeline stops, as it does when the writer fails in one thread.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ERRORS, SessionflowError, isSessionflowError, type ErrorCode } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { projectRoot } from '../../lib/paths.js';
import type {
  BatchResult,
  ErasureOrder,
  ErasureResult,
  OutboxChunk,
  OutboxMark,
  SweepResult,
  WarehouseBatch,
  WarehouseWriter,
} from './types.js';

/** What the worker is started with (workerData): plain values only. */
export interface ThreadOptions {
  dataDir: string;
  logLevel: string;
  /** The deployment's secret header names, censored in the thread's log as in the process's. */
  secretHeaders?: string[];
  idleHorizonMicros?: number;
  sessionCacheBytes?: number;
  exportIntervalMs?: number;
  piiKey?: string;
}

type Method = Exclude<keyof WarehouseWriter, 'writable'>;

export interface Call {
  id: number;
  method: Method;
  args: unknown[];
}

export interface ErrorReport {
  code: string | undefined;
  message: string;
  stack: string | undefined;
}

/** The worker's messages: the warehouse is open (or could not be), or the answer to a call. */
export type Reply =
  | { kind: 'open' }
  | { kind: 'open-failed'; error: ErrorReport }
  | { kind: 'result'; id: number; value: unknown; writable: boolean }
  | { kind: 'error'; id: number; error: ErrorReport; writable: boolean };

export function reportError(err: unknown): ErrorReport {
  if (!(err instanceof Error)) return { code: undefined, message: String(err), stack: undefined };
  return { code: isSessionflowError(err) ? err.code : undefined, message: err.message, stack: err.stack };
}

/** The error again on this side, with its code; one the worker did not classify is INTERNAL. */
function rebuiltError(report: ErrorReport): Error {
  const code = report.code !== undefined && report.code in ERRORS ? (report.code as ErrorCode) : 'INTERNAL';
  const err = new SessionflowError(code);
  err.message = report.message;
  if (report.stack) err.stack = report.stack;
  return err;
}

/** The built worker script: beside this module, or in dist/ when the tests run the sources. */
function workerScript(): string {
  const here = fileURLToPath(import.meta.url);
  const beside = join(dirname(here), 'thread-main.js');
  return here.endsWith('.js') && existsSync(beside)
    ? beside
    : join(projectRoot(), 'dist', 'processors', 'warehouse', 'thread-main.js');
}

/** Starts the worker; resolves once it has the warehouse open (it waits as a standby while another process writes it). */
export async function openWarehouseThread(options: ThreadOptions, logger: Logger): Promise<WarehouseWriter> {
  const thread = new WarehouseThread(new Worker(workerScript(), { workerData: options }), logger);
  await thread.opened;
  return thread;
}

class WarehouseThread implements WarehouseWriter {
  readonly opened: Promise<void>;
  private readonly calls = new Map<number, { resolve: (value: unknown) => void; reject: (err: unknown) => void }>();
  private nextId = 0;
  private isWritable = true;
  private broken: Error | undefined;
  private readonly exited: Promise<void>;

  constructor(
    private readonly worker: Worker,
    private readonly logger: Logger,
  ) {
    let open!: () => void;
    let refuse!: (err: unknown) => void;
    this.opened = new Promise<void>((resolve, reject) => ([open, refuse] = [resolve, reject]));
    worker.on('message', (reply: Reply) => {
      switch (reply.kind) {
        case 'open':
          return open();
        case 'open-failed':
          return refuse(rebuiltError(reply.error));
        case 'result':
        case 'error': {
          this.isWritable = reply.writable;
          const call = this.calls.get(reply.id);
          this.calls.delete(reply.id);
          if (reply.kind === 'result') call?.resolve(reply.value);
          else call?.reject(rebuiltError(reply.error));
        }
      }
    });
    worker.on('error', (err) => this.fail(err));
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    void this.exited.then(() => {
      this.fail(new Error('the warehouse thread exited'));
      refuse(this.broken);
    });
  }

  /** Every call in flight and every later one fails: the pipeline stops, as when the writer fails in one thread. */
  private fail(cause: unknown): void {
    if (!this.broken) {
      this.broken = new SessionflowError('WAREHOUSE_FAILED', 'the warehouse thread stopped', { cause });
      if (this.calls.size > 0) this.logger.error({ err: cause }, 'the warehouse thread stopped');
    }
    for (const call of this.calls.values()) call.reject(this.broken);
    this.calls.clear();
  }

  private call<T>(method: Method, ...args: unknown[]): Promise<T> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ id, method, args } satisfies Call);
    });
  }

  get writable(): boolean {
    return this.isWritable;
  }

  applyBatch(batch: WarehouseBatch): Promise<BatchResult> {
    return this.call('applyBatch', batch);
  }

  sweepIdle(options?: { after?: string; limit?: number }): Promise<SweepResult> {
    return this.call('sweepIdle', options);
  }

  erase(order: ErasureOrder): Promise<ErasureResult> {
    return this.call('erase', order);
  }

  expireRaw(cutoff: number): Promise<Record<string, number>> {
    return this.call('expireRaw', cutoff);
  }

  pendingFacts(limit?: number): Promise<OutboxChunk> {
    return this.call('pendingFacts', limit);
  }

  factsPublished(marks: readonly OutboxMark[]): Promise<number> {
    return this.call('factsPublished', marks);
  }

  outboxSize(): Promise<number> {
    return this.call('outboxSize');
  }

  offsets(): Promise<Map<string, number>> {
    return this.call('offsets');
  }

  flush(): Promise<void> {
    return this.call('flush');
  }

  /** Closes the warehouse in the worker, then waits for the worker to end. */
  async close(): Promise<void> {
    if (this.broken) return;
    await this.call('close');
    await this.exited;
  }
}
