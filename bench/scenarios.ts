/**
 * The product as it is run, and its baselines, each started as its own process:
 *   - embedded: `sessionflow run` on a DATA_DIR (fresh, or seeded by seed.ts);
 *   - Kafka: `run`; `ingest` + `process` + `warehouse`; two `ingest` + `process` + `warehouse`;
 *     the warehouse alone draining an events topic that ingest + process filled;
 *   - baselines: a Fastify hello-world route (hello.ts); a DuckDB Appender loop (appender.ts).
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { topicsFor } from '../lib/topics.js';
import type { AppenderResult, AppenderSpec } from './appender.js';
import { distPath, onExit, runScript, startServer, type Server } from './children.js';
import { countFiles, FileSampler, openDataset, waitForDeliveries, type FileCounts } from './dataset.js';
import type { LoadResult } from './load.js';
import { atRest, freshness, settle, sustained, type FreshnessResult, type SustainedResult } from './phases.js';
import type { SeedResult, SeedSpec } from './seed.js';
import { CREDENTIALS, PII_KEY, productEnv, type Settings } from './settings.js';

const log = (text: string) => process.stderr.write(`bench: ${text}\n`);

/** A fresh data folder, removed after use (and on exit), unless BENCH_KEEP=1. */
export function dataDir(label: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `sessionflow-bench-${label}-`));
  const remove = () => (process.env.BENCH_KEEP === '1' ? undefined : rmSync(path, { recursive: true, force: true }));
  const forget = onExit(remove);
  return {
    path,
    remove: () => {
      forget();
      remove();
    },
  };
}

type Command = 'run' | 'ingest' | 'process' | 'warehouse';

function startProduct(command: Command, dir: string, extra: Record<string, string> = {}, name: string = command): Promise<Server> {
  return startServer({ name, args: [distPath('bin/sessionflow.js'), command], env: productEnv(dir, extra), cwd: dir, startTimeoutMs: 120_000 });
}

export interface EmbeddedResult {
  rest: LoadResult;
  sustained: SustainedResult;
  freshness: FreshnessResult;
  maxRssMiB: number;
  /** Most files one partition had, per table, sampled every second during the runs. */
  filesDuring: Record<string, number>;
  filesAfter: FileCounts;
}

/** `sessionflow run` on `dir`: latency at rest, then the sustained rate, then freshness at a fixed rate. */
export async function embedded(settings: Settings, dir: string, label: string): Promise<EmbeddedResult> {
  log(`${label}: starting sessionflow run on ${dir}`);
  const server = await startProduct('run', dir);
  const dataset = await openDataset(dir);
  const sampler = new FileSampler(dir);
  sampler.start();
  try {
    log(`${label}: latency at rest (${settings.restCount} deliveries, one at a time)`);
    const rest = await atRest(settings, [server.url]);
    await settle();
    log(`${label}: sustained rate (${settings.seconds} s, ${settings.connections} connections)`);
    const sust = await sustained(settings, [server.url], dataset, label);
    await settle();
    log(`${label}: freshness (${settings.rate}/s for ${settings.freshSeconds} s)`);
    const fresh = await freshness(settings, [server.url], dataset);
    sampler.stop();
    await sampler.sample();
    const filesAfter = await countFiles(dir);
    return { rest, sustained: sust, freshness: fresh, maxRssMiB: server.maxRssMiB(), filesDuring: Object.fromEntries(sampler.maxFiles), filesAfter };
  } finally {
    sampler.stop();
    await dataset.close();
    await server.stop();
  }
}

/**
 * Seeds `dir` with settings.seed* (seed.ts, in a process of its own). With BENCH_SEED_CACHE set,
 * the seeded DATA_DIR is kept there (with the spec it was made from) and copied into `dir` on the
 * next runs with the same spec, since the run on it changes it.
 */
