import type { Command } from 'commander';
import { createLogger } from '../../lib/logger.js';
import { loadConfigOrExit } from '../context.js';
import { startPipeline } from '../pipeline.js';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the whole pipeline in one process: ingest (HTTP), normalize and warehouse (embedded mode unless KAFKA_BROKERS is set)')
    .addHelpText('after', '\nConfiguration comes from the environment and .env (see .env.example). Data goes to DATA_DIR (default ./data).\nStop with Ctrl-C or SIGTERM: it finishes the batch in hand, commits and closes DuckDB.')
    .action(async () => {
      const config = loadConfigOrExit();
      const logger = createLogger(config.logLevel);
      const pipeline = await startPipeline(config, logger);
      let stopping = false;
      const shutdown = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'draining');
        try {
          await pipeline.stop();
          logger.info('stopped');
          logger.flush();
          process.exit(0);
        } catch (err) {
          logger.error({ err }, 'shutdown failed');
          logger.flush();
          process.exit(1);
        }
      };
      process.on('SIGTERM', () => void shutdown('SIGTERM'));
      process.on('SIGINT', () => void shutdown('SIGINT'));
      pipeline.failed.catch(async (err: unknown) => {
        if (stopping) return;
        logger.fatal({ err }, 'a pipeline stage stopped; shutting down');
        stopping = true;
        await pipeline.stop().catch(() => undefined);
        logger.flush();
        process.exit(1);
      });
    });
}
