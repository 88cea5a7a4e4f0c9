/**
 * The benchmark's knobs, from the environment (full lengths by default), and the credentials the
 * product and the load generator share. Only the benchmark reads these; the product gets its
 * configuration as a user gives it (environment variables of its process).
 */
import { join } from 'node:path';
import { projectRoot } from '../lib/paths.js';
import type { Credentials, MixOptions } from './stream.js';

const num = (name: string, fallback: number): number => {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number ≥ 0, not ${text}`);
  return value;
};

export const SECTIONS = ['baselines', 'embedded', 'seeded', 'kafka', 'breakdown'] as const;
export type Section = (typeof SECTIONS)[number];

function sections(): Set<Section> {
  const text = process.env.BENCH_SECTIONS;
  if (!text) return new Set(SECTIONS);
  const chosen = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of chosen)
    if (!(SECTIONS as readonly string[]).includes(s))
      throw new Error(`BENCH_SECTIONS: unknown section ${s}; use ${SECTIONS.join(',')}`);
  return new Set(chosen as Section[]);
}

export interface Settings {
  /** Sustained rate: seconds of full load per variant, and connections. */
  seconds: number;
  connections: number;
  /** Seconds of full load before the measured seconds (JIT, connections, caches). */
  warmupSeconds: number;
  /** Freshness: offered rate, seconds, one marker session every markerMs, the dataset polled every pollMs. */
  rate: number;
  freshSeconds: number;
  markerMs: number;
  pollMs: number;
  /** Latency at rest: deliveries one at a time, gapMs apart. */
  restCount: number;
  restGapMs: number;
  /** How long to wait for acked events to reach Parquet once the load stops. */
  drainTimeoutSeconds: number;
  /** The warehouse seeded for the cost-as-work-grows runs. */
  seedEvents: number;
  seedSessions: number;
  seedDays: number;
  seedBatch: number;
  seedRaw: boolean;
  mix: MixOptions;
  sections: Set<Section>;
  out: string;
  /** A folder for a CPU profile of every thread of the product processes (node --cpu-prof): slows them, so not figures to quote. */
  profileDir: string | undefined;
  /** Marks the results as a smoke run (short lengths, not figures to quote). */
  smoke: boolean;
  kafka: { brokers: string; registryUrl: string } | undefined;
}

export function readSettings(): Settings {
  const smoke = process.env.BENCH_SMOKE === '1';
  const brokers = process.env.KAFKA_BROKERS;
  const registryUrl = process.env.SCHEMA_REGISTRY_URL;
  return Object.freeze({
    seconds: num('BENCH_SECONDS', 10),
    connections: num('BENCH_CONNECTIONS', 32),
    warmupSeconds: num('BENCH_WARMUP_SECONDS', 2),
    rate: num('BENCH_RATE', 1000),
    freshSeconds: num('BENCH_FRESH_SECONDS', 60),
    markerMs: num('BENCH_MARKER_MS', 200),
    pollMs: num('BENCH_POLL_MS', 25),
    restCount: num('BENCH_REST_COUNT', 200),
    restGapMs: num('BENCH_REST_GAP_MS', 50),
    drainTimeoutSeconds: num('BENCH_DRAIN_TIMEOUT_SECONDS', 300),
    seedEvents: num('BENCH_SEED_EVENTS', 1_000_000),
    seedSessions: num('BENCH_SEED_SESSIONS', 100_000),
    seedDays: num('BENCH_SEED_DAYS', 7),
    seedBatch: num('BENCH_SEED_BATCH', 50_000),
    seedRaw: process.env.BENCH_SEED_RAW !== '0',
    mix: {
      zoomOpen: num('BENCH_ZOOM_OPEN', 500),
      mluviiOpen: num('BENCH_MLUVII_OPEN', 40),
      apizeeOpen: num('BENCH_APIZEE_OPEN', 20),
    },
    sections: sections(),
    out: process.env.BENCH_OUT ?? join(projectRoot(), 'bench', 'results.md'),
    profileDir: process.env.BENCH_PROFILE_DIR || undefined,
    smoke,
    kafka: brokers && registryUrl ? { brokers, registryUrl } : undefined,
  });
}

export const CREDENTIALS: Credentials = Object.freeze({
  zoomSecret: 'bench-zoom-secret-token',
  apizeeSecret: 'bench-apizee-shared-secret',
  mluviiUser: 'bench-mluvii',
  mluviiPassword: 'bench-mluvii-password',
});

export const PII_KEY = 'bench-pii-key-0123456789abcdef';

/** The product's environment as a user sets it in production: secrets, PII key, a port of its own. */
export function productEnv(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    ZOOM_WEBHOOK_SECRET_TOKEN: CREDENTIALS.zoomSecret,
    APIZEE_WEBHOOK_SECRET: CREDENTIALS.apizeeSecret,
    MLUVII_WEBHOOK_USER: CREDENTIALS.mluviiUser,
    MLUVII_WEBHOOK_PASSWORD: CREDENTIALS.mluviiPassword,
    PII_KEY,
    ...extra,
  };
}

/** Node's own flags for a product process: with BENCH_PROFILE_DIR, a CPU profile of each of its threads in <dir>/<name>, written when it stops. */
export function productNodeArgs(name: string): string[] {
  const dir = readSettings().profileDir;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${join(dir, name)}`] : [];
}
