/**
 * Read-only SQL over the Parquet dataset: an in-memory DuckDB with the views of sql/views.sql,
 * named like the warehouse tables. This is what `sessionflow sql` and BI-style readers use while
 * the pipeline runs; it never opens warehouse.duckdb, which the writer holds. With `restricted`
 * it also has the raw archive of DATA_DIR/restricted (sql/restricted.sql), for audit and operators.
 */
import { readFile, readdir } from 'node:fs/promises';
import { DuckDBInstance, type DuckDBResultReader } from '@duckdb/node-api';
import { SerialQueue, rowsOf, sqlStringBody, type DuckDBConnection, type RowReader } from '../../lib/duckdb.js';
import { SessionflowError } from '../../lib/errors.js';
import { sqlPath } from '../../lib/paths.js';
import { datasetDir, partitionDirs, restrictedDir } from './files.js';
import {
  ANALYST_TABLES,
  DATASET_TABLES,
  describeTables,
  parquetColumns,
  tableSchema,
  warehouseDdl,
  type DatasetTable,
} from './tables.js';

export interface Dataset {
  /** Runs one query; values come back JSON-ready (BIGINT and timestamps as exact strings). */
  query(sql: string): Promise<{ columns: string[]; rows: unknown[][] }>;
  /** Runs one query and reads each row with `read` (see ResultRow in lib/duckdb.ts). */
  read<T>(sql: string, read: RowReader<T>): Promise<T[]>;
  close(): Promise<void>;
}

/** Where the warehouse DDL is loaded to give tables without files their empty, typed view. */
const DDL_SCHEMA = 'sessionflow_ddl';
const READ_PARQUET = /read_parquet\('\{\{(?:dataset|restricted)\}\}\/(\w+)\/[^']*'[^)]*\)/g;
/** What a reader sees when a compaction or a rewrite removed a file it had just listed. */
const FILE_VANISHED = /IO Error|No files found|No such file|Cannot open file|Could not open/i;

async function hasFiles(dataDir: string, table: string): Promise<boolean> {
  for (const dir of await partitionDirs(dataDir, table)) {
    if ((await readdir(dir)).some((name) => name.endsWith('.parquet') && !name.startsWith('.'))) return true;
  }
  return false;
}

export interface DatasetOptions {
  /** Also the raw archive (raw_webhooks, bodies as received): for audit and operators, never for BI. */
  restricted?: boolean;
}

export async function openDataset(dataDir: string, options: DatasetOptions = {}): Promise<Dataset> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    await conn.run(`SET TimeZone = 'UTC'`);
    await conn.run(`CREATE SCHEMA ${DDL_SCHEMA}; USE memory.${DDL_SCHEMA};`);
    await conn.run(await warehouseDdl());
    await conn.run('USE memory.main');
    const files = options.restricted ? ['views.sql', 'restricted.sql'] : ['views.sql'];
    const template = (await Promise.all(files.map((file) => readFile(sqlPath(file), 'utf8')))).join('\n');
    const views = new DatasetViews(conn, dataDir, template, options.restricted ? DATASET_TABLES : ANALYST_TABLES);
    await views.create();
    return new DuckDBDataset(db, conn, views);
  } catch (err) {
    conn.closeSync();
    db.closeSync();
    throw err;
  }
}

class DatasetViews {
  /** Tables whose view is the empty stand-in, because they had no file at the last look. */
  private empty = new Set<string>();

  constructor(
    private readonly conn: DuckDBConnection,
    private readonly dataDir: string,
    private readonly template: string,
    private readonly tables: readonly DatasetTable[],
  ) {}

  async create(): Promise<void> {
    const empty = new Set<string>();
    for (const table of this.tables) if (!(await hasFiles(this.dataDir, table.name))) empty.add(table.name);
    const ddl = await describeTables(this.conn, DDL_SCHEMA);
    const literal = (path: string) => sqlStringBody(path.replaceAll('\\', '/'));
    const sql = this.template.replace(READ_PARQUET, (call, table: string) => {
      if (!empty.has(table)) return call;
      // The same columns and types as the files would give: what the export writes, plus the partition.
      const columns = parquetColumns(tableSchema(ddl, table));
      return `(SELECT ${columns.join(', ')}, CAST(NULL AS VARCHAR) AS provider, CAST(NULL AS DATE) AS "date" FROM ${DDL_SCHEMA}.${table} WHERE false)`;
    });
    await this.conn.run(
      sql
        .replaceAll('{{dataset}}', literal(datasetDir(this.dataDir)))
        .replaceAll('{{restricted}}', literal(restrictedDir(this.dataDir))),
    );
    this.empty = empty;
  }

  /** Re-creates the views when a table that had no file has one now (the pipeline wrote it). */
  async refresh(): Promise<void> {
    for (const table of this.empty) {
      if (await hasFiles(this.dataDir, table)) return this.create();
    }
  }
}

class DuckDBDataset implements Dataset {
  private readonly queue = new SerialQueue();
  private closed = false;

  constructor(
    private readonly db: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly views: DatasetViews,
  ) {}

  query(sql: string): Promise<{ columns: string[]; rows: unknown[][] }> {
    return this.run(sql, (result) => ({
      columns: result.columnNames(),
      rows: result.getRowsJS().map((row) => row.map(plain)),
    }));
  }

  read<T>(sql: string, read: RowReader<T>): Promise<T[]> {
    return this.run(sql, (result) => rowsOf(result, read));
  }

  private run<T>(sql: string, take: (result: DuckDBResultReader) => T): Promise<T> {
    if (this.closed) return Promise.reject(new SessionflowError('INTERNAL', 'the dataset is closed'));
    return this.queue.run(async () => {
      await this.views.refresh();
      try {
        return take(await this.conn.runAndReadAll(sql));
      } catch (err) {
        if (!(err instanceof Error) || !FILE_VANISHED.test(err.message)) throw err;
        // The writer replaced or compacted files while this query listed them: look again once.
        await this.views.create();
        return take(await this.conn.runAndReadAll(sql));
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.idle();
    this.conn.closeSync();
    this.db.closeSync();
  }
}

/** BIGINTs that fit a JS number become numbers (counts, bytes); timestamps stay Dates, blobs bytes. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint' && value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER))
    return Number(value);
  return value;
}
