/**
 * The Kafka mode end to end: `sessionflow run` on the real broker and registry, Zoom webhooks over
 * HTTP, facts read back from the Parquet dataset, and the compacted facts topic read with kafkajs
 * and decoded through the registry, as a downstream consumer would.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { plannedZoomSession } from '../../ingest/demo/zoom.js';
import { AvroCodec } from '../../lib/avro.js';
import type { SessionFact } from '../../lib/canonical.js';
import { ConfluentRegistry } from '../../lib/registry/confluent.js';
import { microsToIso, nowMicros } from '../../lib/time.js';
import { topicsFor } from '../../lib/topics.js';
import { eventually, runCli } from '../helpers/service.js';
import {
  Fleet,
  cleanUpAfterEach,
  kafkaClient,
  kafkaDescribe,
  kafkaEnv,
  need,
  post,
  query,
  randomPrefix,
  readTopics,
  shuffled,
  waitFor,
} from './support.js';

kafkaDescribe('Kafka mode, end to end over HTTP', () => {
  const fleet = new Fleet();
  cleanUpAfterEach(fleet);

  it('the end-to-end Zoom session gives the same facts in Kafka mode', async () => {
    const prefix = randomPrefix();
    const dataDir = fleet.dataDir();
    const service = await fleet.start('run', dataDir, kafkaEnv(prefix, { KAFKA_ACK_TIMEOUT_MS: '500' }));
    const start = nowMicros() - 3 * 3600e6;
    const session = plannedZoomSession(start);
    const deliveries = shuffled([...session.deliveries, ...session.deliveries], 7);
    for (const delivery of deliveries) expect((await post(service.url, delivery)).status).toBe(200);

    const key = `zoom:${session.sessionId}`;
    const eventCount = session.deliveries.length + 1; // the alert webhook carries two issues
    const fact = await waitFor(
      async () =>
        (
          await query(
            dataDir,
            `select * from session_facts where session_key = '${key}' and recording_files = 2 and events = ${eventCount}`,
          )
        )[0],
      30_000,
      'the session fact',
      () => fleet.output(),
    );
    expect(fact).toMatchObject({ provider: 'zoom', status: 'ended', consent: 'unknown', ...session.expected });
    expect((fact.started_at as Date).toISOString()).toBe(microsToIso(start).replace(/\.\d+Z$/, '.000Z'));
    expect(fact.end_reason).toBeTruthy();

    const spans = await query(
      dataDir,
      `select * from participant_sessions where session_key = '${key}' order by joined_at`,
    );
    expect(spans).toHaveLength(4);
    expect(spans.reduce((sum, s) => sum + Number(s.duration_seconds), 0)).toBe(session.expected.participant_seconds);

    // Twice delivered, once stored: one canonical row per event.
    const [events] = await query(
      dataDir,
      `select count(*) as n, count(distinct event_id) as ids from session_events where session_key = '${key}'`,
    );
    expect(events).toEqual({ n: eventCount, ids: eventCount });
    const byType = Object.fromEntries(
      (
        await query(
          dataDir,
          `select type, count(*) as n from session_events where session_key = '${key}' group by type`,
        )
      ).map((e) => [e.type, Number(e.n)]),
    );
    expect(byType['participant.joined']).toBe(4);
    expect(byType['quality.alert']).toBe(2);

    // Every delivery archived, redeliveries included (the raw topic may trail the facts).
    const raw = await eventually(
      async () => {
        const [row] = await query(
          dataDir,
          `select count(*) as n, count(distinct ingest_id) as ids, count(distinct dedup_key) as keys from raw_webhooks`,
          { restricted: true },
        );
        return row!.n === deliveries.length ? row : undefined;
      },
      20_000,
      'every delivery in raw_webhooks',
    );
    expect(raw).toEqual({ n: deliveries.length, ids: deliveries.length, keys: session.deliveries.length });

    // facts.v1: the latest SessionFact of the session, decoded through the registry.
    const topics = topicsFor(prefix);
    const codec = new AvroCodec(new ConfluentRegistry({ url: need().registryUrl }));
    const reader = codec.deserializer<SessionFact>('SessionFact');
    const decoded: SessionFact[] = [];
    await readTopics([topics.facts], async (messages) => {
      const m = messages.at(-1)!;
      if (m.key?.toString() !== key) return false;
      decoded.push(await reader.decode(m.value!));
      return decoded.at(-1)!.events === eventCount && decoded.at(-1)!.recording_files === 2;
    });
    const latest = decoded.at(-1)!;
    expect(latest).toMatchObject({
      session_key: key,
      provider: 'zoom',
      status: 'ended',
      ...session.expected,
      events: eventCount,
    });
    expect(latest.started_at).toBe(start - (start % 1_000_000));
  });
  it('takes a webhook of exactly the body limit through Kafka (raw topics allow it) and refuses one byte more', async () => {
    const prefix = randomPrefix();
    const dataDir = fleet.dataDir();
    const service = await fleet.start('run', dataDir, kafkaEnv(prefix, { KAFKA_ACK_TIMEOUT_MS: '2000' }));
    const limit = 1024 * 1024; // BODY_LIMIT_BYTES' default
    const session = plannedZoomSession(nowMicros() - 3600e6);
    const started = JSON.parse(session.deliveries[0]!.body) as Record<string, unknown>;
    const padTo = (size: number) => {
      const base = JSON.stringify({ ...started, padding: '' });
      return JSON.stringify({ ...started, padding: 'x'.repeat(size - base.length) });
    };
    const atLimit = padTo(limit);
    expect(Buffer.byteLength(atLimit)).toBe(limit);
    const response = await post(service.url, { event: 'session.started', body: atLimit });
    expect(response.status).toBe(200);
    const { ingest_id } = (await response.json()) as { ingest_id: string };
    expect((await post(service.url, { event: 'session.started', body: padTo(limit + 1) })).status).toBe(413);

    const row = await waitFor(
      async () =>
        (
          await query(dataDir, `select octet_length(body) as size from raw_webhooks where ingest_id = '${ingest_id}'`, {
            restricted: true,
          })
        )[0],
      30_000,
      'the delivery at the limit in raw_webhooks',
      () => fleet.output(),
    );
    expect(row.size).toBe(limit);
    // It went through Kafka, not the spool.
    expect(
      existsSync(join(dataDir, 'spool', 'spool.log')) ? statSync(join(dataDir, 'spool', 'spool.log')).size : 0,
    ).toBe(0);
    const [event] = await query(dataDir, `select type from session_events where ingest_id = '${ingest_id}'`);
    expect(event).toEqual({ type: 'session.started' });
  });

  it('sessionflow erase goes through the erasures topic to the warehouse writer, and says what Kafka keeps; raw topics get retention.ms', async () => {
    const prefix = randomPrefix();
    const dataDir = fleet.dataDir();
    const env = kafkaEnv(prefix, { RAW_RETENTION_DAYS: '7' });
    const service = await fleet.start('run', dataDir, env);
    const session = plannedZoomSession(nowMicros() - 3 * 3600e6);
    const email = 'erase.kafka@example.eu';
    // The app keys one guest by their e-mail (Video SDK apps set user_key themselves).
    const deliveries = session.deliveries.map((d) => ({
      ...d,
      body: d.body.replaceAll('"user_key":"cust-301"', `"user_key":"${email}"`),
    }));
    expect(deliveries.filter((d) => d.body.includes(email)).length).toBe(4);
    for (const delivery of deliveries) expect((await post(service.url, delivery)).status).toBe(200);
    const key = `zoom:${session.sessionId}`;
    await waitFor(
      async () =>
        (
          await query(
            dataDir,
            `select * from session_facts where session_key = '${key}' and participants = 3 and recording_files = 2`,
          )
        )[0],
      30_000,
      'the fact',
      () => fleet.output(),
    );
    await waitFor(
      async () => {
        const [row] = await query(dataDir, 'select count(*) as n from raw_webhooks', { restricted: true });
        return row!.n === deliveries.length ? row : undefined;
      },
      30_000,
      'every delivery archived',
      () => fleet.output(),
    );

    const erase = await runCli(['erase', '--email', email], { ...env, DATA_DIR: dataDir }, dataDir, 60_000);
    expect(erase.code, erase.stdout + erase.stderr).toBe(0);
    expect(erase.stderr).toContain('is on the erasures topic');
    expect(erase.stdout).toMatch(/deliveries removed from the raw archive\s+4\n/);
    expect(erase.stdout).toContain(
      "not erased: Kafka's raw topics keep the deliveries until their retention.ms (RAW_RETENTION_DAYS=7)",
    );
    const [fact] = await query(dataDir, `select participants from session_facts where session_key = '${key}'`);
    expect(fact).toEqual({ participants: 2 });
    const raw = await query(dataDir, 'select body from raw_webhooks', { restricted: true });
    expect(raw).toHaveLength(deliveries.length - 4);
    expect(raw.some((r) => Buffer.from(r.body as Uint8Array).includes(email))).toBe(false);

    const admin = kafkaClient().admin();
    await admin.connect();
    try {
      const topics = topicsFor(prefix);
      const described = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: 2, name: topics.raw('zoom'), configNames: ['retention.ms', 'max.message.bytes'] }],
      });
      const entries = Object.fromEntries(
        described.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]),
      );
      expect(entries).toEqual({
        'retention.ms': String(7 * 86_400_000),
        'max.message.bytes': String(1024 * 1024 + 64 * 1024),
      });
    } finally {
      await admin.disconnect();
    }
  });
});
