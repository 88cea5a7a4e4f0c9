import type { Command } from 'commander';
import { flushLoggerSync } from '../../lib/logger.js';
import { fail, loadConfigOrExit, loggerFor } from '../context.js';
import { ALL_ROLES, startPipeline, type Roles } from '../pipeline.js';

const AFTER = `
Configuration comes from the environment and .env (see .env.example). Data goes to DATA_DIR (default ./data).
Stop with Ctrl-C or SIGTERM: it stops accepting, finishes the batch in hand (not the backlog), commits, closes DuckDB
and exits 0. A stop that has not finished within SHUTDOWN_TIMEOUT_MS (10 s) logs what is still pending and ends the process with SIGKILL.`;

export function registerRun(program: Command): void {
  program
    .command('run')
    .description(
      'run the whole pipeline in one process: ingest (HTTP), normalize and warehouse; ' +
        'embedded mode, or Kafka when KAFKA_BROKERS is set',
    )
    .addHelpText('after', AFTER)
    .action(() => serve(ALL_ROLES, false));
  program
    .command('ingest')
    .description(
      'Kafka mode: only the HTTP ingest (verify, wrap, publish to raw.<provider>.v1; spool when Kafka is slow); ' +
        'scale it behind a load balancer',
    )
    .addHelpText('after', AFTER)
    .action(() => serve({ ingest: true, normalize: false, warehouse: false }, true));
  program
    .command('process')
    .description(
      'Kafka mode: only normalize (raw.* → events.v1 and deadletter.v1), in a consumer group; ' +
        'run as many as the raw topics have partitions',
    )
    .addHelpText('after', AFTER)
    .action(() => serve({ ingest: false, normalize: true, warehouse: false }, true));
  program
    .command('warehouse')
    .description(
      'Kafka mode: only the warehouse writer (DuckDB + Parquet, facts to facts.v1); ' +
        'a second one on the same DATA_DIR waits as standby',
    )
    .addHelpText('after', AFTER)
    .action(() => serve({ ingest: false, normalize: false, warehouse: true }, true));
}

async function serve(roles: Roles, kafkaOnly: boolean): Promise<void> {
  const config = loadConfigOrExit();
  if (kafkaOnly && !config.kafka) {
    fail(
      'this command runs one stage on Kafka: set KAFKA_BROKERS and SCHEMA_REGISTRY_URL ' +
        '(npm run stack:up starts a local pair), or use `sessionflow run` for the embedded mode',
      2,
    );
  }
  const logger = loggerFor(config);
  const pipeline = await startPipeline(config, logger, roles);
  let stopping = false;
  const shutdown = async (signal: string, code: number) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining');
    // The hard bound: whatever hangs (a broker that does not answer, a stuck write), the process
    // ends, as kill -9 would end it: what was committed is kept, what was not is read again at
    // the next start. SIGKILL rather than exit(1): an exit tears the warehouse thread down, and
    // DuckDB aborts the process when that happens in the middle of one of its calls.
    const bound = setTimeout(() => {
      logger.error(
        { pending: pipeline.pendingStops(), timeoutMs: config.shutdownTimeoutMs },
        'shutdown did not finish in time; ending the process (SIGKILL) with work pending',
      );
      flushLoggerSync(logger);
      process.kill(process.pid, 'SIGKILL');
    }, config.shutdownTimeoutMs);
    try {
      await pipeline.stop();
      logger.info('stopped');
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      code = 1;
    }
    clearTimeout(bound);
    logger.flush();
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  pipeline.failed.catch((err: unknown) => {
    logger.fatal({ err }, 'a pipeline stage stopped; shutting down');
    void shutdown('failure', 1);
  });
}
