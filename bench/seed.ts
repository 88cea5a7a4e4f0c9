/**
 * The bulk loader: fills a DATA_DIR with a warehouse as the product would have made it, so that
 * `sessionflow run` on it measures the cost of a warehouse that already holds work.
 *
 *   node dist/bench/seed.js '<SeedSpec as JSON>'   → progress on stderr, a SeedResult as JSON on stdout
 *
 * Sessions are the planned ones of bin/demo-*.ts (a few mluvii chats and Apizee tickets, Zoom for
 * the rest), each complete (ended), so the idle sweep finds nothing to do when the product starts.
 * Some Zoom sessions are short (start, host and guest join and leave, end) so that the mean events
 * per session meets `events / sessions`. Each session starts at a random time in the last `days`
 * days. Each delivery goes through the product's receiver, envelope and adapter (canonical.ts),
 * and the rows go through the product's own warehouse API: `createWarehouse` and `applyBatch` in
 * big batches (the raw archive too, unless `raw` is false), then the Parquet export.
 */
import { createLogger } from '../lib/logger.js';
import type { RawWebhook, SessionEvent } from '../lib/canonical.js';
import { createWarehouse } from '../processors/warehouse/writer.js';
import { createCanonicalizer } from './canonical.js';
import { newSession, type Credentials, type Provider } from './stream.js';

export interface SeedSpec {
  dataDir: string;
  events: number;
  sessions: number;
  days: number;
  /** Events per applyBatch. */
  batchEvents: number;
  /** Store the raw archive too (as the product does). */
  raw: boolean;
  credentials: Credentials;
  piiKey: string;
}

export interface SeedResult {
  sessions: number;
  events: number;
  deliveries: number;
  failures: number;
  seconds: number;
  eventsPerSecond: number;
}

/** Indices kept of a planned Zoom session for a short one: started, host and second guest join, guest and host leave, ended. */
const SHORT_ZOOM = [0, 1, 3, 13, 15, 16];
const SHARES: Array<[Provider, number]> = [
  ['mluvii', 0.07],
  ['apizee', 0.03],
];

interface SessionPlan {
  provider: Provider;
  short: boolean;
}

export async function seed(spec: SeedSpec): Promise<SeedResult> {
  const canonical = createCanonicalizer(spec.credentials, spec.piiKey);
  const now = Date.now() * 1000;
  const eventsOf = (plan: SessionPlan, start: number) => {
    const session = newSession(plan.provider, start + 1200e6);
    const bodies = plan.short ? SHORT_ZOOM.map((i) => session.bodies[i]!) : session.bodies;
    // Received after the session's last event, a millisecond apart, in order.
    return bodies.map((body, i) => canonical.toRows(plan.provider, body, start + 1300e6 + i * 1000));
  };
  const count = (plan: SessionPlan) => eventsOf(plan, now - 86_400e6).reduce((n, r) => n + r.events.length, 0);
  const perSession = {
    zoom: count({ provider: 'zoom', short: false }),
    short: count({ provider: 'zoom', short: true }),
    mluvii: count({ provider: 'mluvii', short: false }),
    apizee: count({ provider: 'apizee', short: false }),
  };
  // The share of full Zoom sessions that makes the mean events per session events / sessions.
  const target = spec.events / spec.sessions;
  const others = SHARES.reduce((n, [p, share]) => n + share * perSession[p as 'mluvii' | 'apizee'], 0);
  const zoomShare = 1 - SHARES.reduce((n, [, share]) => n + share, 0);
  const fullZoom = Math.min(
    1,
    Math.max(0, ((target - others) / zoomShare - perSession.short) / (perSession.zoom - perSession.short)),
  );
  const pickPlan = (): SessionPlan => {
    let r = Math.random();
    for (const [provider, share] of SHARES) {
      if (r < share) return { provider, short: false };
      r -= share;
    }
    return { provider: 'zoom', short: Math.random() >= fullZoom };
  };

  const warehouse = await createWarehouse({ dataDir: spec.dataDir, logger: createLogger('warn') });
  const started = performance.now();
  let sessions = 0;
  let events = 0;
  let deliveries = 0;
  let failures = 0;
  let raw: RawWebhook[] = [];
  let batch: SessionEvent[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    await warehouse.applyBatch({ raw: spec.raw ? raw : [], events: batch, deadLetters: [], offsets: [] });
    raw = [];
    batch = [];
    const seconds = (performance.now() - started) / 1000;
    process.stderr.write(
      `seed: ${sessions} sessions, ${events} events, ${seconds.toFixed(0)} s, ${(events / seconds).toFixed(0)} events/s\n`,
    );
  };
  try {
    const span = Math.max(1, spec.days * 86_400e6 - 2 * 3600e6);
    while (sessions < spec.sessions && events < spec.events * 1.2) {
      const start = Math.floor(now - 2 * 3600e6 - Math.random() * span);
      for (const rows of eventsOf(pickPlan(), start)) {
        raw.push(rows.raw);
        batch.push(...rows.events);
        events += rows.events.length;
        failures += rows.failures;
        deliveries++;
      }
      sessions++;
      if (batch.length >= spec.batchEvents) await flush();
    }
    await flush();
    await warehouse.flush();
  } finally {
    await warehouse.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return { sessions, events, deliveries, failures, seconds, eventsPerSecond: events / seconds };
}

if (process.argv[1]?.endsWith('seed.js') && process.argv[2]) {
  const result = await seed(JSON.parse(process.argv[2]) as SeedSpec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
