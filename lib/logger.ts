import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * pino JSON logs. Bodies are never logged; these paths are redacted in case a header or a
 * config object reaches a log line by mistake.
 */
const REDACT = [
  'req.headers.authorization',
  'req.headers["x-zm-signature"]',
  'req.headers["x-webhook-secret"]',
  'headers.authorization',
  'headers["x-zm-signature"]',
  '*.download_token',
  'download_token',
  'body',
  '*.body',
  'secrets',
  '*.secrets',
  'piiKey',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'sessionflow' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    (destination as pino.DestinationStream | undefined) ?? pino.destination({ fd: 1, sync: false }),
  );
}

/**
 * Writes what the logger still buffers before the process ends abruptly (a kill of itself):
 * `logger.flush()` only waits for the write in progress.
 */
export function flushLoggerSync(logger: Logger): void {
  const stream = (logger as unknown as Record<symbol, { flushSync?: () => void }>)[pino.symbols.streamSym];
  try {
    stream?.flushSync?.();
  } catch {
    // a closed or broken stdout: nothing more can be written anyway
  }
}
