/**
 * DESIGN §8 on a real broker, stages as separate processes: the warehouse writer is killed with
 * SIGKILL while batches flow and started again. Its offsets live in DuckDB with the rows they
 * account for, so it resumes exactly after its last commit: no event lost, none stored twice,
 * and every session's facts are those its events define.
 */
import { expect, it } from 'vitest';
import { eventually } from '../helpers/service.js';
import { Fleet, cleanUpAfterEach, kafkaDescribe, kafkaEnv, metric, query, randomPrefix, waitFor } from './support.js';
import { acknowledged, eventsOf, interleaved, plannedSessions, sendTraffic } from './traffic.js';

kafkaDescribe('Kafka mode, warehouse crash', () => {
  const fleet = new Fleet();
  cleanUpAfterEach(fleet);

  // Its own waits add up to more than the suite's 60 s (a consumer group hands the partitions over in seconds).
  it('the warehouse process killed with SIGKILL mid-batch and restarted: no event lost, none counted twice', {
    timeout: 150_000,
  }, async () => {
    const prefix = randomPrefix();
    const env = kafkaEnv(prefix, { KAFKA_ACK_TIMEOUT_MS: '500' });
    const warehouseDir = fleet.dataDir('sessionflow-kafka-warehouse-');
    const ingest = await fleet.start('ingest', fleet.dataDir('sessionflow-kafka-ingest-'), env);
    await fleet.start('process', fleet.dataDir('sessionflow-kafka-process-'), env);
    let warehouse = await fleet.start('warehouse', warehouseDir, env);

    const sessions = plannedSessions(60);
    const traffic = sendTraffic(ingest.url, interleaved(sessions), { concurrency: 4, pauseMs: 15 });

    // Kill the writer once batches have been landing for a while (facts and 100+ events in the
    // dataset) and deliveries are still arriving, so it dies in the middle of the flow.
    const before = await waitFor(
      async () => {
        const [row] = await query(
          warehouseDir,
          `select (select count(*) from session_facts) as facts, (select count(*) from session_events) as events`,
        );
        return Number(row!.facts) > 0 && Number(row!.events) >= 100 ? row : undefined;
      },
      30_000,
      'the first facts',
      () => fleet.output(),
      200,
    );
    const postedBeforeKill = traffic.sent.length;
    await warehouse.kill9();
    const killedAt = Date.now();
    const total = sessions.reduce((sum, s) => sum + s.deliveries.reduce((n, d) => n + eventsOf(d), 0), 0);
    expect(Number(before.events)).toBeLessThan(total / 2); // killed in the middle of the flow, far from done
    warehouse = await fleet.start('warehouse', warehouseDir, env);
    await traffic.done;

    const acked = acknowledged(traffic.sent);
    expect(acked).toHaveLength(traffic.sent.length);
    const expectedEvents = acked.reduce((sum, s) => sum + eventsOf(s.delivery), 0);
    const counts = await waitFor(
      async () => {
        const [row] = await query(
          warehouseDir,
          `select (select count(*) from session_events) as events, (select count(*) from raw_webhooks) as raw`,
          { restricted: true },
        );
        return row!.events === expectedEvents && row!.raw === acked.length ? row : undefined;
      },
      45_000,
      `${expectedEvents} events and ${acked.length} raw webhooks`,
      () => fleet.output(),
      250,
    );
    const resumedMs = Date.now() - killedAt;

    // Exactly the distinct events, one archive row per delivery.
    const [events] = await query(
      warehouseDir,
      `select count(*) as n, count(distinct event_id) as ids from session_events`,
    );
    expect(events).toEqual({ n: expectedEvents, ids: expectedEvents });
    const raw = await query(warehouseDir, `select ingest_id, count(*) as n from raw_webhooks group by ingest_id`, {
      restricted: true,
    });
    expect(raw.filter((r) => r.n !== 1)).toEqual([]);
    expect(new Set(raw.map((r) => r.ingest_id))).toEqual(new Set(acked.map((s) => s.ingestId)));
    const perDelivery = await query(
      warehouseDir,
      `select ingest_id, count(*) as n from session_events group by ingest_id`,
    );
    expect(Object.fromEntries(perDelivery.map((r) => [r.ingest_id, r.n]))).toEqual(
      Object.fromEntries(acked.map((s) => [s.ingestId, eventsOf(s.delivery)])),
    );

    // Every session's fact is the planned one (the facts may trail the events by an export).
    const complete = sessions.filter(
      (session) => acked.filter((s) => s.session === session).length === session.deliveries.length,
    );
    expect(complete).toHaveLength(sessions.length);
    const facts = await eventually(
      async () => {
        const rows = await query(
          warehouseDir,
          `select * from session_facts where events = ${sessions[0]!.expected.events} and recording_files = 2`,
        );
        return rows.length === sessions.length ? rows : undefined;
      },
      20_000,
      'every session complete in session_facts',
    );
    const byKey = new Map(facts.map((f) => [f.session_key, f]));
    for (const session of sessions) {
      expect(byKey.get(`zoom:${session.sessionId}`)).toMatchObject({
        provider: 'zoom',
        status: 'ended',
        ...session.expected,
      });
    }
    const duplicates = await metric(warehouse.url, 'sessionflow_warehouse_duplicate_events_total');
    console.log(
      `[warehouse crash] ${acked.length} deliveries of ${sessions.length} sessions; killed with ${before.events} events and ${before.facts} facts in the dataset ` +
        `(${postedBeforeKill} deliveries posted by then); after the restart ${counts.events} events (${expectedEvents} expected, ${events!.ids} distinct), ` +
        `${counts.raw} raw webhooks, complete ${(resumedMs / 1000).toFixed(1)} s after the kill; duplicates collapsed by the new writer: ${duplicates}`,
    );
  });
});
