import { loadDotEnv, parseConfig, type Config } from '../lib/config.js';
import { isSessionflowError } from '../lib/errors.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { inUseMessage } from '../processors/warehouse/standby.js';
import { createWarehouse, type Warehouse } from '../processors/warehouse/writer.js';

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

export function positiveInteger(text: string, name: string): number {
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : fail(`${name} must be a positive whole number`, 2);
}
