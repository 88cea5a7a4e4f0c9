import type { Command } from 'commander';
import { count, loadConfigOrExit, loggerFor, positiveInteger, runOffline } from '../context.js';

const AFTER = `
Works on DATA_DIR/warehouse.duckdb itself: stop sessionflow run/warehouse first.
Each chunk of sessions is one transaction. Ctrl-C stops after the chunk in hand and leaves the
warehouse consistent (a second Ctrl-C exits at once); run the command again to finish.`;

export function registerRebuild(program: Command): void {
  program
    .command('rebuild')
    .description(
      'fold every session fact and participant span again from session_events (after the fact logic changed), ' +
        'then rewrite their Parquet partitions',
    )
    .option('--chunk <sessions>', 'sessions per transaction', '1000')
    .addHelpText('after', AFTER)
    .action(async (options: { chunk: string }) => {
      const chunkSize = positiveInteger(options.chunk, '--chunk');
      const config = loadConfigOrExit();
      await runOffline(config, loggerFor(config), {
        name: 'rebuild',
        unit: 'sessions',
        run: (warehouse, control) => warehouse.rebuild({ chunkSize, ...control }),
        summary: (report) =>
          `${count(report.rebuilt)} of ${count(report.total)} sessions folded, ${count(report.changed)} changed, ` +
          `${count(report.orphans)} without events removed`,
        resume: () => 'run sessionflow rebuild again to finish',
        failure: (report) =>
          report.failed.length === 0
            ? undefined
            : `${report.failed.length} sessions could not be folded and kept their facts ` +
              `(first: ${report.failed.slice(0, 5).join(', ')}); see the log`,
      });
    });
}