export async function seedWarehouse(settings: Settings, dir: string): Promise<SeedResult & { cached: boolean }> {
  const spec: SeedSpec = {
    dataDir: dir,
    events: settings.seedEvents,
    sessions: settings.seedSessions,
    days: settings.seedDays,
    batchEvents: settings.seedBatch,
    raw: settings.seedRaw,
    credentials: CREDENTIALS,
    piiKey: PII_KEY,
  };
  const cache = process.env.BENCH_SEED_CACHE;
  if (!cache) return { ...(await runSeed(spec)), cached: false };
  const key = JSON.stringify({ ...spec, dataDir: undefined });
  const marker = join(cache, 'bench-seed.json');
  const data = join(cache, 'data');
  if (existsSync(marker)) {
    const stored = JSON.parse(readFileSync(marker, 'utf8')) as { key: string; result: SeedResult };
    if (stored.key === key) {
      log(`seed: copying the cached warehouse of ${cache}`);
      cpSync(data, dir, { recursive: true });
      return { ...stored.result, cached: true };
    }
  }
  rmSync(cache, { recursive: true, force: true });
  mkdirSync(data, { recursive: true });
  const result = await runSeed({ ...spec, dataDir: data });
  writeFileSync(marker, JSON.stringify({ key, result }));
  cpSync(data, dir, { recursive: true });
  return { ...result, cached: false };
}

