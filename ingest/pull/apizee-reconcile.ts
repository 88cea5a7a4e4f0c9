/**
 * The periodic Apizee reconciliation, part of `run`/`ingest` when Apizee API access is set
 * (APIZEE_API_USERNAME and APIZEE_API_PASSWORD, or APIZEE_API_TOKEN). With the credentials, one
 * token serves every run until it is renewed (apizee-auth.ts); refused credentials end a run like a
 * refused token, and the next run asks for a token again.
 *
 * Which tickets: those our own webhooks named recently. Apizee's List Tickets (apizee-tickets.md)
 * filters on created, started and ended times only (nothing says "updated since"), lists the
 * token's own user's tickets unless it is an admin (`user=all`), and its reference gives neither
 * its path nor its parameter names; each listed ticket would still cost one more request of the
 * ten a minute. The webhooks name every ticket that had activity, for free. What this misses: a
 * ticket none of whose deliveries ever arrived; `sessionflow backfill apizee --ticket N` is for that.
 *
 * When: a ticket with a webhook since its last reconciliation is due at the next run. Then it is
 * fetched again after quiet spells that double (interval, 2x, 4x, ... after its last webhook), so
 * a lost last event (a leave, a close) is found soon after a busy ticket goes quiet and a ticket
 * costs a handful of requests, not one per run; once its last webhook is `lookback` old it gets a
 * final fetch and is forgotten. Runs never overlap; a run longer than the interval says so.
 *
 * The tickets and their times live in DATA_DIR/pull/apizee/tickets.json (written atomically,
 * cursor.ts), so a restart forgets nothing older than a few seconds.
 */
import { join } from 'node:path';
import type { RawSink } from '../raw-sink.js';
import { createApizeeBackfill, type ApizeeApiClientOptions, type ApizeeBackfillDeps } from './apizee.js';
import { ApizeeApiError } from './apizee-api.js';
import { fileCursor } from './cursor.js';
import { createPause } from './pause.js';

export const APIZEE_STATE_FILE = 'tickets.json';

export interface ApizeeReconcileOptions extends ApizeeApiClientOptions {
  /** Where the tickets file lives (DATA_DIR/pull/apizee). */
  stateDir: string;
  /** Time between runs, and the first quiet spell (default 15 min). */
  intervalMs: number;
  /** How long after its last webhook a ticket is still reconciled (default 24 h). */
  lookbackMs: number;
  /** Delay before the tickets file is written after a new webhook (default 5 s). */
  saveDelayMs?: number;
}

export interface ReconcileRun {
  due: number;
  reconciled: number;
  events: number;
  failed: number;
}

export interface ApizeeReconciler {
  /** Wraps the ingest's sink: each Apizee webhook it makes durable marks its ticket as seen. */
  observe(sink: RawSink): RawSink;
  start(): void;
  /** One run over the due tickets (tests and one-off use; not while started). */
  runOnce(): Promise<ReconcileRun>;
  /** Stops after the ticket in hand (its writes finish) and saves the tickets file. */
  stop(): Promise<void>;
}

