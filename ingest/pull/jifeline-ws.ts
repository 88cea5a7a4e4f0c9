/**
 * The Jifeline Partner Websockets API listener. From its reference: the token goes in the
 * `Authorization: Bearer <token>` header of the upgrade; once open, one
 * `{"action": "subscribe-to-event", "event_type": "<type>"}` per type; events then come as
 * `{"action": "event-received", "event_id", "event_type", "message"}`. "Recommended reconnection
 * behaviour is to (1) attempt reconnection instantly up to a handful of times if the websocket is
 * dropped randomly during normal operation but (2) after extended downtime, attempt to reconnect
 * no more quickly than once every 5 seconds." The socket does not replay what was sent while it
 * was down: `onConnected` lets the poller fill that gap from its cursor.
 */
import WebSocket from 'ws';
import type { Logger } from '../../lib/logger.js';
import { sleep } from '../../lib/retry.js';
import type { TokenSource } from './jifeline-auth.js';

export interface ListenerOptions {
  url: string;
  eventTypes: readonly string[];
  /** Reconnections made at once after a drop, before waiting `reconnectIntervalMs` between tries. */
  immediateReconnects: number;
  reconnectIntervalMs: number;
  /** A ping this often; a connection that has not answered the previous one is dropped. */
  pingIntervalMs: number;
  /**
   * The largest frame (message) taken, in bytes: `ws` buffers a whole message before handing it
   * on, so a larger one closes the connection (1009, message too big) instead of filling memory.
   * The poller fetches the event that frame carried.
   */
  maxPayloadBytes: number;
}

export interface ListenerDeps {
  tokens: TokenSource;
  logger: Logger;
  /** Every frame received, in order, as bytes. */
  onFrame(data: Buffer): void;
  /** The socket is open and subscribed. */
  onConnected(): void;
}

export interface Listener {
  stop(): Promise<void>;
}

const LOG = { path: 'websocket' };

function bytesOf(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

/** Before each reconnection: none for the first few, then the interval; a connection that lived an interval starts the count again. */
export function reconnectDelayMs(
  failuresInARow: number,
  options: Pick<ListenerOptions, 'immediateReconnects' | 'reconnectIntervalMs'>,
): number {
  return failuresInARow <= options.immediateReconnects ? 0 : options.reconnectIntervalMs;
}

export function startListener(options: ListenerOptions, deps: ListenerDeps): Listener {
  const stopping = new AbortController();
  let socket: WebSocket | undefined;

  /** One connection, from token to close. Resolves true when it stayed open for a reconnect interval. */
  async function connectOnce(): Promise<boolean> {
    let token: string;
    try {
      token = await deps.tokens.token();
    } catch (err) {
      deps.logger.warn({ ...LOG, err: (err as Error).message }, 'no access token for the websocket');
      return false;
    }
    if (stopping.signal.aborted) return false;
    return new Promise<boolean>((resolve) => {
      const ws = new WebSocket(options.url, {
        headers: { authorization: `Bearer ${token}` },
        handshakeTimeout: 10_000,
        maxPayload: options.maxPayloadBytes,
      });
      socket = ws;
      let openedAt: number | undefined;
      let alive = true;
      let pinger: NodeJS.Timeout | undefined;
      ws.on('open', () => {
        openedAt = Date.now();
        for (const type of options.eventTypes)
          ws.send(JSON.stringify({ action: 'subscribe-to-event', event_type: type }));
        deps.logger.info({ ...LOG, subscriptions: options.eventTypes.length }, 'websocket connected');
        pinger = setInterval(() => {
          if (!alive) return ws.terminate();
          alive = false;
          ws.ping();
        }, options.pingIntervalMs);
        deps.onConnected();
      });
      ws.on('pong', () => {
        alive = true;
      });
      ws.on('message', (data) => deps.onFrame(bytesOf(data)));
      ws.on('unexpected-response', (_request, response) => {
        if (response.statusCode === 401 || response.statusCode === 403) deps.tokens.invalidate(token);
        deps.logger.warn({ ...LOG, status: response.statusCode }, 'websocket upgrade refused');
        response.resume();
        ws.terminate();
      });
      ws.on('error', (err) => deps.logger.warn({ ...LOG, err: err.message }, 'websocket error'));
      ws.on('close', (code) => {
        clearInterval(pinger);
        socket = undefined;
        const lived = openedAt === undefined ? 0 : Date.now() - openedAt;
        if (!stopping.signal.aborted) deps.logger.warn({ ...LOG, code, livedMs: lived }, 'websocket closed');
        resolve(openedAt !== undefined && lived >= options.reconnectIntervalMs);
      });
    });
  }

  const running = (async () => {
    let failures = 0;
    while (!stopping.signal.aborted) {
      const stable = await connectOnce();
      if (stopping.signal.aborted) break;
      failures = stable ? 1 : failures + 1;
      const delay = reconnectDelayMs(failures, options);
      deps.logger.info({ ...LOG, attempt: failures, delayMs: delay }, 'websocket reconnecting');
      await sleep(delay, stopping.signal).catch(() => undefined);
    }
  })();

  return {
    async stop() {
      stopping.abort();
      const open = socket;
      if (open !== undefined) {
        open.close(1000);
        const force = setTimeout(() => open.terminate(), 1000);
        await running;
        clearTimeout(force);
      }
      await running;
    },
  };
}
