/**
 * The reports of sql/reports/: one plain SELECT per file over the dataset views, headed by
 * comments: the first line is the title, then `-- Question:` (what an analyst asks) and
 * `-- Period:` (which dates it covers). `sessionflow sql --report <name>` and
 * `sessionflow report` read them from here.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { sqlPath } from '../../lib/paths.js';

export interface ReportFile {
  /** The file name without `.sql`: what `--report` takes. */
  name: string;
  path: string;
  title: string;
  /** The `-- Question:` paragraph, on one line. */
  question: string;
  sql: string;
}

/** The window every report but last_7_days reads when nobody sets `days`. */
export const DEFAULT_DAYS = 30;

export const reportsDir = (): string => sqlPath('reports');

export function readReport(path: string): ReportFile {
  const sql = readFileSync(path, 'utf8');
  const comments: string[] = [];
  for (const line of sql.split('\n')) {
    if (!line.startsWith('--')) break;
    comments.push(line.replace(/^--\s?/, ''));
  }
  const title = comments[0]?.trim() || basename(path, '.sql');
  const question: string[] = [];
  let inQuestion = false;
  for (const line of comments.slice(1)) {
    if (/^\w+:/.test(line)) inQuestion = line.startsWith('Question:');
    if (inQuestion) question.push(line.replace(/^Question:\s*/, '').trim());
  }
  const text = question.join(' ');
  return { name: basename(path, '.sql'), path, title, question: text.charAt(0).toUpperCase() + text.slice(1), sql };
}

/** Every report, by name. */
export function listReports(dir = reportsDir()): ReportFile[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => readReport(resolve(dir, file)));
}

/** A report by its name (`consent`) or the path of any .sql file; undefined when neither. */
export function findReport(nameOrPath: string): ReportFile | undefined {
  const byName = resolve(reportsDir(), `${nameOrPath.replace(/\.sql$/, '')}.sql`);
  if (/^[\w-]+(\.sql)?$/.test(nameOrPath) && existsSync(byName)) return readReport(byName);
  if (nameOrPath.endsWith('.sql') && existsSync(nameOrPath)) return readReport(nameOrPath);
  return undefined;
}

/** The lines `sessionflow sql --help` shows. */
export function reportHelp(): string {
  const reports = listReports();
  if (reports.length === 0) return '';
  const width = Math.max(...reports.map((r) => r.name.length));
  return [
    'Reports (sql/reports/, run with --report <name>):',
    ...reports.map((r) => `  ${r.name.padEnd(width)}  ${r.title}`),
  ].join('\n');
}

/** The period of a report: the last `days` UTC dates (today included), or the UTC dates from..to, both included. */
export type Period = { days: number } | { from: string; to: string };

/**
 * What makes a report read the period: DuckDB's SET VARIABLE, which the report files read with
 * getvariable('days'), getvariable('from_date') and getvariable('to_date').
 */
export function periodStatement(period: Period): string {
  if ('days' in period) return `SET VARIABLE days = ${Math.trunc(period.days)};\n`;
  return `SET VARIABLE from_date = DATE '${period.from}';\nSET VARIABLE to_date = DATE '${period.to}';\n`;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const validDate = (text: string) => DATE.test(text) && new Date(`${text}T00:00:00Z`).toISOString().startsWith(text);

/**
 * The period the options give, or what is wrong with them: --days alone, or --from and --to (UTC
 * dates, YYYY-MM-DD, both included; --to defaults to today), never both.
 */
export function parsePeriod(
  options: { days?: string; from?: string; to?: string },
  defaultDays: number,
): Period | string {
  if (options.from === undefined && options.to === undefined) {
    const days = options.days === undefined ? defaultDays : Number(options.days);
    return Number.isInteger(days) && days >= 1 && days <= 36_600
      ? { days }
      : '--days must be a whole number of days from 1';
  }
  if (options.days !== undefined) return 'give --days, or --from and --to, not both';
  if (options.from === undefined) return '--to needs --from';
  const to = options.to ?? new Date().toISOString().slice(0, 10);
  for (const [name, value] of [
    ['--from', options.from],
    ['--to', to],
  ] as const)
    if (!validDate(value)) return `${name} must be a UTC date, YYYY-MM-DD (got ${JSON.stringify(value)})`;
  if (options.from > to) return `--from ${options.from} is after --to ${to}`;
  return { from: options.from, to };
}
