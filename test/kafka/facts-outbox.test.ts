/**
 * facts.v1 from the outbox on a real broker: facts.v1 is gone while the warehouse commits (every
 * facts publish is refused), then the process is killed with SIGKILL. The restarted process
 * publishes from its outbox the latest fact of every session, and the outbox ends empty.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { SessionFact } from '../../lib/canonical.js';
import { AvroCodec } from '../../lib/avro.js';
import { openDuckDB } from '../../lib/duckdb.js';
import { queryRows } from '../helpers/data.js';
import { ConfluentRegistry } from '../../lib/registry/confluent.js';
import { topicsFor } from '../../lib/topics.js';
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
  waitFor,
} from './support.js';
import { eventsOf, interleaved, plannedSessions } from './traffic.js';

kafkaDescribe('Kafka mode, facts.v1 from the outbox', () => {
  const fleet = new Fleet();
  cleanUpAfterEach(fleet);

  it('facts the broker refused before a SIGKILL are published by the next start: the latest of every session, the outbox empty', {
    timeout: 180_000,
  }, async () => {
    const prefix = randomPrefix();
    const topics = topicsFor(prefix);
    const env = kafkaEnv(prefix);
    const dataDir = fleet.dataDir('sessionflow-kafka-outbox-');
    let service = await fleet.start('run', dataDir, env);

    const admin = kafkaClient().admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topics.facts], timeout: 10_000 });
    await waitFor(
      async () => (!(await admin.listTopics()).includes(topics.facts) ? true : undefined),
      20_000,
      'facts.v1 deleted',
    );

    const sessions = plannedSessions(20);
    const deliveries = interleaved(sessions);
    for (const { delivery } of deliveries) expect((await post(service.url, delivery)).status).toBe(200);
    const events = deliveries.reduce((sum, d) => sum + eventsOf(d.delivery), 0);
    await waitFor(
      async () =>
        (
          await query(dataDir, `select count(*) as n from session_facts where events = ${sessions[0]!.expected.events}`)
        )[0]!.n === sessions.length
          ? true
          : undefined,
      60_000,
      `${events} events folded`,
      () => fleet.output(),
      250,
    );
    // The facts were committed, and their publish refused: the broker has no facts.v1.
    const refused = service
      .output()
      .split('\n')
      .filter(
        (l) =>
          l.includes('"msg":"publish failed; the log is unavailable, retrying"') &&
          l.includes(`"topic":"${topics.facts}"`),
      );
    expect(refused.length, fleet.output()).toBeGreaterThan(0);
    expect((await admin.listTopics()).includes(topics.facts)).toBe(false);
    await service.kill9();
    await admin.disconnect();

    service = await fleet.start('run', dataDir, env); // creates facts.v1 again
    const registry = new ConfluentRegistry({ url: need().registryUrl, clientId: 'sessionflow-e2e' });
    const reader = new AvroCodec(registry).deserializer<SessionFact>('SessionFact');
    const latest = new Map<string, SessionFact>();
    await readTopics(
      [topics.facts],
      async (messages) => {
        for (const m of messages.splice(0)) {
          const fact = await reader.decode(m.value!);
          latest.set(fact.session_key, fact);
        }
        return [...latest.values()].filter((f) => f.events === sessions[0]!.expected.events).length === sessions.length;
      },
      60_000,
    );
    for (const session of sessions)
      expect(latest.get(`zoom:${session.sessionId}`)).toMatchObject({ status: 'ended', ...session.expected });
    await registry.close();

    expect(await service.stop()).toBe(0);
    const db = await openDuckDB(join(dataDir, 'warehouse.duckdb'));
    const conn = await db.connect();
    try {
      expect(await queryRows(conn, 'SELECT count(*)::INT AS n FROM facts_outbox')).toEqual([{ n: 0 }]);
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });
});
