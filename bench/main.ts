/**
 * `npm run bench`: sessionflow measured as it is run. The product is started as a user starts it
 * (`sessionflow run`, production mode, its own process; on Kafka also the stages as separate
 * processes), the load comes from a load generator process sending real, signed provider
 * deliveries, and results are read back from the Parquet dataset. Baselines run in the same run
 * on the same machine. Knobs: bench/settings.ts (README, "Performance"). The results go to
 * bench/results.md (BENCH_OUT) and stdout.
 */
import { writeFileSync } from 'node:fs';
import { breakdown } from './breakdown.js';
import { installCleanup } from './children.js';
import { renderResults, type Results } from './report.js';
import { kafka } from './kafka.js';
import { appender, dataDir, embedded, hello, seedWarehouse } from './scenarios.js';
import { readSettings, type Section } from './settings.js';

installCleanup();
const settings = readSettings();
const results: Results = { startedAt: new Date(), errors: [] };
const log = (text: string) => process.stderr.write(`bench: ${text}\n`);

// Every phase is bounded by its own timeouts; this bounds the whole run as well.
const maxMinutes = Number(process.env.BENCH_MAX_MINUTES ?? 180);
setTimeout(() => {
  log(`stopped after BENCH_MAX_MINUTES=${maxMinutes}`);
  write();
  process.exit(2);
}, maxMinutes * 60_000).unref();

function write(): void {
  writeFileSync(settings.out, `${renderResults(results, settings)}\n`);
}

async function section(name: Section, work: () => Promise<void>): Promise<void> {
  if (!settings.sections.has(name)) return;
  const started = performance.now();
  try {
    await work();
  } catch (err) {
    const message = `${name}: ${err instanceof Error ? err.message : String(err)}`;
    log(message);
    results.errors.push(message);
  }
  log(`${name} done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  write();
}

await section('baselines', async () => {
  log('baseline: Fastify hello-world route');
  results.hello = await hello(settings);
});

await section('embedded', async () => {
  const dir = dataDir('empty');
  try {
    results.empty = await embedded(settings, dir.path, 'embedded, empty warehouse');
  } finally {
    dir.remove();
  }
});

await section('baselines', async () => {
  const events = results.empty?.sustained.events || 100_000;
  log(`baseline: DuckDB Appender loop, ${events} event rows`);
  results.appender = await appender(settings, events);
});

await section('seeded', async () => {
  const dir = dataDir('seeded');
  try {
    log(`seeding ${settings.seedEvents} events in ${settings.seedSessions} sessions into ${dir.path}`);
    results.seed = await seedWarehouse(settings, dir.path);
    log(
      `seeded ${results.seed.events} events in ${results.seed.sessions} sessions in ${results.seed.seconds.toFixed(0)} s`,
    );
    results.seeded = await embedded(settings, dir.path, 'embedded, seeded warehouse');
  } finally {
    dir.remove();
  }
});

await section('kafka', async () => {
  if (!settings.kafka) {
    results.kafkaSkipped =
      'Not run: set KAFKA_BROKERS and SCHEMA_REGISTRY_URL (eval "$(npm run -s stack:up)") to measure the Kafka mode too.';
    return;
  }
  results.kafka = await kafka(settings);
});

await section('breakdown', async () => {
  log('breakdown: the ingest route alone');
  results.breakdown = await breakdown(settings);
});

write();
process.stdout.write(`${renderResults(results, settings)}\n`);
log(`results written to ${settings.out}`);
process.exit(results.errors.length > 0 ? 1 : 0);
