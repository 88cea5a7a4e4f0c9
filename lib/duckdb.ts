import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  DuckDBBlobValue,
  DuckDBInstance,
  DuckDBMapValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBConnection,
  type DuckDBResultReader,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import type { Field, Fields, RecordOf } from './record.js';
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

/**
 * One row of a result, read column by column: each read names the column and the field it must
 * be (lib/record.ts), and throws a TypeError naming both when the result has no such column or
 * its value is of another type, so a query and the code that reads it cannot drift apart
 * unnoticed. What a field gives: a long a number (a BIGINT past 2^53 throws rather than round),
 * a timestamp its UTC micros (TIMESTAMP or TIMESTAMPTZ), bytes a Buffer, a map an object.
 * A string field's `values` are not checked here: the `.avsc` leaves those strings open, and
 * what events.v1 carried must still be read back and folded.
 */
export class ResultRow {
  constructor(
    private readonly columns: ReadonlyMap<string, number>,
    private readonly values: readonly DuckDBValue[],
  ) {}

  get<T>(column: string, field: Field<T>): T {
    const index = this.columns.get(column);
    if (index === undefined) throw new TypeError(`the result has no column ${column}`);
    const value = this.values[index] ?? null;
    if (value === null) {
      if (field.nullable) return null as T;
      throw new TypeError(`column ${column} is NULL, and its field is not nullable`);
    }
    // The value was just checked to be what `field` declares, and T is what `field` declares.
    return checkedValue(column, field, value) as T;
  }

  /** The record `fields` declare, each field from the column of its name. */
  record<F extends Fields>(fields: F): RecordOf<F> {
    const record: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(fields)) record[name] = this.get(name, field);
    return record as RecordOf<F>;
  }
}

function checkedValue(column: string, field: Field, value: Exclude<DuckDBValue, null>): unknown {
  const kind = field.avro;
  const wrong = () => {
    const got = typeof value === 'object' ? value.constructor.name : typeof value;
    return new TypeError(`column ${column} holds a ${got}, not a ${kind}`);
  };
  switch (kind) {
    case 'string':
      if (typeof value !== 'string') throw wrong();
      return value;
    case 'enum':
      if (typeof value !== 'string' || !field.values?.includes(value)) throw wrong();
      return value;
    case 'long':
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      if (typeof value !== 'bigint') throw wrong();
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new RangeError(`column ${column} holds a long past 2^53`);
      }
      return Number(value);
    case 'double':
    case 'boolean':
      if (typeof value !== (kind === 'double' ? 'number' : 'boolean')) throw wrong();
      return value;
    case 'timestamp-micros':
      if (!(value instanceof DuckDBTimestampValue || value instanceof DuckDBTimestampTZValue)) throw wrong();
      return Number(value.micros);
    case 'bytes':
      if (!(value instanceof DuckDBBlobValue)) throw wrong();
      return Buffer.from(value.bytes.buffer, value.bytes.byteOffset, value.bytes.byteLength);
    case 'map':
      if (!(value instanceof DuckDBMapValue)) throw wrong();
      return Object.fromEntries(
        value.entries.map(({ key, value: entry }) => {
          if (typeof key !== 'string' || typeof entry !== 'string') throw wrong();
          return [key, entry];
        }),
      );
    default:
      throw wrong();
  }
}

export type RowReader<T> = (row: ResultRow) => T;

/** The rows of a result that ran already (a statement's RETURNING), each read by `read`. */
export function rowsOf<T>(result: DuckDBResultReader, read: RowReader<T>): T[] {
  const columns = new Map(result.columnNames().map((name, index) => [name, index]));
  return result.getRows().map((values) => read(new ResultRow(columns, values)));
}

/** Runs a query and reads each row of its result with `read` (see ResultRow). */
export async function readRows<T>(
  conn: DuckDBConnection,
  sql: string,
  read: RowReader<T>,
  params?: DuckDBValue[],
  /** Types of the parameters DuckDB cannot infer (lists). */
  types?: DuckDBType[],
): Promise<T[]> {
  return rowsOf(await conn.runAndReadAll(sql, params, types), read);
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
  return `'${sqlStringBody(text)}'`;
}

/** Text as the inside of an SQL string literal, for a template whose quotes are there already ('{{dataset}}/...'). */
export function sqlStringBody(text: string): string {
  return text.replaceAll("'", "''");
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
