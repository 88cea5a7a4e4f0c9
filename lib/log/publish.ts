/**
 * Publishing for a stage (normalize's events and dead letters, the warehouse's facts): a log that
 * is unavailable for a while (a broker restarting, a leader election) is waited out, not a reason
 * to stop the process.
 */
import type { Logger } from '../logger.js';
import { retry } from '../retry.js';
import type { Log, OutgoingMessage } from './types.js';

/**
 * Publishes, retrying while the failure is retriable (the log unavailable: a broker restarting, a
 * leader election) until it works or `signal` aborts: a stage rides out a Kafka outage instead of stopping its process (with `run`, the
 * ingest with it). Other errors are thrown at once.
 */
export function publishRetrying(
  log: Log,
  topic: string,
  messages: OutgoingMessage[],
  signal: AbortSignal,
  logger: Logger,
): Promise<void> {
  return retry(() => log.publish(topic, messages), {
    initialMs: 200,
    maxMs: 5000,
    signal,
    onRetry: (err, attempt, delayMs) =>
      logger.warn({ err: String(err), topic, attempt, delayMs }, 'publish failed; the log is unavailable, retrying'),
  });
}
