import type { Command } from 'commander';
import { createProgress, formatDuration, interruptOnSignals } from '../../lib/progress.js';
import { fail, loadConfigOrExit, loggerFor, openOffline, positiveInteger } from '../context.js';

const AFTER = `
Works on DATA_DIR/warehouse.duckdb itself: stop sessionflow run/warehouse first.
Each chunk of sessions is one transaction. Ctrl-C stops after the chunk in hand and leaves the
warehouse consistent (a second Ctrl-C exits at once); run the command again to finish.`;

export function registerRebuild(program: Command): void {
  program
    .command('rebuild')
    .description(
      'fold every session fact and participant span again from session_events (after the fact logic changed), then rewrite their Parquet partitions',
    )
    .option('--chunk <sessions>', 'sessions per transaction', '1000')
    .addHelpText('after', AFTER)
    .action(async (options: { chunk: string }) => {
      const chunkSize = positiveInteger(options.chunk, '--chunk');
      const config = loadConfigOrExit();
      const logger = loggerFor(config);
      const warehouse = await openOffline(config, logger);
      const interrupt = interruptOnSignals('rebuild: stopping after the chunk in hand (Ctrl-C again to quit at once)…');
      const sessions = createProgress({ label: 'rebuild', unit: 'sessions' });
      const partitions = createProgress({ label: 'export', unit: 'partitions' });
      const started = performance.now();
      try {
        const report = await warehouse.rebuild({
          chunkSize,
          signal: interrupt.signal,
          onProgress: sessions.update,
          onExportProgress: partitions.update,
        });
        sessions.finish(
          `${count(report.rebuilt)} of ${count(report.total)} sessions folded, ${count(report.changed)} changed, ${count(report.orphans)} without events removed`,
        );
        partitions.finish(`${count(report.exported)} Parquet partitions written`);
        await warehouse.close();
        logger.flush();
        const took = formatDuration((performance.now() - started) / 1000);
        if (report.interrupted)
          fail(`interrupted after ${took}; the warehouse is consistent: run sessionflow rebuild again to finish`, 130);
        if (report.failed.length > 0)
          fail(
            `${report.failed.length} sessions could not be folded and kept their facts (first: ${report.failed.slice(0, 5).join(', ')}); see the log`,
          );
        process.stderr.write(`rebuild: done in ${took}\n`);
      } catch (err) {
        await warehouse.close().catch(() => undefined);
        fail(err instanceof Error ? err.message : String(err));
      } finally {
        interrupt.dispose();
      }
    });
}

const count = (n: number) => n.toLocaleString('en-US');