interface Tracked {
  /** Last webhook of the ticket, epoch ms. */
  seenAt: number;
  /** Start of the last fetch of the ticket, epoch ms; null: never fetched. */
  reconciledAt: number | null;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * When the ticket is next due (epoch ms): at once after a webhook not reconciled yet; else after
 * a quiet spell as long as the time it had been quiet at its last fetch (at least the interval),
 * and at the latest `lookback` after its last webhook, for its final fetch.
 */
export function nextDue(t: Tracked, intervalMs: number, lookbackMs: number): number {
  if (t.reconciledAt === null || t.reconciledAt < t.seenAt) return t.seenAt;
  return Math.min(t.reconciledAt + Math.max(intervalMs, t.reconciledAt - t.seenAt), t.seenAt + lookbackMs);
}

export function createApizeeReconciler(options: ApizeeReconcileOptions, deps: ApizeeBackfillDeps): ApizeeReconciler {
  const log = deps.logger.child({ provider: 'apizee', job: 'reconcile' });
  const nowMs = deps.nowMs ?? Date.now;
  const backfill = createApizeeBackfill(options, { ...deps, logger: deps.logger });
  const state = fileCursor(join(options.stateDir, APIZEE_STATE_FILE));
  const tickets = new Map<string, Tracked>();
  const stopping = new AbortController();
  let loaded: Promise<void> | undefined;
  let loop: Promise<void> | undefined;
  const pause = createPause();
  let saveTimer: NodeJS.Timeout | undefined;
  let saving: Promise<void> = Promise.resolve();

  function load(): Promise<void> {
    loaded ??= state.read().then(
      (text) => {
        if (text === null) return;
        try {
          const stored = (JSON.parse(text) as { tickets?: Record<string, Tracked> }).tickets ?? {};
          for (const [id, t] of Object.entries(stored)) {
            const held = tickets.get(id);
            if (typeof t.seenAt === 'number')
              tickets.set(id, {
                seenAt: Math.max(t.seenAt, held?.seenAt ?? 0),
                reconciledAt: typeof t.reconciledAt === 'number' ? t.reconciledAt : null,
              });
          }
        } catch (err) {
          log.warn({ err: message(err) }, 'tickets file unreadable; starting from the webhooks to come');
        }
      },
      (err: unknown) => log.warn({ err: message(err) }, 'tickets file unreadable; starting from the webhooks to come'),
    );
    return loaded;
  }

  /** Writes go one at a time (the cursor file has one temporary name), and never before the stored tickets are read. */
  function save(): Promise<void> {
    clearTimeout(saveTimer);
    saveTimer = undefined;
    saving = saving
      .then(load)
      .then(() => state.write(JSON.stringify({ tickets: Object.fromEntries(tickets) })))
      .catch((err: unknown) => log.warn({ err: message(err) }, 'tickets file not written'));
    return saving;
  }

  function saveSoon(): void {
    if (saveTimer !== undefined) return;
    saveTimer = setTimeout(() => void save(), options.saveDelayMs ?? 5000);
    saveTimer.unref();
  }

  function seen(ticketId: string): void {
    const held = tickets.get(ticketId);
    tickets.set(ticketId, { seenAt: nowMs(), reconciledAt: held?.reconciledAt ?? null });
    saveSoon();
  }

  async function runOnce(): Promise<ReconcileRun> {
    await load();
    const now = nowMs();
    const due = [...tickets.entries()]
      .map(([id, t]) => ({ id, at: nextDue(t, options.intervalMs, options.lookbackMs) }))
      .filter((d) => d.at <= now)
      .sort((a, b) => a.at - b.at);
    const run: ReconcileRun = { due: due.length, reconciled: 0, events: 0, failed: 0 };
    for (const { id } of due) {
      if (stopping.signal.aborted) break;
      const startedAt = nowMs();
      try {
        run.events += await backfill.ticket(id, stopping.signal);
        run.reconciled++;
        const t = tickets.get(id);
        // The final fetch: no webhook for `lookback`, even while this one ran.
        if (t !== undefined && t.seenAt + options.lookbackMs <= startedAt) tickets.delete(id);
        else if (t !== undefined) t.reconciledAt = startedAt;
      } catch (err) {
        if (stopping.signal.aborted) break;
        run.failed++;
        if (!(err instanceof ApizeeApiError)) {
          log.warn({ ticketId: id, err: message(err) }, 'ticket not reconciled; next run tries again');
          continue;
        }
        if (err.stopsRun) {
          log.error({ status: err.apizeeStatus }, `${err.message}; reconciliation paused until the next run`);
          break;
        }
        if (err.retriable) {
          log.warn({ ticketId: id, status: err.apizeeStatus }, `${err.message}; next run tries again`);
          continue;
        }
        // 403, 404 and other refusals do not change with time: the ticket is let go.
        log.warn({ ticketId: id, status: err.apizeeStatus }, `${err.message}; no longer reconciled`);
        tickets.delete(id);
      }
    }
    await save();
    if (run.due > 0) log.info(run, 'apizee reconciliation run');
    return run;
  }

  async function loopRuns(): Promise<void> {
    while (!stopping.signal.aborted) {
      const started = nowMs();
      try {
        await runOnce();
      } catch (err) {
        if (stopping.signal.aborted) break;
        log.error({ err: message(err) }, 'apizee reconciliation run failed');
      }
      const took = nowMs() - started;
      if (took > options.intervalMs)
        log.warn(
          { tookMs: took, intervalMs: options.intervalMs },
          'apizee reconciliation run took longer than its interval: more tickets than the rate limit allows; raise the interval or lower the lookback',
        );
      if (!stopping.signal.aborted) await pause.wait(Math.max(0, options.intervalMs - took));
    }
  }

  return {
    observe(sink) {
      return {
        async write(raw, sessionKey) {
          await sink.write(raw, sessionKey);
          if (raw.provider === 'apizee' && raw.source === 'webhook' && sessionKey?.startsWith('apizee:'))
            seen(sessionKey.slice('apizee:'.length));
        },
      };
    },
    start() {
      if (loop !== undefined) return;
      log.info(
        {
          intervalMs: options.intervalMs,
          lookbackMs: options.lookbackMs,
          auth: options.credentials ? 'credentials' : 'fixed',
        },
        'apizee reconciliation starting',
      );
      loop = loopRuns();
    },
    runOnce,
    async stop() {
      stopping.abort(new Error('the apizee reconciliation is stopping'));
      pause.wake();
      await loop;
      await save();
      log.info('apizee reconciliation stopped');
    },
  };
}
