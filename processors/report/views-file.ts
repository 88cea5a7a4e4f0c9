/**
 * The dataset views of sql/views.sql, for tools that bring their own DuckDB (the DuckDB CLI,
 * Metabase and Superset through their DuckDB drivers, dbt-duckdb, Evidence): as an SQL file to
 * run at connect (`sessionflow sql --init-file`) or as a small DuckDB database that holds only
 * the views (`sessionflow sql --views-db`). Either reads the Parquet files at query time, so it
 * stays current while the pipeline writes; neither ever opens warehouse.duckdb. Neither serves
 * the raw archive (sql/restricted.sql): what BI reads holds no raw body.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { readRows, sqlString, sqlStringBody } from '../../lib/duckdb.js';
import { SessionflowError } from '../../lib/errors.js';
import { sqlPath } from '../../lib/paths.js';
import * as field from '../../lib/record.js';
import { datasetDir, partitionDirs } from '../warehouse/files.js';
import { ANALYST_TABLES, quoteIdent, warehouseDdl } from '../warehouse/tables.js';

const READ_PARQUET = /read_parquet\('\{\{dataset\}\}\/(\w+)\/[^']*'[^)]*\)/g;
/** The view a views database made by us always has; anything else is not ours to overwrite. */
const MARKER_VIEW = 'sessionflow_views';

export interface ViewsSql {
  sql: string;
  dataset: string;
  /** Tables that had no Parquet file yet: their view is an empty, typed stand-in. */
  empty: string[];
}

async function hasFiles(dataDir: string, table: string): Promise<boolean> {
  for (const dir of await partitionDirs(dataDir, table)) {
    if (readdirSync(dir).some((name) => name.endsWith('.parquet') && !name.startsWith('.'))) return true;
  }
  return false;
}

/**
 * The column list of an empty stand-in, typed as the Parquet files give them (timestamps are
 * UTC instants, TIMESTAMPTZ): DuckDB cannot create a view over a glob that matches no file.
 */
async function emptyRelations(): Promise<Map<string, string>> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    await conn.run(await warehouseDdl());
    const rows = await readRows(
      conn,
      `SELECT table_name, column_name, data_type FROM information_schema.columns ORDER BY table_name, ordinal_position`,
      (row) => ({
        table_name: row.get('table_name', field.string),
        column_name: row.get('column_name', field.string),
        data_type: row.get('data_type', field.string),
      }),
    );
    const relations = new Map<string, string>();
    for (const table of ANALYST_TABLES) {
      const columns = rows
        .filter((r) => r.table_name === table.name && r.column_name !== 'provider' && r.column_name !== 'batch_id')
        .map(
          (r) =>
            `CAST(NULL AS ${r.data_type === 'TIMESTAMP' ? 'TIMESTAMPTZ' : r.data_type}) AS ${quoteIdent(r.column_name)}`,
        );
      relations.set(
        table.name,
        `(SELECT ${columns.join(', ')}, CAST(NULL AS VARCHAR) AS provider, CAST(NULL AS DATE) AS "date" WHERE false)`,
      );
    }
    return relations;
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/** sql/views.sql with this DATA_DIR's dataset folder (absolute) in place of {{dataset}}. */
export async function viewsSql(dataDir: string): Promise<ViewsSql> {
  const dataset = resolve(datasetDir(dataDir)).replaceAll('\\', '/');
  const empty: string[] = [];
  for (const table of ANALYST_TABLES) if (!(await hasFiles(dataDir, table.name))) empty.push(table.name);
  const stand = empty.length > 0 ? await emptyRelations() : new Map<string, string>();
  const template = await readFile(sqlPath('views.sql'), 'utf8');
  const sql = template
    .replace(READ_PARQUET, (call, table: string) => (empty.includes(table) ? stand.get(table)! : call))
    .replaceAll('{{dataset}}', sqlStringBody(dataset));
  return { sql, dataset, empty };
}

/** An SQL file to run when a DuckDB session starts: `duckdb -init <file>`, Metabase's Init SQL. */
export async function writeInitFile(dataDir: string, path: string): Promise<ViewsSql> {
  const views = await viewsSql(dataDir);
  const header = [
    `-- The sessionflow views over ${views.dataset}, made by \`sessionflow sql --init-file\`.`,
    "-- Run it when a DuckDB session starts (duckdb -init <this file>, or a BI tool's init SQL).",
    ...(views.empty.length > 0
      ? [`-- No file yet for: ${views.empty.join(', ')}; their views are empty until you make this file again.`]
      : []),
    "SET TimeZone = 'UTC';",
    '',
  ].join('\n');
  await mkdir(dirname(resolve(path)), { recursive: true });
  await writeFile(path, header + views.sql);
  return views;
}

/**
 * A DuckDB database holding only the views (and a `sessionflow_views` view saying what they
 * read), for clients that open a database file. Written beside `path` and renamed into place;
 * an existing file is replaced only if it is such a views database.
 */
export async function writeViewsDb(dataDir: string, path: string): Promise<ViewsSql> {
  const target = resolve(path);
  if (target === resolve(dataDir, 'warehouse.duckdb') || target === resolve(dataDir, 'log.duckdb')) {
    throw new SessionflowError(
      'ARGUMENT_INVALID',
      `${path} is the pipeline's own database: choose another file, such as ${join(dataDir, 'views.duckdb')}`,
    );
  }
  if (existsSync(target) && !(await isViewsDb(target))) {
    throw new SessionflowError(
      'ARGUMENT_INVALID',
      `${path} exists and is not a views database made by sessionflow: not replacing it`,
    );
  }
  const views = await viewsSql(dataDir);
  const tmp = join(dirname(target), `.${basename(target)}.tmp`);
  await mkdir(dirname(target), { recursive: true });
  await rm(tmp, { force: true });
  const db = await DuckDBInstance.create(tmp);
  const conn = await db.connect();
  try {
    await conn.run(views.sql);
    await conn.run(
      `CREATE VIEW ${MARKER_VIEW} AS SELECT ${sqlString(views.dataset)} AS dataset, TIMESTAMPTZ ${sqlString(new Date().toISOString())} AS made_at, ` +
        `${sqlString(views.empty.join(','))} AS tables_without_files`,
    );
    await conn.run('CHECKPOINT');
  } finally {
    conn.closeSync();
    db.closeSync();
  }
  await rm(`${tmp}.wal`, { force: true });
  await rm(`${target}.wal`, { force: true }); // a WAL left by an older views file would be replayed onto this one
  await rename(tmp, target);
  return views;
}

async function isViewsDb(path: string): Promise<boolean> {
  let db: DuckDBInstance | undefined;
  try {
    db = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
    const conn = await db.connect();
    try {
      const count = async (sql: string) => (await readRows(conn, sql, (row) => row.get('n', field.long)))[0];
      const tables = await count(`SELECT count(*) AS n FROM duckdb_tables() WHERE database_name = current_database()`);
      const marker = await count(
        `SELECT count(*) AS n FROM duckdb_views() WHERE database_name = current_database() AND view_name = '${MARKER_VIEW}'`,
      );
      return tables === 0 && marker === 1;
    } finally {
      conn.closeSync();
    }
  } catch {
    return false;
  } finally {
    db?.closeSync();
  }
}
