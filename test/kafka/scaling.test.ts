/**
 * DESIGN §2 on a real broker: normalize workers in a consumer group. Two `sessionflow process`
 * instances share the raw topics' partitions (seen from the broker with kafkajs' admin), both do
 * work, and when one stops (SIGTERM, mid-traffic) the other takes its partitions and everything
 * still arrives.
 */
import { AssignerProtocol } from 'kafkajs';
import { expect, it } from 'vitest';
import { topicsFor } from '../../lib/topics.js';
import {
  Fleet,
  cleanUpAfterEach,
  kafkaClient,
  kafkaDescribe,
  kafkaEnv,
  metric,
  query,
  randomPrefix,
  sleep,
  waitFor,
} from './support.js';
import { acknowledged, interleaved, plannedSessions, sendTraffic } from './traffic.js';
import { plannedZoomSession } from '../../ingest/demo/zoom.js';

/** The canonical events of one complete demo session. */
const ZOOM_EVENTS = plannedZoomSession(0).expected.events;

const PARTITIONS = 4;
const SESSIONS = 16; // per round

kafkaDescribe('Kafka mode, normalize scaled out', () => {
  const fleet = new Fleet();
  cleanUpAfterEach(fleet);

  it('two process instances share the partitions', async () => {
    const prefix = randomPrefix();
    const topics = topicsFor(prefix);
    const group = topics.group('normalize'); // `sessionflow-normalize` under the default prefix
    const env = kafkaEnv(prefix, { TOPIC_PARTITIONS: String(PARTITIONS) });
    const warehouseDir = fleet.dataDir('sessionflow-kafka-warehouse-');
    // All four at once, as replicas come up: each creates the topics it needs, whoever is first.
    const [ingest, , one, two] = await Promise.all([
      fleet.start('ingest', fleet.dataDir('sessionflow-kafka-ingest-'), env),
      fleet.start('warehouse', warehouseDir, env),
      fleet.start('process', fleet.dataDir('sessionflow-kafka-process-'), env),
      fleet.start('process', fleet.dataDir('sessionflow-kafka-process-'), env),
    ]);
    const admin = kafkaClient().admin();
    await admin.connect();
    try {
      /** The group's members and the raw partitions each is assigned, once the group is stable. */
      const assignments = async () => {
        const { groups } = await admin.describeGroups([group]);
        const g = groups[0]!;
        if (g.state !== 'Stable') return undefined;
        return g.members.map((m) => {
          const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment ?? {};
          return Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}:${p}`));
        });
      };
      const allRaw = topics.allRaw
        .flatMap((topic) => Array.from({ length: PARTITIONS }, (_, p) => `${topic}:${p}`))
        .sort();
      const shared = await waitFor(
        async () => {
          const members = await assignments();
          return members?.length === 2 && members.every((m) => m.length > 0) && members.flat().length === allRaw.length
            ? members
            : undefined;
        },
        30_000,
        `two members of ${group} sharing the raw partitions`,
        () => fleet.output(),
        200,
      );
      expect(shared.flat().sort()).toEqual(allRaw);
      // Both have Zoom partitions to read.
      for (const member of shared) expect(member.some((tp) => tp.startsWith(topics.raw('zoom')))).toBe(true);

      const complete = async (count: number) =>
        waitFor(
          async () => {
            const [row] = await query(
              warehouseDir,
              `select count(*) as n from session_facts where events = ${ZOOM_EVENTS} and recording_files = 2 and status = 'ended'`,
            );
            return row!.n === count ? row : undefined;
          },
          30_000,
          `${count} complete sessions in session_facts`,
          () => fleet.output(),
          250,
        );

      const first = plannedSessions(SESSIONS);
      const traffic1 = sendTraffic(ingest.url, interleaved(first), { concurrency: 4 });
      await traffic1.done;
      expect(acknowledged(traffic1.sent)).toHaveLength(traffic1.sent.length);
      await complete(first.length);
      const [byOne, byTwo] = [
        await metric(one.url, 'sessionflow_normalize_records_total'),
        await metric(two.url, 'sessionflow_normalize_records_total'),
      ];
      expect(byOne).toBeGreaterThan(0);
      expect(byTwo).toBeGreaterThan(0);
      expect(byOne + byTwo).toBeGreaterThanOrEqual(traffic1.sent.length);

      // One instance stops while deliveries arrive; the other takes all the partitions.
      const second = plannedSessions(SESSIONS);
      const traffic2 = sendTraffic(ingest.url, interleaved(second), { concurrency: 4, pauseMs: 10 });
      await sleep(1_000);
      const stoppedAt = Date.now();
      expect(await two.stop()).toBe(0);
      const alone = await waitFor(
        async () => {
          const members = await assignments();
          return members?.length === 1 && members[0]!.length === allRaw.length ? members[0] : undefined;
        },
        30_000,
        'one member with every raw partition',
        () => fleet.output(),
        200,
      );
      const handoverMs = Date.now() - stoppedAt;
      expect(alone.sort()).toEqual(allRaw);
      await traffic2.done;
      expect(acknowledged(traffic2.sent)).toHaveLength(traffic2.sent.length);
      await complete(first.length + second.length);
      const [events] = await query(
        warehouseDir,
        `select count(*) as n, count(distinct event_id) as ids from session_events`,
      );
      expect(events).toEqual({ n: 2 * SESSIONS * ZOOM_EVENTS, ids: 2 * SESSIONS * ZOOM_EVENTS });
      const byOneAfter = await metric(one.url, 'sessionflow_normalize_records_total');
      console.log(
        `[scaling] ${group}: two members, ${shared.map((m) => m.length).join(' + ')} raw partitions; first ${traffic1.sent.length} deliveries normalized ${byOne} + ${byTwo}; ` +
          `one stopped mid-traffic, the other had all ${alone.length} partitions ${handoverMs} ms later and normalized ${byOneAfter - byOne} more; ${events!.n} events in all`,
      );
    } finally {
      await admin.disconnect();
    }
  });
});
