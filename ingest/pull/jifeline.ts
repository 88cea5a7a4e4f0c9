/**
 * The Jifeline puller: Jifeline has no webhooks (shared/providers/README.md), so we fetch.
 *
 * - The poller pages `GET /v2/system/events?after_id=<cursor>&limit=<pageLimit>` until a short
 *   page, wraps each event (source poll, dedup key = its ULID) and writes it through the RawSink;
 *   only once a page is durable does the cursor (the last ULID, a file under stateDir) move past
 *   it. Then it waits `pollIntervalMs`, or less when asked. A retriable error (Jifeline down, the
 *   log unavailable, a full disk) backs off (lib/retry.ts); any other (a refusal) ends the poll,
 *   and the next poll asks again.
 * - The websocket listener (when `websocketUrl` is set) stores each `event-received` frame as it
 *   comes. It never moves the cursor; after each (re)connection the poller runs at once to fetch
 *   what was sent while the socket was down. An event seen both ways is stored once per way with
 *   the same dedup key, and the adapter gives both the same event_id.
 *
 * Logs say what happened (pages, counts, cursor, statuses), never bodies or tokens.
 */
import { join } from 'node:path';
import { JIFELINE_EVENT_TYPE_NAMES } from '../../lib/jifeline-event-types.js';
import type { Logger } from '../../lib/logger.js';
import { isRetriable, retry } from '../../lib/retry.js';
import { nowMicros, type Micros } from '../../lib/time.js';
import { wrap } from '../envelope.js';
import type { RawSink } from '../raw-sink.js';
import { fileCursor } from './cursor.js';
import { eventsApi } from './jifeline-api.js';
import { clientCredentials } from './jifeline-auth.js';
import { frameDelivery, isAfter, restDelivery, type Delivery } from './jifeline-event.js';
import { startListener, type Listener } from './jifeline-ws.js';
import { createPause } from './pause.js';

/**
 * The types the listener subscribes to by default: those the adapter maps. The names beyond
 * tickets.ticket.created are read from the reference's prose, so they are kept in one place,
 * lib/jifeline-event-types.ts, which the adapter's table maps one by one.
 */
export const JIFELINE_SUBSCRIBED_TYPES: readonly string[] = JIFELINE_EVENT_TYPE_NAMES;

export interface JifelinePullOptions {
  /** Partner API base, e.g. https://partner-api-001.prd.jifeline.cloud */
  apiBaseUrl: string;
  /** OAuth2 token endpoint, e.g. https://partner-api-001.prd.jifeline.cloud/oauth2/token */
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** Sent as x-api-key when set. */
  apiKey?: string;
  /** Partner Websockets API, e.g. wss://partner-api-ws-001.prd.jifeline.cloud/wssprd; unset: poll only. */
  websocketUrl?: string;
  /** Where the cursor file lives (DATA_DIR/pull/jifeline). */
  stateDir: string;
  /** Events per request, 1..1000 (default 1000). */
  pageLimit?: number;
  /** Pause between polls once the feed is drained (default 60 s). */
  pollIntervalMs?: number;
  /** Types subscribed to on the websocket (default JIFELINE_SUBSCRIBED_TYPES). */
  eventTypes?: readonly string[];
  /** Share of a token's life after which it is replaced (default 0.8). */
  refreshRatio?: number;
  requestTimeoutMs?: number;
  /** Backoff after a failed request or write: first and largest delay (default 1 s, 60 s). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Longest wait a 429 may ask for (default 15 min). */
  maxRateLimitWaitMs?: number;
  /** Websocket: reconnections at once after a drop, then the pause between tries (default 3, 5 s). */
  reconnect?: { immediate?: number; intervalMs?: number };
  pingIntervalMs?: number;
  /** Websocket: the largest frame taken (default 1 MiB; the ingest passes BODY_LIMIT_BYTES plus room for the frame's own fields). */
  maxFrameBytes?: number;
}

export interface JifelinePullDeps {
  sink: RawSink;
  logger: Logger;
  fetch?: typeof fetch;
  clock?: () => Micros;
}

export interface JifelinePuller {
  /** Starts the poll loop and, when configured, the websocket listener. */
  start(): void;
  /** One pass from the stored cursor to a short page, for a one-off run (not while started); resolves with the number of events stored. */
  pollOnce(): Promise<number>;
  /** Stops both; waits for the request in hand, its writes and its cursor, and the frames being written. */
  stop(): Promise<void>;
}

