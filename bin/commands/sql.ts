import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { openDataset } from '../../processors/warehouse/query.js';
import { fail, loadConfigOrExit } from '../context.js';
import { formatRows } from '../../lib/table-format.js';
import {
  DEFAULT_DAYS,
  findReport,
  listReports,
  parsePeriod,
  periodStatement,
  reportHelp,
  type Period,
} from '../../processors/report/catalog.js';
import { writeInitFile, writeViewsDb, type ViewsSql } from '../../processors/report/views-file.js';

interface SqlOptions {
  format: string;
  report?: string;
  days?: string;
  from?: string;
  to?: string;
  initFile?: string;
  viewsDb?: string;
  restricted?: boolean;
}

export function registerSql(program: Command): void {
  program
    .command('sql')
    .description('run SQL, a .sql file or a report on the Parquet dataset; works while the pipeline runs')
    .argument('[query]', 'a query such as "select * from session_facts", the path of a .sql file, or a report name')
    .option('--format <format>', 'table, csv or json', 'table')
    .option('--report <name>', 'run a report of sql/reports/ (its name, e.g. consent, or a path)')
    .option(
      '--days <n>',
      `the period reports cover: the last n UTC dates, today included (default ${DEFAULT_DAYS}); sets the DuckDB variable days`,
    )
    .option('--from <date>', 'the period from this UTC date (YYYY-MM-DD), included; sets the DuckDB variable from_date')
    .option('--to <date>', 'the period up to this UTC date (YYYY-MM-DD), included, today by default; sets to_date')
    .option(
      '--init-file <path>',
      "write the views over this DATA_DIR as an SQL file for duckdb -init or a BI tool's init SQL, and exit",
    )
    .option(
      '--views-db <path>',
      'write a DuckDB database holding only those views, for Metabase, Superset or DBeaver, and exit',
    )
    .option(
      '--restricted',
      'also the raw archive of DATA_DIR/restricted (raw_webhooks: bodies as received, with personal data), for operators looking into a delivery',
    )
    .addHelpText(
      'after',
      () =>
        '\nTables: session_facts, participant_sessions, session_events, dead_letters; with --restricted also raw_webhooks (columns: sql/README.md).\n' +
        'Example: npx sessionflow sql "select provider, count(*), avg(duration_seconds) from session_facts group by 1"\n\n' +
        reportHelp() +
        '\nExample: npx sessionflow sql --report last_7_days   (or: npx sessionflow sql sql/reports/consent.sql --days 7)\n' +
        'All of them as one HTML page: npx sessionflow report --out report.html',
    )
    .action(async (query: string | undefined, options: SqlOptions) => {
      if (!['table', 'csv', 'json'].includes(options.format)) fail('--format must be table, csv or json', 2);
      let period: Period | undefined;
      if (options.days !== undefined || options.from !== undefined || options.to !== undefined) {
        const parsed = parsePeriod(options, DEFAULT_DAYS);
        if (typeof parsed === 'string') fail(parsed, 2);
        period = parsed;
      }
      if (options.restricted && (options.initFile !== undefined || options.viewsDb !== undefined)) {
        fail('--restricted is for queries run here: the views for BI tools never serve raw bodies', 2);
      }
      const config = loadConfigOrExit();
      if (options.initFile !== undefined || options.viewsDb !== undefined) {
        return writeViews(config.dataDir, options);
      }
      const text = queryText(query, options.report);
      const dataset = await openDataset(config.dataDir, { restricted: options.restricted === true });
      try {
        const result = await dataset.query((period === undefined ? '' : periodStatement(period)) + text);
        process.stdout.write(formatRows(result.columns, result.rows, options.format));
      } catch (err) {
        const message = (err as Error).message;
        const restricted = !options.restricted && /raw_webhooks does not exist/.test(message);
        fail(
          restricted
            ? `${message}\nThe raw archive holds personal data and is not among the analysts' views: sessionflow sql --restricted (operators only).`
            : message,
        );
      } finally {
        await dataset.close();
      }
    });
}

/** The SQL to run: --report's file, a .sql file, a report named alone, or the query itself. */
function queryText(query: string | undefined, report: string | undefined): string {
  if (report !== undefined) {
    const file = findReport(report);
    if (!file)
      fail(
        `no report ${report}; the reports are: ${listReports()
          .map((r) => r.name)
          .join(', ')}`,
        2,
      );
    return file.sql;
  }
  if (query === undefined) fail('give a query, a .sql file or --report <name> (see sessionflow sql --help)', 2);
  if (query.trim().toLowerCase().endsWith('.sql') && existsSync(query)) return readFileSync(query, 'utf8');
  return findReport(query.trim())?.sql ?? query;
}

async function writeViews(dataDir: string, options: SqlOptions): Promise<void> {
  const done = (path: string, views: ViewsSql) => {
    process.stdout.write(`${path}: views over ${views.dataset}\n`);
    if (views.empty.length > 0)
      process.stdout.write(
        `  no Parquet file yet for ${views.empty.join(', ')}: those views are empty; make the file again once they have data\n`,
      );
  };
  try {
    if (options.initFile !== undefined) done(options.initFile, await writeInitFile(dataDir, options.initFile));
    if (options.viewsDb !== undefined) done(options.viewsDb, await writeViewsDb(dataDir, options.viewsDb));
  } catch (err) {
    fail((err as Error).message);
  }
}
