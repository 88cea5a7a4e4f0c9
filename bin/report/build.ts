/**
 * Runs every report of sql/reports/ on the Parquet dataset for the last `days` days and
 * renders them as one self-contained HTML page (page.ts).
 */
import { resolve } from 'node:path';
import { openDataset } from '../../processors/warehouse/query.js';
import { datasetDir } from '../../processors/warehouse/files.js';
import { daysStatement, listReports } from './catalog.js';
import { renderPage, type PageInput } from './page.js';

const isoDate = (v: unknown): string | null => (v instanceof Date ? v.toISOString().slice(0, 10) : v === null || v === undefined ? null : String(v));

export async function buildReport(dataDir: string, days: number): Promise<{ html: string; input: PageInput }> {
  const dataset = await openDataset(dataDir);
  try {
    // The same dates the report files compute: the last `days` UTC dates, today included.
    const period = await dataset.query(
      `${daysStatement(days)}SELECT CAST(timezone('UTC', now()) AS DATE) - getvariable('days') + 1 AS first, CAST(timezone('UTC', now()) AS DATE) AS last`,
    );
    const all = await dataset.query(`SELECT count(*) AS n, min("date") AS first, max("date") AS last FROM session_facts`);
    const reports = [];
    for (const file of listReports()) reports.push({ file, result: await dataset.query(file.sql) });
    const [first, last] = period.rows[0]!;
    const [n, firstDay, lastDay] = all.rows[0]!;
    const input: PageInput = {
      generatedAt: new Date(),
      from: isoDate(first)!,
      to: isoDate(last)!,
      days,
      dataset: resolve(datasetDir(dataDir)),
      all: { sessions: Number(n), first: isoDate(firstDay), last: isoDate(lastDay) },
      reports,
    };
    return { html: renderPage(input), input };
  } finally {
    await dataset.close();
  }
}
