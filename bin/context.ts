import { loadDotEnv, parseConfig, type Config } from '../lib/config.js';
import { isSessionflowError } from '../lib/errors.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { createProgress, formatDuration, interruptOnSignals } from '../lib/progress.js';
import { inUseMessage } from '../processors/warehouse/standby.js';
import { createWarehouse, type RunControl, type Warehouse } from '../processors/warehouse/writer.js';

/** Reads `.env` and the environment once; a bad configuration ends the command with every problem listed. */
export function loadConfigOrExit(): Config {
  try {
    loadDotEnv();
    return parseConfig(process.env);
  } catch (err) {
    if (isSessionflowError(err, 'CONFIG_INVALID')) {
      process.stderr.write(`sessionflow: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

export function fail(message: string, code = 1): never {
  process.stderr.write(`sessionflow: ${message}\n`);
  process.exit(code);
}

/** The command's JSON log on stdout, with this deployment's secret header censored too. */
export function loggerFor(config: Config, level: string = config.logLevel): Logger {
  return createLogger(level, undefined, { secretHeaders: [config.secrets.apizeeHeader] });
}

/** The warehouse for a maintenance command: the writer must not hold it (DuckDB has a single writer). */
export async function openOffline(config: Config, logger: Logger): Promise<Warehouse> {
  try {
    return await createWarehouse({
      dataDir: config.dataDir,
      logger,
      idleHorizonMicros: config.idleHorizonHours * 3600e6,
    });
  } catch (err) {
    return fail(inUseMessage(err, config.dataDir) ?? (err instanceof Error ? err.message : String(err)));
  }
}

/** What a maintenance command (rebuild, replay) runs on the warehouse, and what it says of the outcome. */
export interface OfflineRun<R extends { exported: number; interrupted: boolean }> {
  /** The command, and what its progress line counts: 'rebuild', 'sessions'. */
  name: string;
  unit: string;
  run(warehouse: Warehouse, control: RunControl): Promise<R>;
  /** The progress line's last words. */
  summary(report: R): string;
  /** How to finish an interrupted run: 'run sessionflow rebuild again to finish'. */
  resume(report: R): string;
  /** Why a run that got to the end still failed, if it did. */
  failure?(report: R): string | undefined;
}

/**
 * Runs a maintenance command on the warehouse, chunk by chunk (each one transaction), with a
 * progress line for its unit and one for the Parquet partitions written after. Ctrl-C stops after
 * the chunk in hand, the warehouse consistent (exit 130); a second Ctrl-C exits at once.
 */
export async function runOffline<R extends { exported: number; interrupted: boolean }>(
  config: Config,
  logger: Logger,
  offline: OfflineRun<R>,
): Promise<void> {
  const warehouse = await openOffline(config, logger);
  const interrupt = interruptOnSignals(
    `${offline.name}: stopping after the chunk in hand (Ctrl-C again to quit at once)…`,
  );
  const progress = createProgress({ label: offline.name, unit: offline.unit });
  const partitions = createProgress({ label: 'export', unit: 'partitions' });
  const started = performance.now();
  try {
    const report = await offline.run(warehouse, {
      signal: interrupt.signal,
      onProgress: progress.update,
      onExportProgress: partitions.update,
    });
    progress.finish(offline.summary(report));
    partitions.finish(`${count(report.exported)} Parquet partitions written`);
    await warehouse.close();
    logger.flush();
    const took = formatDuration((performance.now() - started) / 1000);
    if (report.interrupted) {
      fail(`interrupted after ${took}; the warehouse is consistent: ${offline.resume(report)}`, 130);
    }
    const failure = offline.failure?.(report);
    if (failure !== undefined) fail(failure);
    process.stderr.write(`${offline.name}: done in ${took}\n`);
  } catch (err) {
    await warehouse.close().catch(() => undefined);
    fail(err instanceof Error ? err.message : String(err));
  } finally {
    interrupt.dispose();
  }
}

/** A count in a command's summary: 12,345. */
export const count = (n: number): string => n.toLocaleString('en-US');

export function positiveInteger(text: string, name: string): number {
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : fail(`${name} must be a positive whole number`, 2);
}
