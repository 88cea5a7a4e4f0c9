/**
 * The embedded mode end to end: the built CLI as a real process, Zoom webhooks over HTTP,
 * facts read back from the Parquet dataset the way an analyst would.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { microsToIso, nowMicros } from '../../lib/time.js';
import { plannedZoomSession, zoomHeaders, type ZoomDelivery } from '../../bin/demo-zoom.js';
import { eventually, startService, type Service } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { queryDataset as query, shuffled } from '../helpers/data.js';

const SECRET = 'e2e-zoom-secret-token';

async function post(service: Service, delivery: ZoomDelivery): Promise<Response> {
  return fetch(`${service.url}/webhooks/zoom`, { method: 'POST', headers: zoomHeaders(SECRET, delivery.body), body: delivery.body });
}

describe('embedded mode, end to end over HTTP', () => {
  let dir: ReturnType<typeof tempDir>;
  let service: Service | undefined;
  beforeEach(() => {
    dir = tempDir('sessionflow-e2e-');
  });
  afterEach(async () => {
    if (service && service.proc.exitCode === null) await service.kill9();
    service = undefined;
    dir.remove();
  });

  it('turns a session whose webhooks arrive shuffled and twice into exactly the facts DESIGN section 6 defines', async () => {
    service = await startService(dir.path, { ZOOM_WEBHOOK_SECRET_TOKEN: SECRET });
    const start = nowMicros() - 3 * 3600e6;
    const session = plannedZoomSession(start);
    const deliveries = shuffled([...session.deliveries, ...session.deliveries], 42);
    for (const delivery of deliveries) expect((await post(service, delivery)).status).toBe(200);

    const key = `zoom:${session.sessionId}`;
    const fact = await eventually(async () => {
      const rows = await query(dir.path, `select * from session_facts where session_key = '${key}' and recording_files = 2 and events = ${session.deliveries.length + 1}`);
      return rows[0];
    }, 20_000, 'the session fact');

    expect(fact).toMatchObject({ provider: 'zoom', status: 'ended', consent: 'unknown', ...session.expected });
    expect(fact.participant_seconds).toBe(session.expected.participant_seconds);
    expect((fact.started_at as Date).toISOString()).toBe(microsToIso(start).replace(/\.\d+Z$/, '.000Z'));
    expect(fact.end_reason).toBeTruthy();

    const spans = await query(dir.path, `select * from participant_sessions where session_key = '${key}' order by joined_at`);
    expect(spans).toHaveLength(4);
    expect(spans.reduce((sum, s) => sum + Number(s.duration_seconds), 0)).toBe(session.expected.participant_seconds);

    // Twice delivered, once stored: one canonical row per event (two alert issues from one webhook).
    const events = await query(dir.path, `select type, count(*) as n from session_events where session_key = '${key}' group by type order by type`);
    const byType: Record<string, number> = Object.fromEntries(events.map((e) => [String(e.type), Number(e.n)]));
    expect(byType['participant.joined']).toBe(4);
    expect(byType['quality.alert']).toBe(2);
    expect(Object.values(byType).every((n) => n <= 4)).toBe(true);

    // Every delivery is archived, redeliveries included; the archive is its own topic, so it may trail the facts.
    const raw = await eventually(async () => {
      const rows = await query(dir.path, `select count(*) as n, count(distinct dedup_key) as keys from raw_webhooks where provider = 'zoom'`);
      return rows[0]!.n === deliveries.length ? rows[0]! : undefined;
    }, 20_000, 'every delivery in raw_webhooks');
    expect(raw.keys).toBe(session.deliveries.length);
  });

  it('turns an unreadable body into a dead letter with a code and the field path, and keeps it in the raw archive', async () => {
    service = await startService(dir.path, { ZOOM_WEBHOOK_SECRET_TOKEN: SECRET });
    const body = JSON.stringify({ event: 'session.user_joined', event_ts: Date.now(), payload: { account_id: 'a', object: { id: 'x', session_id: 'bad==', session_name: 'n', user: { id: '1', name: 'N', join_time: 'not a time', participant_uuid: 'p' } } } });
    const response = await post(service, { event: 'session.user_joined', body });
    expect(response.status).toBe(200);
    const { ingest_id } = (await response.json()) as { ingest_id: string };
    const letter = await eventually(async () => (await query(dir.path, `select * from dead_letters where ingest_id = '${ingest_id}'`))[0], 20_000, 'the dead letter');
    expect(letter).toMatchObject({ provider: 'zoom', stage: 'normalize', error_code: 'FIELD_INVALID', field_path: 'payload.object.user.join_time' });
    // The raw archive is its own topic and may trail the dead letter.
    const raw = await eventually(async () => (await query(dir.path, `select body from raw_webhooks where ingest_id = '${ingest_id}'`))[0], 20_000, 'the raw delivery');
    expect(Buffer.from(raw.body as Uint8Array).toString()).toBe(body);
  });

  it('keeps a webhook acknowledged right before kill -9, and processes it after the restart', async () => {
    service = await startService(dir.path, { ZOOM_WEBHOOK_SECRET_TOKEN: SECRET });
    const session = plannedZoomSession(nowMicros() - 3600e6);
    const delivery = session.deliveries[0]!; // session.started
    const response = await post(service, delivery);
    expect(response.status).toBe(200);
    const { ingest_id } = (await response.json()) as { ingest_id: string };
    await service.kill9();

    service = await startService(dir.path, { ZOOM_WEBHOOK_SECRET_TOKEN: SECRET });
    const row = await eventually(async () => (await query(dir.path, `select * from session_events where ingest_id = '${ingest_id}'`))[0], 20_000, 'the event after restart');
    expect(row).toMatchObject({ type: 'session.started', session_key: `zoom:${session.sessionId}` });
    expect(await query(dir.path, `select * from raw_webhooks where ingest_id = '${ingest_id}'`)).toHaveLength(1);
  });

  it('drains on SIGTERM and exits 0, and the next start goes on from there', async () => {
    service = await startService(dir.path, { ZOOM_WEBHOOK_SECRET_TOKEN: SECRET });
    const session = plannedZoomSession(nowMicros() - 3600e6);
    await Promise.all(session.deliveries.map((d) => post(service!, d)));
    expect(await service.stop()).toBe(0);
    expect(service.output()).toContain('"stopped"');

    service = await startService(dir.path, { ZOOM_WEBHOOK_SECRET_TOKEN: SECRET });
    const fact = await eventually(async () => (await query(dir.path, `select * from session_facts where session_key = 'zoom:${session.sessionId}' and recording_files = 2`))[0], 20_000, 'the fact');
    expect(fact).toMatchObject(session.expected);
  });

  it('answers the health checks, and makes and keeps development secrets when none are set', async () => {
    service = await startService(dir.path);
    expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
    expect((await fetch(`${service.url}/health/ready`)).status).toBe(200);
    expect(service.output()).toContain('development secrets made and stored');
    expect(service.output()).not.toMatch(/ZOOM_WEBHOOK_SECRET_TOKEN"?\s*:\s*"[A-Za-z0-9_-]{20,}/);
  });

  it('answers 401 in production for a provider without a secret', async () => {
    service = await startService(dir.path, { NODE_ENV: 'production', PII_KEY: 'a-production-pii-key-0123456789' });
    const session = plannedZoomSession(nowMicros());
    const response = await post(service, session.deliveries[0]!);
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('SECRET_NOT_CONFIGURED');
  });
});