const PROVIDER = 'jifeline';
export const CURSOR_FILE = 'cursor';

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export function createJifelinePuller(options: JifelinePullOptions, deps: JifelinePullDeps): JifelinePuller {
  const limit = Math.min(1000, Math.max(1, Math.trunc(options.pageLimit ?? 1000)));
  const pollIntervalMs = options.pollIntervalMs ?? 60_000;
  const backoff = { initialMs: options.backoff?.initialMs ?? 1000, maxMs: options.backoff?.maxMs ?? 60_000 };
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const clock = deps.clock ?? nowMicros;
  const log = deps.logger.child({ provider: PROVIDER });
  const cursor = fileCursor(join(options.stateDir, CURSOR_FILE));
  const tokens = clientCredentials(
    {
      tokenUrl: options.tokenUrl,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      refreshRatio: options.refreshRatio ?? 0.8,
      requestTimeoutMs,
    },
    { logger: log, ...(deps.fetch && { fetch: deps.fetch }) },
  );
  const api = eventsApi(
    {
      apiBaseUrl: options.apiBaseUrl,
      apiKey: options.apiKey,
      requestTimeoutMs,
      maxRateLimitWaitMs: options.maxRateLimitWaitMs ?? 15 * 60_000,
    },
    { tokens, logger: log, ...(deps.fetch && { fetch: deps.fetch }) },
  );

  const stopping = new AbortController();
  let loop: Promise<void> | undefined;
  let listener: Listener | undefined;
  let requested = false;
  const pause = createPause();
  const frames = new Set<Promise<void>>();

  const store = (delivery: Delivery, receivedAt: Micros) =>
    deps.sink.write(
      wrap({
        provider: PROVIDER,
        source: 'poll',
        receivedAt,
        dedupKey: delivery.id,
        headers: { 'content-type': 'application/json' },
        body: delivery.body,
      }),
      delivery.sessionKey,
    );

  const onRetry = (what: string) => (err: unknown, attempt: number, delayMs: number) =>
    log.warn({ attempt, delayMs, err: message(err) }, `${what} failed; backing off`);

  /** Work on the page in hand is done even when a stop was asked meanwhile; only its retries give way to the stop. */
  async function durably<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (stopping.signal.aborted || !isRetriable(err)) throw err;
      onRetry(what)(err, 0, 0);
      return retry(work, { ...backoff, signal: stopping.signal, onRetry: onRetry(what) });
    }
  }

  /**
   * Pages from the cursor until a short page. Requests and writes are retried while their error is
   * retriable; throws when stopped, at any other error, or when the cursor cannot be read.
   */
  async function drain(): Promise<number> {
    let after = await cursor.read();
    let stored = 0;
    while (!stopping.signal.aborted) {
      const from = after;
      const page = await retry(() => api.page(from, limit, stopping.signal), {
        ...backoff,
        signal: stopping.signal,
        onRetry: onRetry('events request'),
      });
      const deliveries = page.map(restDelivery).filter((d) => d.id === null || isAfter(d.id, from));
      const receivedAt = clock();
      await durably('raw sink write', () => Promise.all(deliveries.map((d) => store(d, receivedAt))));
      const last = deliveries.reduce<string | null>(
        (max, d) => (d.id !== null && isAfter(d.id, max) ? d.id : max),
        null,
      );
      if (last !== null && last !== from) {
        await durably('cursor write', () => cursor.write(last));
        after = last;
      }
      stored += deliveries.length;
      const progress = { events: deliveries.length, skipped: page.length - deliveries.length, cursor: after };
      if (deliveries.length > 0) log.info(progress, 'events page stored');
      else log.debug(progress, 'no new events');
      if (page.length < limit) break;
      if (last === null || last === from) {
        log.warn({ cursor: after }, 'a full page moved the cursor nowhere; waiting for the next poll');
        break;
      }
    }
    return stored;
  }

  function requestPoll(): void {
    requested = true;
    pause.wake();
  }

  async function run(): Promise<void> {
    while (!stopping.signal.aborted) {
      requested = false;
      try {
        await drain();
      } catch (err) {
        if (stopping.signal.aborted) break;
        log.error({ err: message(err) }, 'poll failed');
      }
      if (!requested && !stopping.signal.aborted) await pause.wait(pollIntervalMs);
    }
  }

  function onFrame(data: Buffer): void {
    const read = frameDelivery(data);
    if ('action' in read) {
      log.debug({ action: read.action }, 'websocket frame without an event');
      return;
    }
    const { delivery } = read;
    // Written at once, in arrival order (the sink keeps the order of its calls); stop() waits for them.
    const write: Promise<void> = store(delivery, clock())
      .then(
        () => log.debug({ id: delivery.id }, 'websocket event stored'),
        // Not lost: the poller stores every event itself; the websocket only brings it early.
        (err: unknown) =>
          log.warn({ id: delivery.id, err: message(err) }, 'websocket event not stored; the poller will fetch it'),
      )
      .finally(() => frames.delete(write));
    frames.add(write);
  }

  return {
    start() {
      if (loop !== undefined) return;
      log.info(
        { pageLimit: limit, pollIntervalMs, websocket: options.websocketUrl !== undefined },
        'jifeline puller starting',
      );
      loop = run();
      if (options.websocketUrl !== undefined) {
        listener = startListener(
          {
            url: options.websocketUrl,
            eventTypes: options.eventTypes ?? JIFELINE_SUBSCRIBED_TYPES,
            immediateReconnects: options.reconnect?.immediate ?? 3,
            reconnectIntervalMs: options.reconnect?.intervalMs ?? 5000,
            pingIntervalMs: options.pingIntervalMs ?? 30_000,
            maxPayloadBytes: options.maxFrameBytes ?? 1024 * 1024,
          },
          { tokens, logger: log, onFrame, onConnected: requestPoll },
        );
      }
    },
    pollOnce: drain,
    async stop() {
      stopping.abort();
      pause.wake();
      await listener?.stop();
      await loop;
      await Promise.all(frames);
      log.info('jifeline puller stopped');
    },
  };
}
