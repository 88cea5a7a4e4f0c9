/**
 * The warehouse tables as the code sees them: their columns, read from DuckDB after
 * sql/warehouse.sql ran (that file is the one place columns are declared), and how each table
 * maps onto the Parquet dataset (DESIGN section 7).
 */
import { readFile } from 'node:fs/promises';
import { readRows, type DuckDBConnection } from '../../lib/duckdb.js';
import { SessionflowError } from '../../lib/errors.js';
import { sqlPath } from '../../lib/paths.js';
import * as field from '../../lib/record.js';

export type ColumnKind =
  | 'VARCHAR'
  | 'BIGINT'
  | 'INTEGER'
  | 'DOUBLE'
  | 'BOOLEAN'
  | 'TIMESTAMP'
  | 'BLOB'
  | 'MAP'
  | 'DATE';

export interface Column {
  name: string;
  kind: ColumnKind;
}

export interface TableSchema {
  name: string;
  columns: Column[];
}

/** Writer bookkeeping kept out of the Parquet files. */
const INTERNAL_COLUMNS = new Set(['batch_id']);

export function warehouseDdl(): Promise<string> {
  return readFile(sqlPath('warehouse.sql'), 'utf8');
}

function kindOf(type: string): ColumnKind {
  if (type.startsWith('MAP(')) return 'MAP';
  switch (type) {
    case 'VARCHAR':
    case 'BIGINT':
    case 'INTEGER':
    case 'DOUBLE':
    case 'BOOLEAN':
    case 'BLOB':
    case 'DATE':
    case 'TIMESTAMP':
      return type;
    default:
      throw new SessionflowError('INTERNAL', `warehouse column type ${type} has no binding`);
  }
}

/** The columns of every table of `schema`, in declaration order. */
export async function describeTables(conn: DuckDBConnection, schema = 'main'): Promise<Map<string, TableSchema>> {
  const rows = await readRows(
    conn,
    `SELECT table_name, column_name, data_type FROM information_schema.columns
     WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
    (row) => ({
      table_name: row.get('table_name', field.string),
      column_name: row.get('column_name', field.string),
      data_type: row.get('data_type', field.string),
    }),
    [schema],
  );
  const tables = new Map<string, TableSchema>();
  for (const row of rows) {
    let table = tables.get(row.table_name);
    if (!table) {
      table = { name: row.table_name, columns: [] };
      tables.set(row.table_name, table);
    }
    table.columns.push({ name: row.column_name, kind: kindOf(row.data_type) });
  }
  return tables;
}

export function tableSchema(tables: Map<string, TableSchema>, name: string): TableSchema {
  const table = tables.get(name);
  if (!table)
    throw new SessionflowError('INTERNAL', `warehouse table ${name} is missing: is sql/warehouse.sql applied?`);
  return table;
}

export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

export interface DatasetTable {
  name: string;
  /** rewrite: a touched partition is written again as one file; append: one more file per batch. */
  mode: 'rewrite' | 'append';
  /** The table's rows with their partition: `provider` and `part_date`, as SQL over the warehouse. */
  source: string;
  /** Row order inside a file, so equal data gives equal files. */
  orderBy: string;
  /**
   * In DATA_DIR/restricted, not in the dataset BI reads (DESIGN section 9): the raw archive, whose
   * bodies hold personal data, kept for replay and audit.
   */
  restricted: boolean;
}

/** The date of a session: of started_at, else of its first event (a session always has one). */
const SESSION_DATE = 'CAST(coalesce(f.started_at, f.first_event_at) AS DATE)';

export const DATASET_TABLES: readonly DatasetTable[] = [
  {
    name: 'session_facts',
    mode: 'rewrite',
    source: `SELECT f.*, ${SESSION_DATE} AS part_date FROM session_facts f`,
    orderBy: 'session_key',
    restricted: false,
  },
  {
    name: 'participant_sessions',
    mode: 'rewrite',
    source: `SELECT p.*, f.provider, ${SESSION_DATE} AS part_date
             FROM participant_sessions p JOIN session_facts f ON f.session_key = p.session_key`,
    orderBy: 'session_key, joined_at, participant_key, left_at',
    restricted: false,
  },
  {
    name: 'session_events',
    mode: 'append',
    source: 'SELECT *, CAST(occurred_at AS DATE) AS part_date FROM session_events',
    orderBy: 'occurred_at, event_id',
    restricted: false,
  },
  {
    name: 'raw_webhooks',
    mode: 'append',
    source: 'SELECT *, CAST(received_at AS DATE) AS part_date FROM raw_webhooks',
    orderBy: 'received_at, ingest_id',
    restricted: true,
  },
  {
    name: 'dead_letters',
    mode: 'append',
    source: 'SELECT *, CAST(received_at AS DATE) AS part_date FROM dead_letters',
    orderBy: 'received_at, ingest_id, stage, error_code, field_path',
    restricted: false,
  },
  {
    // No personal value, but a record for whoever answers erasure requests, read by audit.
    name: 'erasures',
    mode: 'append',
    source: 'SELECT *, CAST(erased_at AS DATE) AS part_date FROM erasures',
    orderBy: 'erased_at, erasure_id, reason',
    restricted: true,
  },
];

/** The tables of the dataset analysts and BI tools read: no raw body, no personal value (DESIGN section 9). */
export const ANALYST_TABLES: readonly DatasetTable[] = DATASET_TABLES.filter((t) => !t.restricted);

export function datasetTable(name: string): DatasetTable {
  const table = DATASET_TABLES.find((t) => t.name === name);
  if (!table) throw new SessionflowError('INTERNAL', `${name} is not a dataset table`);
  return table;
}

/**
 * The SELECT list of a table's Parquet files: every column but the partition (`provider` is in
 * the folder name, hive style) and the writer's bookkeeping; timestamps become UTC instants
 * (TIMESTAMPTZ, isAdjustedToUTC in Parquet), whatever the session's TimeZone.
 */
export function parquetColumns(table: TableSchema): string[] {
  return table.columns
    .filter((c) => c.name !== 'provider' && !INTERNAL_COLUMNS.has(c.name))
    .map((c) =>
      c.kind === 'TIMESTAMP' ? `timezone('UTC', ${quoteIdent(c.name)}) AS ${quoteIdent(c.name)}` : quoteIdent(c.name),
    );
}
