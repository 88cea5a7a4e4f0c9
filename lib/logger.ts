import { pino, type Logger } from 'pino';
import { KEPT_HEADERS } from './headers.js';

export type { Logger };

/**
 * Headers that carry a credential with every provider or proxy: a Basic or Bearer authorization,
 * a signature, a shared secret (Apizee's default header; a configured one is added per logger).
 */
export const CREDENTIAL_HEADERS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'x-zm-signature',
  'x-webhook-secret',
];

/** Where a headers object may sit in a log line: the line itself, a request or response, one level down. */
const HEADER_PLACES = ['headers', 'req.headers', 'res.headers', '*.headers'];

const CENSOR = '[redacted]';

/**
 * A headers object as a log line shows it: the values of the headers the raw archive keeps
 * (content type, user agent, request ids), every other value censored, whatever its name.
 */
export function loggableHeaders(headers: unknown): unknown {
  if (headers === null || typeof headers !== 'object') return headers;
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, KEPT_HEADERS.has(name.toLowerCase()) ? value : CENSOR]),
  );
}

export interface LoggerOptions {
  /** Header names that carry a secret in this deployment (APIZEE_WEBHOOK_HEADER), beside CREDENTIAL_HEADERS. */
  secretHeaders?: readonly string[];
}

/**
 * pino JSON logs. Bodies are never logged. In case a header, a body or a config object reaches a
 * log line by mistake: a `headers` object keeps only the values of the archive's allow-listed
 * headers, and these paths are censored wherever a serializer does not reach (one level down).
 */
const REDACT = [
  '*.download_token',
  'download_token',
  'body',
  '*.body',
  'secrets',
  '*.secrets',
  'piiKey',
  // API credentials and tokens (Apizee's user and its access tokens, Jifeline's), should one reach a line.
  'password',
  '*.password',
  'credentials',
  '*.credentials',
  'token',
  '*.token',
  'access_token',
  '*.access_token',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream, options: LoggerOptions = {}): Logger {
  const names = [...new Set([...CREDENTIAL_HEADERS, ...(options.secretHeaders ?? [])].map((h) => h.toLowerCase()))];
  const headerPaths = HEADER_PLACES.flatMap((place) => names.map((name) => `${place}[${JSON.stringify(name)}]`));
  return pino(
    {
      level,
      base: { service: 'sessionflow' },
      redact: { paths: [...REDACT, ...headerPaths], censor: CENSOR },
      serializers: {
        headers: loggableHeaders,
        req: (req: Record<string, unknown>) =>
          'headers' in req ? { ...req, headers: loggableHeaders(req.headers) } : req,
      },
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
  // pino keeps its destination under a symbol its types do not declare on Logger.
  const stream: unknown = Reflect.get(logger, pino.symbols.streamSym);
  if (typeof stream !== 'object' || stream === null || !('flushSync' in stream)) return;
  try {
    if (typeof stream.flushSync === 'function') stream.flushSync();
  } catch {
    // a closed or broken stdout: nothing more can be written anyway
  }
}
