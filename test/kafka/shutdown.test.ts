/**
 * SIGTERM under a backlog on a real broker: `run` (all stages in one process) and the stages as
 * their own processes (`ingest`, `process`, `warehouse`) finish the batch in hand, not the
 * backlog, commit and exit 0 within 10 s; restarted on the same DATA_DIR they store every
 * acknowledged delivery exactly once.
 */
import { expect, it } from 'vitest';
import { backlogDeliveries, expectStoredOnce, postBacklog, storedCounts } from '../helpers/backlog.js';
import type { Service } from '../helpers/service.js';
import { Fleet, SECRET, cleanUpAfterEach, kafkaDescribe, kafkaEnv, randomPrefix, waitFor } from './support.js';

/** SIGTERM, then the exit code and how long it took (`hung` after 30 s). */
async function terminate(service: Service): Promise<{ code: number | null | 'hung'; ms: number }> {
  const at = Date.now();
  const code = await Promise.race([
    service.stop(),
    new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 30_000)),
  ]);
  return { code, ms: Date.now() - at };
}

/** The shutdown steps a process logged, with how long each took. */
const steps = (service: Service) =>
  service
    .output()
    .split('\n')
    .filter((l) => l.includes('"shutdown step done"'))
    .map((l) => JSON.parse(l) as { step: string; ms: number })
    .map((s) => `${s.step} ${s.ms} ms`)
    .join(', ');

const shutdownLines = (service: Service) =>
  service
    .output()
    .split('\n')
    .filter((l) => /draining|shutdown|stopped|failed|error/i.test(l) && !l.includes('"request completed"'))
    .slice(-20)
    .join('\n');

kafkaDescribe('Kafka mode, SIGTERM under a backlog', () => {
  const fleet = new Fleet();
  cleanUpAfterEach(fleet);

  it('`run` exits 0 within 10 s with the warehouse far behind; the restart stores every acknowledged delivery once', {
    timeout: 240_000,
  }, async () => {
    const env = kafkaEnv(randomPrefix(), { KAFKA_ACK_TIMEOUT_MS: '2000' });
    const dataDir = fleet.dataDir('sessionflow-kafka-shutdown-');
    // The backlog: every delivery of 1,000 sessions (18,000) acknowledged by an ingest alone, before
    // `run` starts: more than it can store between joining the consumer group and the SIGTERM.
    const ingest = await fleet.start('ingest', fleet.dataDir('sessionflow-kafka-shutdown-ingest-'), env);
    const backlog = postBacklog(ingest.url, SECRET, backlogDeliveries(1000), 32);
    await backlog.done;
    expect((await terminate(ingest)).code).toBe(0);
    const acked = backlog.acked();
    const service = await fleet.start('run', dataDir, env);
    const behind = await storedCounts(dataDir).catch(() => ({ raw: 0 }));
    const { code, ms } = await terminate(service);
    console.log(
      `[shutdown kafka run] SIGTERM with ${acked.length} acknowledged and ${behind.raw} in the dataset; exit ${String(code)} after ${ms} ms`,
    );
    console.log(`[shutdown kafka run] steps: ${steps(service)}`);
    expect(acked.length - behind.raw).toBeGreaterThanOrEqual(300); // the warehouse was far behind
    expect(code, shutdownLines(service)).toBe(0);
    expect(ms).toBeLessThan(10_000);

    const again = await fleet.start('run', dataDir, env);
    const restartedAt = Date.now();
    const result = await expectStoredOnce(dataDir, acked, 120_000, () => fleet.output());
    console.log(
      `[shutdown kafka run] after the restart: ${acked.length} acknowledged, ${result.stored} stored, ${result.lost} lost, ${result.duplicated} duplicated, ${result.extra} stored but not acknowledged; caught up in ${((Date.now() - restartedAt) / 1000).toFixed(1)} s`,
    );
    expect(again.proc.exitCode).toBeNull();
  });

  it('`ingest`, `process` and `warehouse` each exit 0 within 10 s of SIGTERM under a backlog; restarted, they store every acknowledged delivery once', {
    timeout: 240_000,
  }, async () => {
    const env = kafkaEnv(randomPrefix(), { KAFKA_ACK_TIMEOUT_MS: '2000' });
    const dirs = {
      ingest: fleet.dataDir('sessionflow-kafka-ingest-'),
      process: fleet.dataDir('sessionflow-kafka-process-'),
      warehouse: fleet.dataDir('sessionflow-kafka-warehouse-'),
    };
    // The backlog: deliveries acknowledged and normalized while no warehouse runs; it starts on all of them, and more arrive.
    const [ingest, processor] = await Promise.all([
      fleet.start('ingest', dirs.ingest, env),
      fleet.start('process', dirs.process, env),
    ]);
    // Large enough that the warehouse's first batches (up to 5,000 records each) leave it far behind at the SIGTERM.
    const backlog = postBacklog(ingest.url, SECRET, backlogDeliveries(600), 32);
    await waitFor(
      async () => (backlog.acked().length >= 8000 || backlog.posted.length >= 11_000 ? true : undefined),
      120_000,
      '8000 acknowledged deliveries',
      () => fleet.output(),
      50,
    );
    const warehouse = await fleet.start('warehouse', dirs.warehouse, env);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const ackedAtTerm = backlog.acked().length;
    const behind = await storedCounts(dirs.warehouse).catch(() => ({ raw: 0 }));
    const exits = await Promise.all([terminate(ingest), terminate(processor), terminate(warehouse)]);
    backlog.stop();
    await backlog.done;
    const acked = backlog.acked();
    console.log(
      `[shutdown kafka stages] SIGTERM with ${ackedAtTerm} acknowledged and ${behind.raw} in the dataset; exits ${exits.map((e, i) => `${['ingest', 'process', 'warehouse'][i]} ${String(e.code)} after ${e.ms} ms`).join(', ')}; ${acked.length} acknowledged in all`,
    );
    console.log(`[shutdown kafka stages] warehouse steps: ${steps(warehouse)}`);
    expect(ackedAtTerm - behind.raw).toBeGreaterThanOrEqual(300); // the warehouse was far behind
    for (const [i, service] of [ingest, processor, warehouse].entries()) {
      expect(exits[i]!.code, shutdownLines(service)).toBe(0);
      expect(exits[i]!.ms).toBeLessThan(10_000);
    }

    await Promise.all([
      fleet.start('ingest', dirs.ingest, env),
      fleet.start('process', dirs.process, env),
      fleet.start('warehouse', dirs.warehouse, env),
    ]);
    const restartedAt = Date.now();
    const result = await expectStoredOnce(dirs.warehouse, acked, 120_000, () => fleet.output());
    console.log(
      `[shutdown kafka stages] after the restart: ${acked.length} acknowledged, ${result.stored} stored, ${result.lost} lost, ${result.duplicated} duplicated, ${result.extra} stored but not acknowledged; caught up in ${((Date.now() - restartedAt) / 1000).toFixed(1)} s`,
    );
  });
});
