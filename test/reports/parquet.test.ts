/**
 * The Parquet dataset as a reader that is not DuckDB sees it (hyparquet, with
 * hyparquet-compressors for ZSTD): the same rows, the same values, ZSTD, UTC timestamps, and
 * the Hive partition columns in the folder names.
 */
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';
import { buildDataset, type Built } from './dataset.js';
import { rowsOf } from './support.js';
import { tableDir } from '../../processors/warehouse/files.js';

const TABLES = ['session_facts', 'participant_sessions', 'session_events', 'raw_webhooks', 'dead_letters'] as const;
const dir = tempDir('sessionflow-parquet-');
let built: Built;

beforeAll(async () => {
  built = await buildDataset(dir.path);
});
afterAll(() => dir.remove());

function parquetFiles(table: string): string[] {
  const root = tableDir(dir.path, table);
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.parquet'))
    .sort()
    .map((f) => join(root, f));
}

/** Every row of a table through hyparquet, timestamps as exact microseconds, with the folder's provider and date. */
async function hyparquetRows(table: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const path of parquetFiles(table)) {
    const [provider, date] = relative(tableDir(dir.path, table), path).split(sep);
    const file = await asyncBufferFromFile(path);
    const read = await parquetReadObjects({
      file,
      compressors,
      parsers: { timestampFromMicroseconds: (micros: bigint) => micros },
    });
    for (const row of read)
      rows.push({
        ...row,
        provider: decodeURIComponent(provider!.replace('provider=', '')),
        date: date!.replace('date=', ''),
      });
  }
  return rows;
}

/** The same columns from DuckDB's views (the raw archive's too), timestamps as epoch microseconds. */
function duckdbRows(sql: string): Promise<Record<string, unknown>[]> {
  return rowsOf(dir.path, sql, { restricted: true });
}

const micros = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

describe('the Parquet dataset read by hyparquet', () => {
  it('has the rows DuckDB has, table by table', async () => {
    for (const table of TABLES) {
      const [{ n }] = (await duckdbRows(`SELECT count(*) AS n FROM ${table}`)) as [{ n: number }];
      expect((await hyparquetRows(table)).length, table).toBe(n);
      if (table !== 'participant_sessions') expect(n, table).toBe(built.rows[table]);
    }
    // Z1..Z4 four spans each, Zab and Zopen three, mluvii and Apizee two per session.
    expect((await hyparquetRows('participant_sessions')).length).toBe(4 * 4 + 2 * 3 + 4 * 2 + 2 * 2);
  });

  it('is ZSTD throughout, with timestamps as UTC instants in microseconds', async () => {
    for (const table of TABLES) {
      for (const path of parquetFiles(table)) {
        const metadata = await parquetMetadataAsync(await asyncBufferFromFile(path));
        const codecs = new Set(metadata.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec)));
        expect([...codecs], path).toEqual(['ZSTD']);
        const timestamps = metadata.schema.filter((s) => s.logical_type?.type === 'TIMESTAMP');
        expect(timestamps.length, path).toBeGreaterThan(0);
        for (const column of timestamps)
          expect(column.logical_type, `${path} ${column.name}`).toEqual({
            type: 'TIMESTAMP',
            isAdjustedToUTC: true,
            unit: 'MICROS',
          });
      }
    }
    // Which is why hyparquet-compressors is a devDependency: hyparquet alone reads no ZSTD.
    const file = await asyncBufferFromFile(parquetFiles('session_facts')[0]!);
    await expect(parquetReadObjects({ file })).rejects.toThrow(/ZSTD/);
  });

  it('gives session facts equal to DuckDB, value for value', async () => {
    const columns = [
      'session_key',
      'provider',
      'status',
      'duration_seconds',
      'participants',
      'peak_concurrent',
      'consent',
      'camera_allowed',
      'recording_bytes',
      'survey_score',
    ];
    const mine = (await hyparquetRows('session_facts'))
      .map((r): Record<string, unknown> & { started_at: string | null } => ({
        ...Object.fromEntries(columns.map((c) => [c, typeof r[c] === 'bigint' ? Number(r[c]) : r[c]])),
        started_at: micros(r.started_at),
        ended_at: micros(r.ended_at),
        date: r.date,
      }))
      .sort((a, b) => String(a.session_key).localeCompare(String(b.session_key)));
    const theirs = (
      await duckdbRows(
        `SELECT ${columns.join(', ')}, CAST(epoch_us(started_at) AS VARCHAR) AS started_at, CAST(epoch_us(ended_at) AS VARCHAR) AS ended_at, CAST("date" AS VARCHAR) AS date
         FROM session_facts`,
      )
    ).sort((a, b) => String(a.session_key).localeCompare(String(b.session_key)));
    expect(mine).toEqual(theirs);
    // The partition date is the UTC date of started_at, as the instant hyparquet read says.
    for (const row of mine)
      expect(row.date).toBe(new Date(Number(BigInt(row.started_at!) / 1000n)).toISOString().slice(0, 10));
    expect(mine.filter((r) => r.provider === 'zoom' && r.status === 'ended').map((r) => r.duration_seconds)).toEqual([
      1200, 1200, 1200, 1200,
    ]);
  });

  it('gives events, raw deliveries and dead letters equal to DuckDB', async () => {
    const events = (await hyparquetRows('session_events'))
      .map((r) => `${r.event_id}|${r.type}|${micros(r.occurred_at)}|${r.provider}|${r.date}`)
      .sort();
    const duckEvents = (
      await duckdbRows(
        `SELECT event_id || '|' || type || '|' || epoch_us(occurred_at) || '|' || provider || '|' || "date" AS k FROM session_events`,
      )
    )
      .map((r) => r.k)
      .sort();
    expect(events).toEqual(duckEvents);

    const raw = (await hyparquetRows('raw_webhooks'))
      .map(
        (r) =>
          `${r.ingest_id}|${micros(r.received_at)}|${Buffer.from(r.body as Uint8Array)
            .toString('utf8')
            .slice(0, 30)}`,
      )
      .sort();
    const duckRaw = (
      await duckdbRows(
        `SELECT ingest_id || '|' || epoch_us(received_at) || '|' || left(decode(body), 30) AS k FROM raw_webhooks`,
      )
    )
      .map((r) => r.k)
      .sort();
    expect(raw).toEqual(duckRaw);

    const dead = (await hyparquetRows('dead_letters'))
      .map((r) => `${r.provider}|${r.stage}|${r.error_code}|${r.field_path}|${micros(r.received_at)}`)
      .sort();
    const duckDead = (
      await duckdbRows(
        `SELECT provider || '|' || stage || '|' || error_code || '|' || coalesce(field_path, 'null') || '|' || epoch_us(received_at) AS k FROM dead_letters`,
      )
    )
      .map((r) => r.k)
      .sort();
    expect(dead).toEqual(duckDead);
    expect(dead.filter((d) => d.includes('BODY_NOT_JSON'))).toHaveLength(2);
  });
});
