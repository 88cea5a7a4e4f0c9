/**
 * The measurements, each against running services: the load comes from a load generator process
 * (load.ts), the results are read back from the Parquet dataset (dataset.ts).
 */
import { randomBytes } from 'node:crypto';
import { distPath, runScript } from './children.js';
import { factsPresent, waitForDeliveries, type Dataset } from './dataset.js';
import { percentileOf } from './histogram.js';
import type { LoadResult, LoadSpec } from './load.js';
import { CREDENTIALS, type Settings } from './settings.js';
import { headersFor, markerDelivery } from './stream.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runLoad(
  settings: Settings,
  spec: Omit<LoadSpec, 'credentials' | 'mix' | 'connections'> & { connections?: number },
): Promise<LoadResult> {
  const full: LoadSpec = { connections: settings.connections, credentials: CREDENTIALS, mix: settings.mix, ...spec };
  const timeoutMs = (full.seconds + (full.warmupSeconds ?? 0) + 120) * 1000;
  const stdout = await runScript([distPath('bench/load.js'), JSON.stringify(full)], { timeoutMs });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as LoadResult;
}

export interface SustainedResult {
  load: LoadResult;
  /** Seconds from the load stopping until every acked delivery was in Parquet (NaN: not within the timeout). */
  drainSeconds: number;
  /** Events stored (session_events rows of the deliveries of this phase). */
  events: number;
  deliveries: number;
  complete: boolean;
  /** Events per second from the first request to the last event in Parquet. */
  eventsPerSecond: number;
}

/** Full load for `seconds`, then the time until every acked delivery is in Parquet. */
export async function sustained(
  settings: Settings,
  urls: string[],
  dataset: Dataset | undefined,
  dataDirLabel = '',
): Promise<SustainedResult> {
  const since = Date.now();
  const load = await runLoad(settings, {
    urls,
    mode: 'max',
    seconds: settings.seconds,
    warmupSeconds: settings.warmupSeconds,
  });
  const stopped = performance.now();
  if (!dataset)
    return { load, drainSeconds: Number.NaN, events: 0, deliveries: 0, complete: false, eventsPerSecond: Number.NaN };
  const stored = await waitForDeliveries(dataset, since, load.ackedTotal, settings.drainTimeoutSeconds * 1000);
  const drainSeconds = stored.complete ? (stored.at - stopped) / 1000 : Number.NaN;
  if (!stored.complete)
    process.stderr.write(
      `bench: ${dataDirLabel} only ${stored.deliveries} of ${load.ackedTotal} acked deliveries reached Parquet within ${settings.drainTimeoutSeconds} s\n`,
    );
  return {
    load,
    drainSeconds,
    events: stored.events,
    deliveries: stored.deliveries,
    complete: stored.complete,
    eventsPerSecond:
      stored.events / ((settings.warmupSeconds ?? 0) + load.elapsedSeconds + (stored.at - stopped) / 1000),
  };
}

export interface FreshnessResult {
  load: LoadResult;
  markersSent: number;
  markersAcked: number;
  markersSeen: number;
  /** ms from a marker's 2xx to its fact readable in Parquet. */
  p50: number;
  p99: number;
  max: number;
}

/**
 * A fixed offered rate for `freshSeconds`; meanwhile one marker session (a Zoom session.started
 * with a new session id) every `markerMs`, and the dataset polled for their facts.
 */
export async function freshness(settings: Settings, urls: string[], dataset: Dataset): Promise<FreshnessResult> {
  const url = urls[0]!;
  const acked = new Map<string, number>();
  const seen = new Map<string, number>();
  let sent = 0;
  let loadDone = false;
  const loading = runLoad(settings, {
    urls,
    mode: 'rate',
    seconds: settings.freshSeconds,
    rate: settings.rate,
  }).finally(() => (loadDone = true));

  const marking = (async () => {
    const end = performance.now() + settings.freshSeconds * 1000;
    while (performance.now() < end && !loadDone) {
      const next = performance.now() + settings.markerMs;
      const marker = markerDelivery(`bm-${randomBytes(9).toString('base64url')}==`);
      sent++;
      try {
        const response = await fetch(url + marker.path, {
          method: 'POST',
          headers: headersFor('zoom', marker.body, CREDENTIALS),
          body: marker.body,
          signal: AbortSignal.timeout(30_000),
        });
        await response.arrayBuffer();
        if (response.ok) acked.set(marker.sessionKey, performance.now());
      } catch {
        // counted as not acked
      }
      await sleep(Math.max(0, next - performance.now()));
    }
  })();

  const polling = (async () => {
    let drainDeadline = Number.POSITIVE_INFINITY;
    for (;;) {
      const pending = [...acked.keys()].filter((k) => !seen.has(k));
      if (pending.length > 0) {
        try {
          const present = await factsPresent(dataset, pending);
          const at = performance.now();
          for (const key of present) seen.set(key, at);
        } catch {
          // a file replaced under the reader: the next poll looks again
        }
      }
      if (loadDone && drainDeadline === Number.POSITIVE_INFINITY)
        drainDeadline = performance.now() + settings.drainTimeoutSeconds * 1000;
      if (loadDone && (seen.size >= acked.size || performance.now() > drainDeadline)) return;
      await sleep(settings.pollMs);
    }
  })();

  const load = await loading;
  await marking;
  await polling;
  const delays = [...seen].map(([key, at]) => at - acked.get(key)!);
  return {
    load,
    markersSent: sent,
    markersAcked: acked.size,
    markersSeen: seen.size,
    p50: percentileOf(delays, 50),
    p99: percentileOf(delays, 99),
    max: delays.length ? Math.max(...delays) : Number.NaN,
  };
}

/** Single deliveries to an idle service, one at a time. */
export function atRest(settings: Settings, urls: string[]): Promise<LoadResult> {
  const seconds = Math.ceil((settings.restCount * (settings.restGapMs + 50)) / 1000) + 30;
  return runLoad(settings, {
    urls,
    mode: 'rest',
    seconds,
    connections: 1,
    count: settings.restCount,
    gapMs: settings.restGapMs,
  });
}

/** Waits until the service has been idle a moment (its previous load drained). */
export const settle = (ms = 2000) => sleep(ms);
