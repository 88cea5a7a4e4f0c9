/**
 * DESIGN §4 and §8 on a real broker: the broker stops for several seconds under webhook traffic.
 * The ingest keeps acknowledging (its fsync'd spool takes what Kafka does not acknowledge within
 * KAFKA_ACK_TIMEOUT_MS), the drainer republishes once the broker is back, and every acknowledged
 * delivery reaches the warehouse.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import {
  Fleet,
  ci,
  cleanUpAfterEach,
  kafkaDescribe,
  kafkaEnv,
  metric,
  need,
  query,
  randomPrefix,
  sleep,
  waitFor,
} from './support.js';
import { acknowledged, eventsOf, interleaved, plannedSessions, sendTraffic } from './traffic.js';

interface StackScript {
  status(): Promise<{ kafka: { running: boolean }; env: { KAFKA_BROKERS: string } }>;
  stopBroker(opts?: { kill?: boolean }): Promise<boolean>;
  restartBroker(): Promise<number>;
}
const stackScript = async () => (await import(new URL('../../scripts/stack.mjs', import.meta.url).href)) as StackScript;

/** Whether the broker the tests use is the local one scripts/stack.mjs can stop and start. */
async function brokerControllable(): Promise<string | undefined> {
  const s = await (await stackScript()).status();
  if (!s.kafka.running)
    return 'the broker is not the local stack of scripts/stack.mjs, which this test stops and restarts';
  if (!need().brokers.includes(s.env.KAFKA_BROKERS))
    return `the tests use ${need().brokers.join(',')}, not the local stack's ${s.env.KAFKA_BROKERS}`;
  return undefined;
}

/** How long the broker stays down; SESSIONFLOW_TEST_OUTAGE_MS=15000 outlasts the Kafka client's own retries of a publish in flight. */
const OUTAGE_MS = Number(process.env.SESSIONFLOW_TEST_OUTAGE_MS ?? 8_000);

kafkaDescribe('Kafka mode, broker outage', () => {
  const fleet = new Fleet();
  let brokerStopped = false;
  // Never leave the broker this test stopped down for the next test, whatever happened.
  cleanUpAfterEach(fleet, async () => {
    if (!brokerStopped) return;
    const script = await stackScript();
    if (!(await script.status()).kafka.running) await script.restartBroker().catch(() => undefined);
    brokerStopped = false;
  });

  it('the broker stopped for a while under traffic, then restarted: every acknowledged webhook reaches the warehouse', async (ctx) => {
    const why = await brokerControllable();
    if (why) {
      if (ci) throw new Error(why);
      ctx.skip(why);
    }
    const script = await stackScript();
    const prefix = randomPrefix();
    const dataDir = fleet.dataDir();
    const service = await fleet.start('run', dataDir, kafkaEnv(prefix, { KAFKA_ACK_TIMEOUT_MS: '500' }));

    const startAt = Date.now();
    const traffic = sendTraffic(service.url, interleaved(plannedSessions(150)), { concurrency: 4, pauseMs: 25 });
    await sleep(1_500);
    const downAt = Date.now();
    brokerStopped = true;
    await script.stopBroker();
    const stoppedMs = Date.now() - downAt;
    await sleep(OUTAGE_MS);
    const upAt = Date.now();
    await script.restartBroker();
    const backAt = Date.now();
    await sleep(2_000);
    traffic.stop();
    await traffic.done;
    const endAt = Date.now();

    const sent = traffic.sent;
    const acked = acknowledged(sent);
    const during = sent.filter((s) => s.at >= downAt && s.at < backAt);
    const refused = sent.filter((s) => !acked.includes(s));
    const unavailable = sent.filter((s) => s.status === 503).length;
    expect(service.proc.exitCode, `the service stopped during the outage:\n${fleet.output()}`).toBeNull();
    const spooled = await metric(service.url, 'sessionflow_ingest_spooled_total');
    const slowest = Math.max(...sent.map((s) => s.ms));
    console.log(
      `[broker outage] ${sent.length} distinct deliveries sent in ${((endAt - startAt) / 1000).toFixed(1)} s, ${acked.length} acknowledged, ` +
        `${refused.length} not (${unavailable} 503s; ${JSON.stringify(refused.slice(0, 3).map((r) => [r.status, r.error]))}); broker down ${((upAt - downAt) / 1000).toFixed(1)} s ` +
        `(stop took ${stoppedMs} ms, restart ${backAt - upAt} ms): ${during.length} posted while down or restarting, ${acknowledged(during).length} acknowledged; ` +
        `${spooled} spooled; slowest answer ${slowest} ms`,
    );
    expect(refused, `every delivery acknowledged while the spool can write\n${fleet.output()}`).toEqual([]);
    expect(acknowledged(during).length).toBeGreaterThan(20);
    expect(spooled).toBeGreaterThan(0);

    // The spool drains once the broker is back.
    const spoolFile = join(dataDir, 'spool', 'spool.log');
    await waitFor(
      async () => (existsSync(spoolFile) && statSync(spoolFile).size === 0 ? true : undefined),
      30_000,
      'the spool drained',
      () => fleet.output(),
      50,
    );
    const drainedMs = Date.now() - backAt;

    // Every acknowledged delivery: archived once, and all its events in session_events.
    const expectedEvents = new Map(acked.map((s) => [s.ingestId!, eventsOf(s.delivery)]));
    const totalEvents = [...expectedEvents.values()].reduce((a, b) => a + b, 0);
    const counts = await waitFor(
      async () => {
        const [row] = await query(
          dataDir,
          `select (select count(*) from raw_webhooks) as raw, (select count(*) from session_events) as events`,
          { restricted: true },
        );
        return row!.raw === acked.length && row!.events === totalEvents ? row : undefined;
      },
      45_000,
      `every acknowledged delivery in the warehouse (${acked.length} raw, ${totalEvents} events)`,
      () => fleet.output(),
      250,
    );
    const completeMs = Date.now() - backAt;
    const raw = await query(dataDir, `select ingest_id, count(*) as n from raw_webhooks group by ingest_id`, {
      restricted: true,
    });
    expect(raw.filter((r) => r.n !== 1)).toEqual([]);
    expect(new Set(raw.map((r) => r.ingest_id))).toEqual(new Set(expectedEvents.keys()));
    const events = await query(
      dataDir,
      `select ingest_id, count(*) as n, count(distinct event_id) as ids from session_events group by ingest_id`,
    );
    expect(Object.fromEntries(events.map((e) => [e.ingest_id, e.n]))).toEqual(Object.fromEntries(expectedEvents));
    expect(events.every((e) => e.ids === e.n)).toBe(true);
    const retried = service
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"publish failed; the log is unavailable, retrying"')).length;
    expect(service.proc.exitCode).toBeNull(); // the stages rode the outage out
    console.log(
      `[broker outage] ${retried} stage publishes retried through the outage; spool drained ${(drainedMs / 1000).toFixed(1)} s after the broker was back; warehouse complete (${counts.raw} raw, ${counts.events} events) after ${(completeMs / 1000).toFixed(1)} s`,
    );
  });
});
