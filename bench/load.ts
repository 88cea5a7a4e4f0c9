/**
 * The load generator, run as its own process so it does not share an event loop (or a core's
 * time slice) with the server it measures:
 *
 *   node dist/bench/load.js '<LoadSpec as JSON>'
 *
 * prints one JSON line, a LoadResult. Plain keep-alive HTTP/1.1 (node:http), one Agent per
 * target URL. Every request is a real provider delivery from bench/stream.ts, signed as the
 * provider signs it (the Zoom signature with a fresh timestamp per request). Modes:
 *   - max:  `connections` loops each send, wait for the answer, send again, for `seconds`;
 *   - rate: an open loop offering `rate` requests/s for `seconds` (latency counts from the
 *           moment a request was due, so a server that falls behind is not flattered);
 *   - rest: `count` requests one at a time, `gapMs` apart, to an otherwise idle server.
 * Targets are only 127.0.0.1; every loop is bounded by time or count.
 */
import { Agent, request } from 'node:http';
import { DeliveryStream, headersFor, type Credentials, type Delivery, type MixOptions } from './stream.js';
import { LatencyHistogram } from './histogram.js';

export interface LoadSpec {
  urls: string[];
  mode: 'max' | 'rate' | 'rest';
  seconds: number;
  connections: number;
  /** rate mode: requests per second offered. */
  rate?: number;
  /** max mode: seconds of load before the measured `seconds` (deliveries sent, acked and stored, not counted in the rate or latency). */
  warmupSeconds?: number;
  /** rest mode: how many requests, and the pause between two. */
  count?: number;
  gapMs?: number;
  credentials: Credentials;
  mix: MixOptions;
}

export interface LoadResult {
  mode: LoadSpec['mode'];
  /** From the start (after the warm-up) to the last request's answer. */
  elapsedSeconds: number;
  sent: number;
  acked: number;
  /** Acked including the warm-up: every delivery the server took. */
  ackedTotal: number;
  non2xx: number;
  /** 5xx answers among non2xx. */
  status5xx: number;
  statuses: Record<string, number>;
  errors: number;
  /** rate mode: requests not sent because too many were already waiting. */
  skipped: number;
  ackedPerSecond: number;
  p50: number;
  p99: number;
  max: number;
  sessionsStarted: number;
  /** CPU the load generator itself used (user + system), seconds: if it nears elapsedSeconds, the generator is the limit. */
  cpuSeconds: number;
}

const REQUEST_TIMEOUT_MS = 30_000;
const DRAIN_TIMEOUT_MS = 35_000;

function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]')
    throw new Error(`the benchmark only targets loopback, not ${host}`);
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  spec.urls.forEach(assertLoopback);
  const stream = new DeliveryStream(spec.mix);
  const perUrl = Math.max(1, Math.ceil(spec.connections / spec.urls.length));
  const targets = spec.urls.map((url) => ({
    url: new URL(url),
    agent: new Agent({ keepAlive: true, maxSockets: perUrl }),
  }));
  const histogram = new LatencyHistogram();
  const statuses = new Map<number, number>();
  let sent = 0;
  let acked = 0;
  let ackedTotal = 0;
  let errors = 0;
  let failures = 0;
  let lastAck = 0;
  let measuring = true;
  let skipped = 0;
  let inFlight = 0;

  const send = (delivery: Delivery, target: (typeof targets)[number], dueAt: number) =>
    new Promise<void>((resolve) => {
      sent++;
      inFlight++;
      const headers = headersFor(delivery.provider, delivery.body, spec.credentials);
      const req = request(
        {
          host: target.url.hostname,
          port: target.url.port,
          path: delivery.path,
          method: 'POST',
          agent: target.agent,
          headers: { ...headers, 'content-length': Buffer.byteLength(delivery.body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) ackedTotal++;
            if (measuring) {
              statuses.set(status, (statuses.get(status) ?? 0) + 1);
              if (status >= 200 && status < 300) {
                acked++;
                lastAck = performance.now();
              }
              histogram.record(performance.now() - dueAt);
            }
            inFlight--;
            resolve();
          });
        },
      );
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        failures++;
        if (measuring) errors++;
        inFlight--;
        resolve();
      });
      req.end(delivery.body);
    });

  const cpuStart = process.cpuUsage();
  let started = performance.now();
  let deadline = started + spec.seconds * 1000;
  if (spec.mode === 'max') {
    const warmup = (spec.warmupSeconds ?? 0) * 1000;
    if (warmup > 0) {
      // Requests that end in the warm-up are not counted; those in flight when it ends are, from then on.
      measuring = false;
      deadline += warmup;
      setTimeout(() => {
        measuring = true;
        sent = inFlight;
        started = performance.now();
      }, warmup);
    }
    await Promise.all(
      Array.from({ length: spec.connections }, async (_, i) => {
        const target = targets[i % targets.length]!;
        while (performance.now() < deadline) {
          const before = failures;
          await send(stream.next(), target, performance.now());
          if (failures > before) await new Promise((r) => setTimeout(r, 10));
        }
      }),
    );
  } else if (spec.mode === 'rate') {
    const rate = spec.rate ?? 1000;
    const maxWaiting = Math.max(spec.connections, rate * 5);
    let issued = 0;
    let turn = 0;
    while (performance.now() < deadline) {
      const now = performance.now();
      const due = Math.min(Math.floor(((now - started) / 1000) * rate), Math.floor(spec.seconds * rate));
      for (; issued < due; issued++) {
        const dueAt = started + (issued / rate) * 1000;
        if (inFlight >= maxWaiting) {
          skipped++;
          continue;
        }
        void send(stream.next(), targets[turn++ % targets.length]!, dueAt);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  } else {
    const count = spec.count ?? 200;
    // The first few warm the connection and both processes' code paths: not counted.
    const warm = Math.min(5, Math.floor(count / 10));
    for (let i = 0; i < count + warm && performance.now() < deadline; i++) {
      measuring = i >= warm;
      await send(stream.next(), targets[i % targets.length]!, performance.now());
      await new Promise((r) => setTimeout(r, spec.gapMs ?? 50));
    }
  }
  const loadEnded = performance.now();
  const drainDeadline = loadEnded + DRAIN_TIMEOUT_MS;
  while (inFlight > 0 && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 5));
  for (const t of targets) t.agent.destroy();

  // Until the last answer: in rate mode a server that fell behind acks after the offered seconds.
  const elapsedSeconds = (Math.max(loadEnded, lastAck) - started) / 1000;
  let non2xx = 0;
  let status5xx = 0;
  for (const [status, n] of statuses) {
    if (status < 200 || status >= 300) non2xx += n;
    if (status >= 500) status5xx += n;
  }
  return {
    mode: spec.mode,
    elapsedSeconds,
    sent,
    acked,
    ackedTotal,
    non2xx,
    status5xx,
    statuses: Object.fromEntries(statuses),
    errors: errors + inFlight,
    skipped,
    ackedPerSecond: acked / elapsedSeconds,
    p50: histogram.percentile(50),
    p99: histogram.percentile(99),
    max: histogram.max,
    sessionsStarted: stream.sessionsStarted,
    cpuSeconds: (() => {
      const cpu = process.cpuUsage(cpuStart);
      return (cpu.user + cpu.system) / 1e6;
    })(),
  };
}

if (process.argv[1]?.endsWith('load.js') && process.argv[2]) {
  const spec = JSON.parse(process.argv[2]) as LoadSpec;
  const result = await runLoad(spec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
