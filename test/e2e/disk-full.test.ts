/**
 * The disk fills, end to end: `sessionflow run` (production) on a real 48 MB tmpfs as DATA_DIR,
 * signed Zoom, Apizee and mluvii deliveries over HTTP, the disk filled to the last byte, then
 * freed. While it is full the ingest answers 503 and /health/ready says not ready; once space is
 * back it takes deliveries again with no restart, normalize and the warehouse catch up, and every
 * delivery it acknowledged is stored exactly once. The process never exits.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apizeeHeaders, plannedApizeeSession } from '../../ingest/demo/apizee.js';
import { mluviiHeaders, plannedMluviiSession } from '../../ingest/demo/mluvii.js';
import { plannedZoomSession, zoomHeaders } from '../../ingest/demo/zoom.js';
import { nowMicros } from '../../lib/time.js';
import { queryDataset as query } from '../helpers/data.js';
import { eventually, runCli, startService, type Service } from '../helpers/service.js';
import { mountSmallFs, type SmallFs } from '../helpers/small-fs.js';

const ENV = {
  NODE_ENV: 'production',
  PII_KEY: 'disk-full-e2e-pii-key-0123456789abcdef',
  ZOOM_WEBHOOK_SECRET_TOKEN: 'disk-full-zoom-secret-token',
  APIZEE_WEBHOOK_SECRET: 'disk-full-apizee-shared-secret-9Xw',
  MLUVII_WEBHOOK_USER: 'mluvii-disk',
  MLUVII_WEBHOOK_PASSWORD: 'disk-full-mluvii-password-Qe4',
};

type Provider = 'zoom' | 'apizee' | 'mluvii';

interface Delivery {
  provider: Provider;
  body: string;
  /** Every answer it got, in order. */
  statuses: number[];
  ingestId?: string;
}

interface Session {
  key: string;
  /** The events its deliveries give once all are stored (DESIGN section 6). */
  events: number;
  deliveries: Delivery[];
}

let sessionCount = 0;

/** A new planned session, turn by turn of each provider. */
function newSession(): Session {
  const provider = (['zoom', 'apizee', 'mluvii'] as const)[sessionCount++ % 3]!;
  const start = nowMicros() - 2 * 3600e6 - sessionCount * 60e6;
  const wrap = (deliveries: Array<{ body: string }>) =>
    deliveries.map((d) => ({ provider, body: d.body, statuses: [] }));
  if (provider === 'zoom') {
    const s = plannedZoomSession(start);
    // One webhook carries two quality issues: one event each.
    return { key: `zoom:${s.sessionId}`, events: s.deliveries.length + 1, deliveries: wrap(s.deliveries) };
  }
  const s = provider === 'apizee' ? plannedApizeeSession(start) : plannedMluviiSession(start);
  return { key: s.sessionKey, events: s.expected.events, deliveries: wrap(s.deliveries) };
}

function headers(provider: Provider, body: string): Record<string, string> {
  if (provider === 'zoom') return zoomHeaders(ENV.ZOOM_WEBHOOK_SECRET_TOKEN, body);
  if (provider === 'apizee') return apizeeHeaders(ENV.APIZEE_WEBHOOK_SECRET);
  return mluviiHeaders(ENV.MLUVII_WEBHOOK_USER, ENV.MLUVII_WEBHOOK_PASSWORD);
}

async function post(service: Service, delivery: Delivery): Promise<number> {
  const response = await fetch(`${service.url}/webhooks/${delivery.provider}`, {
    method: 'POST',
    headers: headers(delivery.provider, delivery.body),
    body: delivery.body,
  });
  const answer = (await response.json()) as { ingest_id?: string; error?: string };
  delivery.statuses.push(response.status);
  if (response.status === 200) delivery.ingestId = answer.ingest_id;
  else expect(response.status, JSON.stringify(answer)).toBe(503);
  if (response.status === 503) expect(answer.error).toBe('NOT_READY');
  return response.status;
}

/** Posts deliveries `concurrency` at a time, as a provider under load would. */
async function postAll(service: Service, deliveries: Delivery[], concurrency = 8): Promise<void> {
  for (let i = 0; i < deliveries.length; i += concurrency)
    await Promise.all(deliveries.slice(i, i + concurrency).map((d) => post(service, d)));
}

const readyStatus = async (service: Service) => (await fetch(`${service.url}/health/ready`)).status;

function tmpFiles(dir: string): string[] {
  try {
    return (readdirSync(dir, { recursive: true }) as string[]).filter((name) => name.endsWith('.tmp'));
  } catch {
    return [];
  }
}

