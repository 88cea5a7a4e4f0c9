import { rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { fail, loadConfigOrExit } from '../context.js';
import { buildReport } from '../../processors/report/build.js';
import { DEFAULT_DAYS, parsePeriod } from '../../processors/report/catalog.js';

export function registerReport(program: Command): void {
  program
    .command('report')
    .description(
      'write the reports of sql/reports/ as one self-contained HTML page (charts and tables); works while the pipeline runs',
    )
    .option('--out <file>', 'the HTML file to write', 'report.html')
    .option('--days <n>', `the period: the last n UTC dates, today included (default ${DEFAULT_DAYS})`)
    .option('--from <date>', 'the period from this UTC date (YYYY-MM-DD), included; instead of --days')
    .option('--to <date>', 'the period up to this UTC date (YYYY-MM-DD), included; today by default')
    .addHelpText(
      'after',
      '\nEvery panel shows the period. The page needs no network to open: inline CSS and SVG, no script.\n' +
        'Example: npx sessionflow report --out report.html --days 7\n' +
        'A past month (data replayed or backfilled): npx sessionflow report --from 2026-05-01 --to 2026-05-31\n' +
        'One report as a table: npx sessionflow sql --report consent',
    )
    .action(async (options: { out: string; days?: string; from?: string; to?: string }) => {
      const period = parsePeriod(options, DEFAULT_DAYS);
      if (typeof period === 'string') fail(period, 2);
      const config = loadConfigOrExit();
      try {
        const { html, input } = await buildReport(config.dataDir, period);
        const out = resolve(options.out);
        const tmp = join(dirname(out), `.${basename(out)}.tmp`);
        await writeFile(tmp, html);
        await rename(tmp, out);
        const perDay = input.reports.find((r) => r.file.name === 'sessions_per_day')?.result;
        const column = perDay?.columns.indexOf('sessions') ?? -1;
        const sessions = perDay?.rows.reduce((sum: number, row) => sum + Number(row[column] ?? 0), 0) ?? 0;
        process.stdout.write(
          `${options.out}: ${input.reports.length} reports, ${sessions} session${sessions === 1 ? '' : 's'} from ${input.from} to ${input.to} (UTC)\n`,
        );
      } catch (err) {
        fail((err as Error).message);
      }
    });
}
