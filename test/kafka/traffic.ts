/**
 * Steady webhook traffic for the Kafka failure tests: planned Zoom sessions' deliveries posted
 * by a few concurrent senders, every answer recorded.
 */
import { plannedZoomSession, type PlannedSession, type ZoomDelivery } from '../../ingest/demo/zoom.js';
import { nowMicros } from '../../lib/time.js';
import { post, sleep } from './support.js';

export interface Sent {
  delivery: ZoomDelivery;
  session: PlannedSession;
  status: number | 'error';
  ingestId?: string;
  error?: string;
  at: number;
  ms: number;
}

/** Canonical events a planned delivery gives: the alert webhook carries two issues. */
export const eventsOf = (delivery: ZoomDelivery) => (delivery.event === 'session.alert' ? 2 : 1);

/** `count` planned sessions, a few hours back, each started a minute after the previous. */
export function plannedSessions(count: number): PlannedSession[] {
  const base = nowMicros() - 6 * 3600e6;
  return Array.from({ length: count }, (_, i) => plannedZoomSession(base + i * 60e6));
}

/** The deliveries of `sessions`, interleaved round-robin (a steady mix of sessions in flight). */
export function interleaved(sessions: PlannedSession[]): Array<{ delivery: ZoomDelivery; session: PlannedSession }> {
  const out: Array<{ delivery: ZoomDelivery; session: PlannedSession }> = [];
  const longest = Math.max(...sessions.map((s) => s.deliveries.length));
  for (let i = 0; i < longest; i++)
    for (const session of sessions) if (session.deliveries[i]) out.push({ delivery: session.deliveries[i]!, session });
  return out;
}

export interface Traffic {
  readonly sent: Sent[];
  /** Resolves when every delivery was posted (or `stop` was called and the posts in hand answered). */
  readonly done: Promise<void>;
  stop(): void;
}

/**
 * Posts `items` to `url` with `concurrency` senders, each pausing `pauseMs` between posts. A post
 * that does not answer within `timeoutMs` counts as an error.
 */
export function sendTraffic(
  url: string,
  items: Array<{ delivery: ZoomDelivery; session: PlannedSession }>,
  options: { concurrency?: number; pauseMs?: number; timeoutMs?: number } = {},
): Traffic {
  const sent: Sent[] = [];
  let next = 0;
  let stopped = false;
  const sender = async () => {
    while (!stopped && next < items.length) {
      const { delivery, session } = items[next++]!;
      const at = Date.now();
      try {
        const response = await post(url, delivery, AbortSignal.timeout(options.timeoutMs ?? 15_000));
        const body = (await response.json().catch(() => ({}))) as { ingest_id?: string; error?: string };
        sent.push({
          delivery,
          session,
          status: response.status,
          at,
          ms: Date.now() - at,
          ...(body.ingest_id && { ingestId: body.ingest_id }),
          ...(body.error && { error: body.error }),
        });
      } catch (err) {
        sent.push({ delivery, session, status: 'error', error: String(err), at, ms: Date.now() - at });
      }
      if (options.pauseMs) await sleep(options.pauseMs);
    }
  };
  const done = Promise.all(Array.from({ length: options.concurrency ?? 4 }, sender)).then(() => undefined);
  return {
    sent,
    done,
    stop: () => {
      stopped = true;
    },
  };
}

/** Acknowledged (2xx) posts. */
export const acknowledged = (sent: Sent[]) =>
  sent.filter((s) => typeof s.status === 'number' && s.status >= 200 && s.status < 300 && s.ingestId);
