import type { DuckDBConnection, DuckDBType, DuckDBValue } from '@duckdb/node-api';
import { openDataset, type DatasetOptions } from '../../processors/warehouse/query.js';

/**
 * Rows of one query on the Parquet dataset of `dataDir` (the views `sessionflow sql` uses), as
 * objects; `{ restricted: true }` adds the raw archive (raw_webhooks), as `sessionflow sql --restricted`.
 */
export async function queryDataset(
  dataDir: string,
  sql: string,
  options: DatasetOptions = {},
): Promise<Record<string, unknown>[]> {
  const dataset = await openDataset(dataDir, options);
  try {
    const { columns, rows } = await dataset.query(sql);
    return rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]])));
  } finally {
    await dataset.close();
  }
}

/** A deterministic shuffle (a linear congruential generator), so a failure can be replayed with its seed. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Runs a query and returns its rows as plain JS objects (BIGINT → bigint, BLOB → Uint8Array),
 * unchecked: for a look in a test (the product reads rows through readRows, which checks them).
 */
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
