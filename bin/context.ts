import { loadDotEnv, parseConfig, type Config } from '../lib/config.js';
import { isSessionflowError } from '../lib/errors.js';

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
