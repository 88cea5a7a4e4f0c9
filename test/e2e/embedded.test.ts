/**
 * The embedded mode end to end: the built CLI as a real process, Zoom webhooks over HTTP,
 * facts read back from the Parquet dataset the way an analyst would.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AvroCodec } from '../../lib/avro.js';
import type { RawWebhook } from '../../lib/canonical.js';
import { openDuckDB } from '../../lib/duckdb.js';
import { EmbeddedRegistry } from '../../lib/registry/embedded.js';
import { microsToIso, nowMicros } from '../../lib/time.js';
import { topicsFor, valueSubject } from '../../lib/topics.js';
import { wrap } from '../../ingest/envelope.js';
import { plannedZoomSession, zoomHeaders, type ZoomDelivery } from '../../ingest/demo/zoom.js';
import { eventually, startService, type Service } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { queryDataset as query, shuffled } from '../helpers/data.js';
import { OLD_LOG_DDL } from '../helpers/old-log.js';

const SECRET = 'e2e-zoom-secret-token';

async function post(service: Service, delivery: ZoomDelivery): Promise<Response> {
  return fetch(`${service.url}/webhooks/zoom`, {
    method: 'POST',
    headers: zoomHeaders(SECRET, delivery.body),
    body: delivery.body,
  });
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
    const fact = await eventually(
      async () => {
        const rows = await query(
          dir.path,
          `select * from session_facts where session_key = '${key}' and recording_files = 2 and events = ${session.deliveries.length + 1}`,
        );
        return rows[0];
      },
      20_000,
      'the session fact',
    );

    expect(fact).toMatchObject({ provider: 'zoom', status: 'ended', consent: 'unknown', ...session.expected });
    expect(fact.participant_seconds).toBe(session.expected.participant_seconds);
    expect((fact.started_at as Date).toISOString()).toBe(microsToIso(start).replace(/\.\d+Z$/, '.000Z'));
    expect(fact.end_reason).toBeTruthy();

    const spans = await query(
      dir.path,
      `select * from participant_sessions where session_key = '${key}' order by joined_at`,
    );
    expect(spans).toHaveLength(4);
    expect(spans.reduce((sum, s) => sum + Number(s.duration_seconds), 0)).toBe(session.expected.participant_seconds);

    // Twice delivered, once stored: one canonical row per event (two alert issues from one webhook).
    const events = await query(
      dir.path,
      `select type, count(*) as n from session_events where session_key = '${key}' group by type order by type`,
    );
    const byType: Record<string, number> = Object.fromEntries(events.map((e) => [String(e.type), Number(e.n)]));
    expect(byType['participant.joined']).toBe(4);
    expect(byType['quality.alert']).toBe(2);
    expect(Object.values(byType).every((n) => n <= 4)).toBe(true);

    // SESSION_NAMES unset: the app's session name (free text) is stored as its keyed pseudonym, on
    // every event and the fact alike, and the text itself nowhere.
    const sessionName = (JSON.parse(session.deliveries[0]!.body) as { payload: { object: { session_name: string } } })
      .payload.object.session_name;
    const names = await query(
      dir.path,
      `select distinct session_name from session_events where session_key = '${key}'`,
    );
    expect(names.map((n) => n.session_name)).toEqual([fact.name]);
    expect(fact.name).toMatch(/^name:[0-9a-f]{32}$/);
    expect(
      await query(dir.path, `select count(*) as n from session_events where session_name = '${sessionName}'`),
    ).toEqual([{ n: 0 }]);

    // Every delivery is archived, redeliveries included; the archive is its own topic, so it may trail the facts.
    const raw = await eventually(
      async () => {
        const rows = await query(
          dir.path,
          `select count(*) as n, count(distinct dedup_key) as keys from raw_webhooks where provider = 'zoom'`,
          { restricted: true },
        );
        return rows[0]!.n === deliveries.length ? rows[0]! : undefined;
      },
      20_000,
      'every delivery in raw_webhooks',
    );
    expect(raw.keys).toBe(session.deliveries.length);
  });

  it('turns an unreadable body into a dead letter with a code and the field path, and keeps it in the raw archive', async () => {
    service = await startService(dir.path, { ZOOM_WEBHOOK_SECRET_TOKEN: SECRET });
    const body = JSON.stringify({
      event: 'session.user_joined',
      event_ts: Date.now(),
      payload: {
        account_id: 'a',
        object: {
          id: 'x',
          session_id: 'bad==',
          session_name: 'n',
          user: { id: '1', name: 'N', join_time: 'not a time', participant_uuid: 'p' },
        },
      },
    });
    const response = await post(service, { event: 'session.user_joined', body });
    expect(response.status).toBe(200);
    const { ingest_id } = (await response.json()) as { ingest_id: string };
    const letter = await eventually(
      async () => (await query(dir.path, `select * from dead_letters where ingest_id = '${ingest_id}'`))[0],
      20_000,
      'the dead letter',
    );
    expect(letter).toMatchObject({
      provider: 'zoom',
      stage: 'normalize',
      error_code: 'FIELD_INVALID',
      field_path: 'payload.object.user.join_time',
    });
    // The raw archive is its own topic and may trail the dead letter.
    const raw = await eventually(
      async () =>
        (
          await query(dir.path, `select body from raw_webhooks where ingest_id = '${ingest_id}'`, { restricted: true })
        )[0],
      20_000,
      'the raw delivery',
    );
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
    const row = await eventually(
      async () => (await query(dir.path, `select * from session_events where ingest_id = '${ingest_id}'`))[0],
      20_000,
      'the event after restart',
    );
    expect(row).toMatchObject({ type: 'session.started', session_key: `zoom:${session.sessionId}` });
    expect(
      await query(dir.path, `select * from raw_webhooks where ingest_id = '${ingest_id}'`, { restricted: true }),
    ).toHaveLength(1);
  });

  it('loses no acknowledged delivery when killed -9 in the middle of a burst of concurrent deliveries, and stores each exactly once', async () => {
    service = await startService(dir.path, { ZOOM_WEBHOOK_SECRET_TOKEN: SECRET });
    const target = service;
    const start = nowMicros() - 3600e6;
    const deliveries = Array.from({ length: 60 }, (_, i) => plannedZoomSession(start + i * 1e6).deliveries).flat();
    const acked: string[] = [];
    const killAfter = Math.floor(deliveries.length / 3);
    let [next, killed] = [0, false];
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < deliveries.length) {
          const delivery = deliveries[next++]!;
          try {
            const response = await post(target, delivery);
            if (response.status === 200) acked.push(((await response.json()) as { ingest_id: string }).ingest_id);
          } catch {
            // the process is gone: not acknowledged
          }
          if (!killed && acked.length >= killAfter) {
            killed = true;
            void target.kill9();
          }
        }
      }),
    );
    await target.exited;
    expect(killed).toBe(true);
    expect(acked.length).toBeGreaterThanOrEqual(killAfter);
    expect(acked.length).toBeLessThan(deliveries.length); // killed before the burst was over

    service = await startService(dir.path, { ZOOM_WEBHOOK_SECRET_TOKEN: SECRET });
    const ids = acked.map((id) => `'${id}'`).join(',');
    const stored = await eventually(
      async () => {
        const rows = await query(
          dir.path,
          `select ingest_id, count(*) as n from raw_webhooks where ingest_id in (${ids}) group by ingest_id`,
          { restricted: true },
        );
        return rows.length === acked.length ? rows : undefined;
      },
      30_000,
      'every acknowledged delivery in raw_webhooks',
    );
    expect(stored.filter((row) => Number(row.n) !== 1)).toEqual([]);
  });

  it('migrates a log.duckdb of an older version at start: its unconsumed deliveries are processed, its consumed ones are not again', async () => {
    // What an older version left: raw.zoom.v1 in log.duckdb, normalize past its first delivery.
    const topics = topicsFor('sessionflow.');
    const registry = await EmbeddedRegistry.open(join(dir.path, 'old-registry'));
    await registry.register('unrelated-value', { type: 'string' }); // so RawWebhook's id is not the one a fresh registry would give it
    const serializer = await new AvroCodec(registry).serializer<RawWebhook>(
      valueSubject(topics.raw('zoom')),
      'RawWebhook',
    );
    const [consumed, unconsumed] = [plannedZoomSession(nowMicros() - 7200e6), plannedZoomSession(nowMicros() - 3600e6)];
    const raws = [consumed, unconsumed].map((s, i) =>
      wrap({
        provider: 'zoom',
        source: 'webhook',
        receivedAt: nowMicros(),
        dedupKey: `old-${i}`,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(s.deliveries[0]!.body),
      }),
    );
    const db = await openDuckDB(join(dir.path, 'log.duckdb'));
    const conn = await db.connect();
    for (const statement of OLD_LOG_DDL) await conn.run(statement);
    await conn.run(`INSERT INTO log_topics VALUES ($1, 3, false)`, [topics.raw('zoom')]);
    for (const [offset, raw] of raws.entries()) {
      await conn.run(`INSERT INTO log_messages VALUES ($1, 0, $2, NULL, from_hex($3), $4)`, [
        topics.raw('zoom'),
        offset,
        serializer.encode(raw).toString('hex'),
        Date.now(),
      ]);
    }
    await conn.run(`INSERT INTO log_positions VALUES ($1, $2, 0, 1)`, [topics.group('normalize'), topics.raw('zoom')]);
    for (const [i, subject] of ['unrelated-value', valueSubject(topics.raw('zoom'))].entries()) {
      await conn.run(`INSERT INTO registry_schemas VALUES ($1, $2, 1, $3)`, [
        i + 1,
        subject,
        await registry.lookup(i + 1),
      ]);
    }
    conn.closeSync();
    db.closeSync();

    service = await startService(dir.path, { ZOOM_WEBHOOK_SECRET_TOKEN: SECRET });
    expect(service.output()).toContain('migrated DATA_DIR/log.duckdb');
    const row = await eventually(
      async () => (await query(dir.path, `select * from session_events where ingest_id = '${raws[1]!.ingest_id}'`))[0],
      30_000,
      'the unconsumed delivery normalized',
    );
    expect(row).toMatchObject({ type: 'session.started', session_key: `zoom:${unconsumed.sessionId}` });
    // The raw archive has both (the warehouse had no position); normalize did not take the consumed one again.
    await eventually(
      async () =>
        Number(
          (
            await query(
              dir.path,
              `select count(*) as n from raw_webhooks where ingest_id in ('${raws[0]!.ingest_id}', '${raws[1]!.ingest_id}')`,
              { restricted: true },
            )
          )[0]!.n,
        ) === 2
          ? true
          : undefined,
      30_000,
      'both in the raw archive',
    );
    expect(
      await query(dir.path, `select * from session_events where ingest_id = '${raws[0]!.ingest_id}'`),
    ).toHaveLength(0);
  });

  it('drains on SIGTERM and exits 0, and the next start goes on from there', async () => {
    service = await startService(dir.path, { ZOOM_WEBHOOK_SECRET_TOKEN: SECRET });
    const session = plannedZoomSession(nowMicros() - 3600e6);
    await Promise.all(session.deliveries.map((d) => post(service!, d)));
    expect(await service.stop()).toBe(0);
    expect(service.output()).toContain('"stopped"');

    service = await startService(dir.path, { ZOOM_WEBHOOK_SECRET_TOKEN: SECRET });
    const fact = await eventually(
      async () =>
        (
          await query(
            dir.path,
            `select * from session_facts where session_key = 'zoom:${session.sessionId}' and recording_files = 2`,
          )
        )[0],
      20_000,
      'the fact',
    );
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
