/**
 * A backlog for the shutdown tests: signed Zoom deliveries of many planned sessions posted as
 * fast as a few senders can, every answer recorded; and the check that, after a restart, every
 * acknowledged delivery is stored exactly once.
 */
import { expect } from 'vitest';
import { plannedZoomSession, zoomHeaders, type PlannedSession, type ZoomDelivery } from '../../ingest/demo/zoom.js';
import { nowMicros } from '../../lib/time.js';
import { AvroCodec } from '../../lib/avro.js';
import { openEmbeddedTransport } from '../../lib/log/open.js';
import { topicsFor } from '../../lib/topics.js';
import { wrap } from '../../ingest/envelope.js';
import { createZoomReceiver } from '../../ingest/providers/zoom.js';
import { createLogRawSink } from '../../ingest/raw-sink.js';
import { queryDataset } from './data.js';
import { eventually } from './service.js';

export interface Posted {
  delivery: ZoomDelivery;
  status: number | 'error';
  ingestId?: string;
}

/** Canonical events of a planned delivery: the alert webhook carries two issues. */
export const eventsOf = (delivery: ZoomDelivery) => (delivery.event === 'session.alert' ? 2 : 1);

/** The deliveries of `count` planned sessions, interleaved round-robin. */
export function backlogDeliveries(count: number): ZoomDelivery[] {
  const base = nowMicros() - 6 * 3600e6;
  const sessions: PlannedSession[] = Array.from({ length: count }, (_, i) => plannedZoomSession(base + i * 60e6));
  const out: ZoomDelivery[] = [];
  for (let i = 0; i < Math.max(...sessions.map((s) => s.deliveries.length)); i++)
    for (const s of sessions) if (s.deliveries[i]) out.push(s.deliveries[i]!);
  return out;
}

export interface Backlog {
  readonly posted: Posted[];
  /** Acknowledged (2xx with an ingest id) so far. */
  acked(): Posted[];
  stop(): void;
  readonly done: Promise<void>;
}

/** Posts `deliveries` to `url` with `concurrency` senders and no pause, until done or stopped. */
export function postBacklog(url: string, secret: string, deliveries: ZoomDelivery[], concurrency = 16): Backlog {
  const posted: Posted[] = [];
  let next = 0;
  let stopped = false;
  const sender = async () => {
    while (!stopped && next < deliveries.length) {
      const delivery = deliveries[next++]!;
      try {
        const response = await fetch(`${url}/webhooks/zoom`, {
          method: 'POST',
          headers: zoomHeaders(secret, delivery.body),
          body: delivery.body,
          signal: AbortSignal.timeout(15_000),
        });
        const body = (await response.json().catch(() => ({}))) as { ingest_id?: string };
        posted.push({ delivery, status: response.status, ...(body.ingest_id && { ingestId: body.ingest_id }) });
      } catch {
        posted.push({ delivery, status: 'error' });
      }
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, sender)).then(() => undefined);
  const acked = () =>
    posted.filter((p) => typeof p.status === 'number' && p.status >= 200 && p.status < 300 && p.ingestId);
  return {
    posted,
    acked,
    done,
    stop: () => {
      stopped = true;
    },
  };
}

/**
 * A backlog no warehouse can have caught up with: the deliveries stored in DATA_DIR's embedded
 * log by the ingest's own receiver, envelope and sink (as `sessionflow run` would after its 2xx),
 * before the service starts. Returns them as acknowledged.
 */
export async function prefillEmbeddedBacklog(
  dataDir: string,
  secret: string,
  deliveries: ZoomDelivery[],
): Promise<Posted[]> {
  const transport = await openEmbeddedTransport(dataDir);
  try {
    const topics = topicsFor('sessionflow.');
    await transport.log.createTopics(topics.specs(3, 1024 * 1024)); // the defaults `run` creates them with
    const sink = await createLogRawSink(transport.log, new AvroCodec(transport.registry), topics);
    const receiver = createZoomReceiver([secret]);
    return await Promise.all(
      deliveries.map(async (delivery) => {
        const headers = Object.fromEntries(
          Object.entries(zoomHeaders(secret, delivery.body)).map(([k, v]) => [k.toLowerCase(), v]),
        );
        const body = Buffer.from(delivery.body);
        const receivedAt = nowMicros();
        const verified = receiver.verify({ headers, body }, receivedAt);
        const raw = wrap({
          provider: 'zoom',
          source: 'webhook',
          receivedAt,
          dedupKey: verified.dedupKey,
          headers,
          body,
        });
        await sink.write(raw, verified.sessionKey);
        return { delivery, status: 200, ingestId: raw.ingest_id };
      }),
    );
  } finally {
    await transport.close();
  }
}

/** Rows the Parquet dataset of `dataDir` shows now: what the warehouse has written so far. */
export async function storedCounts(dataDir: string): Promise<{ raw: number; events: number }> {
  const [row] = await queryDataset(
    dataDir,
    `select (select count(*) from raw_webhooks) as raw, (select count(*) from session_events) as events`,
    { restricted: true },
  );
  return { raw: Number(row!.raw), events: Number(row!.events) };
}

/**
 * Waits until the dataset of `dataDir` holds every acknowledged delivery, then checks each is
 * archived once and gave its events once. Returns what it found.
 */
export async function expectStoredOnce(
  dataDir: string,
  acked: Posted[],
  timeoutMs: number,
  explain: () => string,
): Promise<{ stored: number; lost: number; duplicated: number; extra: number }> {
  const expectedEvents = acked.reduce((sum, p) => sum + eventsOf(p.delivery), 0);
  try {
    await eventually(
      async () => {
        const counts = await storedCounts(dataDir);
        return counts.raw >= acked.length && counts.events >= expectedEvents ? counts : undefined;
      },
      timeoutMs,
      `${acked.length} raw webhooks and ${expectedEvents} events`,
      250,
    );
  } catch (err) {
    throw new Error(`${String(err)}\n${explain()}`);
  }
  const raw = await queryDataset(dataDir, `select ingest_id, count(*) as n from raw_webhooks group by ingest_id`, {
    restricted: true,
  });
  const perRaw = new Map(raw.map((r) => [String(r.ingest_id), Number(r.n)]));
  const events = await queryDataset(
    dataDir,
    `select ingest_id, count(*) as n, count(distinct event_id) as ids from session_events group by ingest_id`,
  );
  const perEvents = new Map(events.map((e) => [String(e.ingest_id), Number(e.n)]));
  const ackedIds = new Set(acked.map((p) => p.ingestId!));
  const lost = acked.filter((p) => perRaw.get(p.ingestId!) !== 1 && !perRaw.has(p.ingestId!)).length;
  const duplicated = [...perRaw.values()].filter((n) => n > 1).length + events.filter((e) => e.n !== e.ids).length;
  const extra = [...perRaw.keys()].filter((id) => !ackedIds.has(id)).length;
  expect(lost, 'acknowledged deliveries missing from raw_webhooks').toBe(0);
  expect(duplicated, 'deliveries or events stored more than once').toBe(0);
  for (const p of acked) expect(perEvents.get(p.ingestId!), `events of ${p.ingestId}`).toBe(eventsOf(p.delivery));
  return { stored: perRaw.size, lost, duplicated, extra };
}