describe('a full disk (embedded mode), end to end over HTTP', () => {
  let fs: SmallFs;
  let service: Service | undefined;
  beforeEach(() => {
    fs = mountSmallFs(48);
  });
  afterEach(async () => {
    if (service && service.proc.exitCode === null) await service.kill9();
    service = undefined;
    fs.unmount();
  });

  it('answers 503 and is not ready while the disk is full, takes deliveries again once space is back, and stores every acknowledged one exactly once', async () => {
    service = await startService(fs.path, ENV);
    const sessions: Session[] = [];
    const more = (n: number) => {
      const added = Array.from({ length: n }, newSession);
      sessions.push(...added);
      return added.flatMap((s) => s.deliveries);
    };

    // Before: everything is taken.
    const before = more(3);
    await postAll(service, before);
    expect(before.every((d) => d.statuses[0] === 200)).toBe(true);
    expect(await readyStatus(service)).toBe(200);

    // Full: keep sending until the ingest refuses and says it is not ready.
    fs.fill(0);
    const deadline = Date.now() + 30_000;
    let sawNotReady = false;
    while (Date.now() < deadline) {
      await postAll(service, more(1));
      sawNotReady ||= (await readyStatus(service)) === 503;
      const refused = sessions.flatMap((s) => s.deliveries).filter((d) => d.statuses.includes(503)).length;
      if (sawNotReady && refused >= 20) break;
    }
    expect(sawNotReady, 'GET /health/ready answered 503 while the disk was full').toBe(true);
    // It stays so, and alive, while the disk stays full (normalize and the warehouse retry meanwhile).
    const held = more(2);
    for (const delivery of held) await post(service, delivery);
    expect(held.every((d) => d.statuses[0] === 503)).toBe(true);
    await new Promise((r) => setTimeout(r, 3000));
    expect(await readyStatus(service)).toBe(503);
    expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
    expect(service.proc.exitCode).toBeNull();

    // Space is back: ready again with no restart.
    fs.free();
    await eventually(
      async () => ((await readyStatus(service!)) === 200 ? true : undefined),
      20_000,
      '/health/ready 200 after the space came back',
    );
    // The provider retries what was refused; new deliveries are taken too.
    const refused = sessions.flatMap((s) => s.deliveries).filter((d) => d.ingestId === undefined);
    await postAll(service, refused);
    const after = more(3);
    await postAll(service, after);
    expect([...refused, ...after].filter((d) => d.statuses.at(-1) !== 200)).toEqual([]);

    // Normalize and the warehouse catch up, and so does the Parquet export: every session complete.
    const keys = sessions.map((s) => `'${s.key}'`).join(', ');
    await eventually(
      async () => {
        const rows = await query(
          fs.path,
          `select session_key, events from session_facts where session_key in (${keys})`,
        );
        const events = new Map(rows.map((r) => [String(r.session_key), Number(r.events)]));
        return sessions.every((s) => events.get(s.key) === s.events) ? true : undefined;
      },
      60_000,
      'the facts of every session, complete',
    );

    const deliveries = sessions.flatMap((s) => s.deliveries);
    const acked = new Set(deliveries.flatMap((d) => (d.ingestId ? [d.ingestId] : [])));
    const raw = await eventually(
      async () => {
        const rows = await query(fs.path, `select ingest_id, count(*) as n from raw_webhooks group by ingest_id`, {
          restricted: true,
        });
        return rows.filter((r) => acked.has(String(r.ingest_id))).length === acked.size ? rows : undefined;
      },
      30_000,
      'every acknowledged delivery in raw_webhooks',
    );
    const stored = raw.filter((r) => acked.has(String(r.ingest_id)));
    const duplicated = raw.filter((r) => Number(r.n) > 1).length;
    const events = (
      await query(
        fs.path,
        `select count(*) as n, count(distinct event_id) as ids from session_events where session_key in (${keys})`,
      )
    )[0]!;

    const figures = {
      deliveries: deliveries.length,
      answers: deliveries.reduce((n, d) => n + d.statuses.length, 0),
      acked: acked.size,
      refused503: deliveries.reduce((n, d) => n + d.statuses.filter((s) => s === 503).length, 0),
      stored: stored.length,
      storedThoughRefused: raw.length - stored.length,
      lost: acked.size - stored.length,
      duplicatedRaw: duplicated,
      duplicatedEvents: Number(events.n) - Number(events.ids),
      events: Number(events.n),
      // Which of the retrying paths this run went through (from the service's log lines).
      paths: [
        'embedded log cannot write',
        'warehouse batch not stored',
        'publish failed',
        'opened again',
        'Parquet export failed',
      ].filter((line) => service!.output().includes(line)),
    };
    console.log('disk-full figures', JSON.stringify(figures));

    expect(figures.acked).toBe(deliveries.length);
    expect(figures.refused503).toBeGreaterThanOrEqual(20);
    expect(figures.lost).toBe(0);
    expect(figures.duplicatedRaw).toBe(0);
    expect(figures.duplicatedEvents).toBe(0);
    // A delivery refused with 503 is not stored: the archive holds exactly what was acknowledged.
    expect(figures.storedThoughRefused).toBe(0);
    expect(figures.events).toBe(sessions.reduce((n, s) => n + s.events, 0));

    // sessionflow audit, as an operator would run it, accounts for every archived delivery.
    const audit = await runCli(['audit', '--format', 'json'], { ...ENV, DATA_DIR: fs.path }, fs.path);
    expect(audit.code, audit.stderr).toBe(0);

    // No temporary export file is left, none became visible; the process never stopped.
    expect(tmpFiles(join(fs.path, 'parquet'))).toEqual([]);
    expect(await readyStatus(service)).toBe(200);
    expect(service.proc.exitCode).toBeNull();
    expect(service.output()).not.toContain('a pipeline stage stopped');
  }, 240_000);
});
