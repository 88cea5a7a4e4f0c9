/**
 * Runs every report of sql/reports/ on the Parquet dataset for one period (the last N days, or
 * from..to) and renders them as one self-contained HTML page (page.ts).
 */
import { resolve } from 'node:path';
import { openDataset } from '../warehouse/query.js';
import { datasetDir } from '../warehouse/files.js';
import { periodStatement, listReports, type Period } from './catalog.js';
import { renderPage, type PageInput } from './page.js';

const isoDate = (v: unknown): string | null =>
  v instanceof Date ? v.toISOString().slice(0, 10) : v === null || v === undefined ? null : String(v);

export async function buildReport(dataDir: string, period: Period): Promise<{ html: string; input: PageInput }> {
  const dataset = await openDataset(dataDir);
  try {
    // The same dates the report files compute (the variables stay set for every report below).
    const today = `CAST(timezone('UTC', now()) AS DATE)`;
    const dates = await dataset.query(
      periodStatement(period) +
        `SELECT coalesce(getvariable('from_date'), ${today} - getvariable('days') + 1) AS first, ` +
        `coalesce(getvariable('to_date'), ${today}) AS last`,
    );
    const all = await dataset.query(
      `SELECT count(*) AS n, min("date") AS first, max("date") AS last FROM session_facts`,
    );
    const reports = [];
    for (const file of listReports()) reports.push({ file, result: await dataset.query(file.sql) });
    const [first, last] = dates.rows[0]!;
    const [n, firstDay, lastDay] = all.rows[0]!;
    const input: PageInput = {
      generatedAt: new Date(),
      from: isoDate(first)!,
      to: isoDate(last)!,
      days: 'days' in period ? period.days : null,
      dataset: resolve(datasetDir(dataDir)),
      all: { sessions: Number(n), first: isoDate(firstDay), last: isoDate(lastDay) },
      reports,
    };
    return { html: renderPage(input), input };
  } finally {
    await dataset.close();
  }
}
