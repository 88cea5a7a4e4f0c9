/**
 * The product as it is run, and its baselines, each started as its own process:
 *   - embedded: `sessionflow run` on a DATA_DIR (fresh, or seeded by seed.ts);
 *   - Kafka (kafka.ts);
 *   - baselines: a Fastify hello-world route (hello.ts); a DuckDB Appender loop (appender.ts).
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppenderResult, AppenderSpec } from './appender.js';
import { distPath, onExit, runScript, startServer, type Server } from './children.js';
import { countFiles, FileSampler, openDataset, type FileCounts } from './dataset.js';
import type { LoadResult } from './load.js';
import { atRest, freshness, settle, sustained, type FreshnessResult, type SustainedResult } from './phases.js';
import type { SeedResult, SeedSpec } from './seed.js';
import { CREDENTIALS, PII_KEY, productEnv, productNodeArgs, type Settings } from './settings.js';

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

export function startProduct(
  command: Command,
  dir: string,
  extra: Record<string, string> = {},
  name: string = command,
): Promise<Server> {
  return startServer({
    name,
    args: [...productNodeArgs(name), distPath('bin/sessionflow.js'), command],
    env: productEnv(dir, extra),
    cwd: dir,
    startTimeoutMs: 120_000,
  });
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
    return {
      rest,
      sustained: sust,
      freshness: fresh,
      maxRssMiB: server.maxRssMiB(),
      filesDuring: Object.fromEntries(sampler.maxFiles),
      filesAfter,
    };
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
  const spec: AppenderSpec = {
    events: Math.max(1, events),
    credentials: CREDENTIALS,
    piiKey: PII_KEY,
    mix: settings.mix,
  };
  const stdout = await runScript([distPath('bench/appender.js'), JSON.stringify(spec)], { timeoutMs: 3600_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as AppenderResult;
}
