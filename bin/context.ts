import { loadDotEnv, parseConfig, type Config } from '../lib/config.js';
import { isSessionflowError } from '../lib/errors.js';
import { createLogger, type Logger } from '../lib/logger.js';

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
