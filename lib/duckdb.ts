import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DuckDBInstance, type DuckDBConnection, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import { InUseError } from './errors.js';

export type { DuckDBConnection, DuckDBInstance, DuckDBValue };

/** DuckDB's refusal when another process has the file: "Could not set lock on file ...: Conflicting lock is held in /usr/bin/node (PID 31445)". */
const LOCKED = /Could not set lock on file|Conflicting lock is held/i;

/** Opens a DuckDB file; another process holding it is an InUseError (IN_USE) naming that process. */
export async function openDuckDB(path: string, options: { threads?: number } = {}): Promise<DuckDBInstance> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  try {
    return await DuckDBInstance.create(path, options.threads ? { threads: String(options.threads) } : undefined);
  } catch (cause) {
    if (!(cause instanceof Error) || !LOCKED.test(cause.message)) throw cause;
    const pid = /\(PID (\d+)\)/.exec(cause.message)?.[1];
    const holder = pid === undefined ? undefined : Number(pid);
    throw new InUseError(holder, pid === undefined ? path : `${path} (PID ${pid})`, { cause });
  }
}

/** Runs a query and returns its rows as plain JS objects (BIGINT → bigint, BLOB → Uint8Array). */
export async function queryRows<T = Record<string, unknown>>(
  conn: DuckDBConnection,
  sql: string,
  params?: DuckDBValue[] | Record<string, DuckDBValue>,
  /** Types of the parameters DuckDB cannot infer (lists). */
  types?: DuckDBType[],
): Promise<T[]> {
  const reader = await conn.runAndReadAll(sql, params as DuckDBValue[] | undefined, types);
  return reader.getRowObjectsJS() as T[];
}

/** Runs `work` inside one transaction on `conn`, rolling back if it throws. */
export async function inTransaction<T>(conn: DuckDBConnection, work: () => Promise<T>): Promise<T> {
  await conn.run('BEGIN TRANSACTION');
  try {
    const result = await work();
    await conn.run('COMMIT');
    return result;
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** SQL string literal (for paths in COPY, which take no parameters). */
export function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** A queue that runs async tasks one at a time, in order: DuckDB's single writer per connection. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.tail.then(task, task);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Settles when everything queued so far has run. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}

/**
 * Why a DuckDB statement failed, when the disk is the reason: `invalidated` when DuckDB gave up on
 * the instance (a checkpoint that could not write: "FATAL Error: Failed to create checkpoint ...
 * No space left on device", then "database has been invalidated because of a previous fatal
 * error" for every later statement), `io` when a write was refused and rolled back ("Failed to
 * commit: Could not write file \"warehouse.duckdb.wal\": No space left on device"). Both pass once the
 * disk takes writes again; an invalidated instance must be opened again first. DuckDB also
 * invalidates the instance on an internal assertion ("INTERNAL Error: ..."), which we saw once in
 * a statement right after a commit the full disk refused: it is opened again the same way.
 */
export type StorageFault = 'invalidated' | 'io';

const INVALIDATED = /database has been invalidated|^FATAL Error|^INTERNAL Error/im;
const IO_FAULT =
  /No space left on device|Disk quota exceeded|ENOSPC|EDQUOT|Could not (?:write|fsync|truncate|create|open) file|^IO Error|Input\/output error/im;

export function storageFault(err: unknown): StorageFault | undefined {
  let io = false;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (INVALIDATED.test(e.message)) return 'invalidated';
    if (IO_FAULT.test(e.message) || ['ENOSPC', 'EDQUOT', 'EIO'].includes((e as NodeJS.ErrnoException).code ?? ''))
      io = true;
  }
  return io ? 'io' : undefined;
}