async function runSeed(spec: SeedSpec): Promise<SeedResult> {
  let lastLine = '';
  const stdout = await runScript([distPath('bench/seed.js'), JSON.stringify(spec)], {
    timeoutMs: 4 * 3600_000,
    onStderr: (text) => {
      lastLine = text.trim().split('\n').at(-1) ?? lastLine;
      if (process.stderr.isTTY) process.stderr.write(`\r${lastLine.slice(0, 120)}`);
    },
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as SeedResult;
}

export interface HelloResult {
  rest: LoadResult;
  sustained: LoadResult;
  maxRssMiB: number;
}

export async function hello(settings: Settings): Promise<HelloResult> {
  const server = await startServer({
    name: 'hello',
    args: [distPath('bench/hello.js')],
    env: { NODE_ENV: 'production' },
    cwd: tmpdir(),
    parseUrl: (line) => (line.includes('"hello is running"') ? (JSON.parse(line) as { url: string }).url : undefined),
  });
  try {
    const rest = await atRest(settings, [server.url]);
    const sust = await sustained(settings, [server.url], undefined);
    return { rest, sustained: sust.load, maxRssMiB: server.maxRssMiB() };
  } finally {
    await server.stop();
  }
}

export async function appender(settings: Settings, events: number): Promise<AppenderResult> {
  const spec: AppenderSpec = { events: Math.max(1, events), credentials: CREDENTIALS, piiKey: PII_KEY, mix: settings.mix };
  const stdout = await runScript([distPath('bench/appender.js'), JSON.stringify(spec)], { timeoutMs: 3600_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as AppenderResult;
}

export interface KafkaVariant {
  name: string;
  sustained: SustainedResult;
  /** Max RSS per process, MiB. */
  rss: Record<string, number>;
}

export interface WarehouseAlone {
  events: number;
  /** From the process saying it runs to the last event in Parquet; and the process start before that. */
  seconds: number;
  startSeconds: number;
  eventsPerSecond: number;
  complete: boolean;
  maxRssMiB: number;
}

export interface KafkaResult {
  variants: KafkaVariant[];
  warehouseAlone: WarehouseAlone | undefined;
}

const stamp = () => `bench${Date.now().toString(36)}`;

/** The Kafka variants, each on topics of its own (a unique TOPIC_PREFIX). */
export async function kafka(settings: Settings): Promise<KafkaResult> {
  const k = settings.kafka!;
  const variants: KafkaVariant[] = [];
  const layouts: Array<{ name: string; ingests: number; split: boolean }> = [
    { name: 'run (one process)', ingests: 0, split: false },
    { name: 'ingest + process + warehouse', ingests: 1, split: true },
    { name: '2 × ingest + process + warehouse', ingests: 2, split: true },
  ];
  for (const layout of layouts) {
    const prefix = `${stamp()}.`;
    const env = { KAFKA_BROKERS: k.brokers, SCHEMA_REGISTRY_URL: k.registryUrl, TOPIC_PREFIX: prefix };
    const dirs: Array<{ remove(): void }> = [];
    const servers: Server[] = [];
    const dirFor = (label: string) => {
      const d = dataDir(`kafka-${label}`);
      dirs.push(d);
      return d.path;
    };
    try {
      log(`Kafka ${layout.name}: starting (TOPIC_PREFIX=${prefix})`);
      let warehouseDir: string;
      let urls: string[];
      if (!layout.split) {
        warehouseDir = dirFor('run');
        const run = await startProduct('run', warehouseDir, env);
        servers.push(run);
        urls = [run.url];
      } else {
        const ingests: Server[] = [];
        for (let i = 0; i < layout.ingests; i++) ingests.push(await startProduct('ingest', dirFor(`ingest${i}`), env, `ingest${layout.ingests > 1 ? i + 1 : ''}`));
        servers.push(...ingests, await startProduct('process', dirFor('process'), env));
        warehouseDir = dirFor('warehouse');
        servers.push(await startProduct('warehouse', warehouseDir, env));
        urls = ingests.map((s) => s.url);
      }
      // Consumer groups take a few seconds to be assigned their partitions.
      await settle(5000);
      const dataset = await openDataset(warehouseDir);
      try {
        log(`Kafka ${layout.name}: sustained rate (${settings.seconds} s)`);
        const sust = await sustained(settings, urls, dataset, `Kafka ${layout.name}`);
        variants.push({ name: layout.name, sustained: sust, rss: Object.fromEntries(servers.map((s) => [s.name, s.maxRssMiB()])) });
      } finally {
        await dataset.close();
      }
    } finally {
      for (const s of servers.reverse()) await s.stop();
      for (const d of dirs) d.remove();
    }
  }
  return { variants, warehouseAlone: await warehouseAlone(settings) };
}

/** ingest + process fill events.v1 under full load; then a warehouse starts and drains it: its events/s. */
async function warehouseAlone(settings: Settings): Promise<WarehouseAlone | undefined> {
  const k = settings.kafka!;
  const prefix = `${stamp()}.`;
  const env = { KAFKA_BROKERS: k.brokers, SCHEMA_REGISTRY_URL: k.registryUrl, TOPIC_PREFIX: prefix };
  const dirs = [dataDir('kafka-wi'), dataDir('kafka-wp'), dataDir('kafka-ww')];
  const servers: Server[] = [];
  const admin = new Kafka({ clientId: 'sessionflow-bench', brokers: k.brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    log('Kafka warehouse alone: filling events.v1 with ingest + process');
    const ingest = await startProduct('ingest', dirs[0]!.path, env);
    servers.push(ingest, await startProduct('process', dirs[1]!.path, env));
    await settle(5000);
    await sustained(settings, [ingest.url], undefined);
    const topic = topicsFor(prefix).events;
    const total = async () => (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
    // normalize is done when events.v1 stops growing.
    let last = -1;
    let stable = 0;
    const deadline = performance.now() + settings.drainTimeoutSeconds * 1000;
    while (stable < 3 && performance.now() < deadline) {
      await settle(1000);
      const now = await total();
      stable = now === last && now > 0 ? stable + 1 : 0;
      last = now;
    }
    for (const s of servers.splice(0).reverse()) await s.stop();
    log(`Kafka warehouse alone: ${last} events in ${topic}; starting the warehouse`);
    const spawned = performance.now();
    const warehouse = await startProduct('warehouse', dirs[2]!.path, env);
    servers.push(warehouse);
    // From its "sessionflow is running" line: the consumer group's assignment is counted, the process start is not.
    const started = performance.now();
    const dataset = await openDataset(dirs[2]!.path);
    try {
      const stored = await waitForDeliveries(dataset, 0, last, settings.drainTimeoutSeconds * 1000, 100, 'events');
      const seconds = (stored.at - started) / 1000;
      return { events: stored.events, seconds, startSeconds: (started - spawned) / 1000, eventsPerSecond: stored.events / seconds, complete: stored.complete, maxRssMiB: warehouse.maxRssMiB() };
    } finally {
      await dataset.close();
    }
  } finally {
    await admin.disconnect();
    for (const s of servers.reverse()) await s.stop();
    for (const d of dirs) d.remove();
  }
}
