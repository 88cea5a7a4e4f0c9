/**
 * Publishes the facts outbox (warehouse/outbox.ts) to facts.v1: after each commit of the
 * warehouse, and at start for what a previous process left (a crash after a commit, a stop
 * during a log outage). A fact leaves the outbox only once the log acknowledged it, so facts.v1
 * gets at least once the latest fact of every session; a repeat is harmless on a compacted topic.
 */
import type { SessionFact } from '../../lib/canonical.js';
import type { Serializer } from '../../lib/avro.js';
import type { Logger } from '../../lib/logger.js';
import { publishRetrying } from '../../lib/log/publish.js';
import type { Log } from '../../lib/log/types.js';
import type { WarehouseWriter } from './writer.js';

export interface FactsPublisherDeps {
  log: Log;
  topic: string;
  warehouse: WarehouseWriter;
  writer: Serializer<SessionFact>;
  logger: Logger;
  /** Facts per publish (default 500). */
  chunk?: number;
  /** Pause before trying again after a publish failed for good (default 5 s). */
  retryMs?: number;
  onPublished?: (count: number) => void;
}

export interface FactsPublisher {
  /** Publishes what the outbox holds now and whatever comes in meanwhile; calls made while it runs join that run. */
  kick(): void;
  /**
   * Stops retrying, then makes one last pass over the outbox for at most `graceMs`: what the log
   * does not acknowledge by then stays in the outbox for the next start.
   */
  stop(graceMs: number): Promise<void>;
}

export function createFactsPublisher(deps: FactsPublisherDeps): FactsPublisher {
  const { log, topic, warehouse, writer, logger } = deps;
  const chunk = deps.chunk ?? 500;
  const stopping = new AbortController();
  let running: Promise<void> | undefined;
  let again = false;
  let retryTimer: NodeJS.Timeout | undefined;

  /** Publishes chunk after chunk until the outbox is empty; throws when a publish fails for good. */
  const publishAll = async (): Promise<number> => {
    let published = 0;
    for (;;) {
      const { facts, marks } = await warehouse.pendingFacts(chunk);
      if (facts.length === 0) return published;
      const messages = facts.map((fact) => ({ key: Buffer.from(fact.session_key), value: writer.encode(fact) }));
      await publishRetrying(log, topic, messages, stopping.signal, logger);
      await warehouse.factsPublished(marks);
      published += facts.length;
      deps.onPublished?.(facts.length);
    }
  };

  const kick = (): void => {
    if (stopping.signal.aborted) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(retryTimer);
    running = (async () => {
      do {
        again = false;
        try {
          const published = await publishAll();
          if (published > 0) logger.debug({ facts: published }, 'facts published');
        } catch (err) {
          if (stopping.signal.aborted) return;
          logger.error({ err }, 'facts publish failed; they stay in the outbox and are tried again');
          retryTimer = setTimeout(kick, deps.retryMs ?? 5000);
          retryTimer.unref();
          return;
        }
      } while (again && !stopping.signal.aborted);
    })().finally(() => {
      running = undefined;
    });
  };

  return {
    kick,
    async stop(graceMs) {
      clearTimeout(retryTimer);
      stopping.abort(new Error('the facts publisher is stopping'));
      const last = (async () => {
        await running;
        // One try per chunk, no retries (the signal is aborted): a log that is down keeps the rest in the outbox.
        const published = await publishAll();
        if (published > 0) logger.info({ facts: published }, 'facts published before stopping');
      })();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
      const outcome = await Promise.race([last.then(() => 'done' as const), timedOut]).catch((err: unknown) => {
        logger.warn(
          { err: String(err) },
          'facts not published before stopping; they stay in the outbox for the next start',
        );
        return 'failed' as const;
      });
      clearTimeout(timer);
      last.catch(() => undefined);
      if (outcome === 'timeout')
        logger.warn(
          { graceMs },
          'the log did not acknowledge the last facts in time; they stay in the outbox for the next start',
        );
    },
  };
}
