/**
 * `npm run bench`: the ingest route with durable acknowledgement, against baselines run side by
 * side in the same run on the same machine:
 *   - no-write:      verify + wrap + answer, nothing stored (the ceiling of the HTTP path);
 *   - serial-commit: every request its own DuckDB transaction (what group commit avoids);
 *   - group-commit:  sessionflow's ingest (concurrent requests share one transaction).
 * Then the time from a webhook's 2xx to its fact in Parquet, through the whole embedded pipeline.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AvroCodec } from '../lib/avro.js';
import { parseConfig } from '../lib/config.js';
import { openEmbeddedTransport, openKafkaTransport, type Transport } from '../lib/log/open.js';
import { createLogger } from '../lib/logger.js';
import { createMetrics } from '../lib/metrics.js';
import { nowMicros } from '../lib/time.js';
import { topicsFor } from '../lib/topics.js';
import { buildApp } from '../ingest/app.js';
import { createZoomReceiver } from '../ingest/providers/zoom.js';
import { createLogRawSink, type RawSink } from '../ingest/raw-sink.js';
import { Spool } from '../ingest/spool.js';
import { createSpoolingSink } from '../ingest/spooling-sink.js';
import { openDataset } from '../processors/warehouse/query.js';
import { startPipeline } from '../bin/pipeline.js';
import { plannedZoomSession, zoomHeaders } from '../bin/demo-zoom.js';
import { tempDir } from '../test/helpers/tmp.js';

const SECRET = 'bench-secret';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const run = promisify(execFile);

interface LoadResult { requests: number; latencyP50: number; latencyP99: number; non2xx: number; errors: number }

async function load(url: string): Promise<LoadResult> {
  const script = fileURLToPath(new URL('./load.js', import.meta.url));
  const { stdout } = await run(process.execPath, [script, url, String(SECONDS), String(CONNECTIONS), SECRET]);
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as LoadResult;
}

const KAFKA = process.env.KAFKA_BROKERS && process.env.SCHEMA_REGISTRY_URL
  ? { brokers: process.env.KAFKA_BROKERS.split(','), registryUrl: process.env.SCHEMA_REGISTRY_URL }
  : undefined;

type Mode = 'embedded' | 'kafka';

async function openBenchTransport(mode: Mode, dataDir: string): Promise<Transport> {
  return mode === 'embedded'
    ? openEmbeddedTransport(dataDir)
    : openKafkaTransport({ ...KAFKA!, clientId: 'sessionflow-bench', logger: createLogger('silent') });
}

async function ingestVariant(mode: Mode, name: string, wrapSink: (sink: RawSink, transport: Transport, dataDir: string) => Promise<RawSink | undefined>): Promise<LoadResult & { name: string }> {
  const dir = tempDir('sessionflow-bench-');
  const transport = await openBenchTransport(mode, dir.path);
  const topics = topicsFor(`bench${Date.now().toString(36)}.`);
  await transport.log.createTopics(topics.specs(3));
  const real = await createLogRawSink(transport.log, new AvroCodec(transport.registry), topics);
  const sink = (await wrapSink(real, transport, dir.path)) ?? { write: async () => undefined };
  const app = buildApp({ receivers: [createZoomReceiver([SECRET])], sink, logger: createLogger('silent'), metrics: createMetrics(), bodyLimitBytes: 1 << 20, ready: () => true });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const result = await load(`${url}/webhooks/zoom`);
    return { name, ...result };
  } finally {
    await app.close();
    await transport.close();
    dir.remove();
  }
}

/** Each write waits for the one before: one transaction per request. */
function serial(sink: RawSink): RawSink {
  let tail: Promise<void> = Promise.resolve();
  return {
    write(raw, key) {
      const next = tail.then(() => sink.write(raw, key));
      tail = next.catch(() => undefined);
      return next;
    },
  };
}

async function webhookToParquet(trials: number): Promise<number[]> {
  const dir = tempDir('sessionflow-bench-e2e-');
  const config = parseConfig({ DATA_DIR: dir.path, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', ZOOM_WEBHOOK_SECRET_TOKEN: SECRET });
  const pipeline = await startPipeline(config, createLogger('silent'));
  const dataset = await openDataset(dir.path);
  const times: number[] = [];
  try {
    for (let i = 0; i < trials; i++) {
      const session = plannedZoomSession(nowMicros() - 3600e6);
      const delivery = session.deliveries[0]!;
      const response = await fetch(`${pipeline.url}/webhooks/zoom`, { method: 'POST', headers: zoomHeaders(SECRET, delivery.body), body: delivery.body });
      if (!response.ok) throw new Error(`ingest answered ${response.status}`);
      const acked = performance.now();
      for (;;) {
        const { rows } = await dataset.query(`select 1 from session_facts where session_key = 'zoom:${session.sessionId}'`);
        if (rows.length > 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      times.push(performance.now() - acked);
    }
  } finally {
    await dataset.close();
    await pipeline.stop();
    dir.remove();
  }
  return times;
}

function table(title: string, variants: Array<LoadResult & { name: string }>, baseline: number): void {
  console.log(`\n${title}, ${CONNECTIONS} connections, ${SECONDS} s each`);
  console.log('variant                          req/s    p50 ms  p99 ms  non-2xx  vs serial');
  for (const v of variants) {
    console.log(`${v.name.padEnd(32)} ${v.requests.toFixed(0).padStart(6)}  ${String(v.latencyP50).padStart(6)}  ${String(v.latencyP99).padStart(6)}  ${String(v.non2xx + v.errors).padStart(7)}  ${(v.requests / baseline).toFixed(2)}x`);
  }
}

const embedded = [
  await ingestVariant('embedded', 'no-write (ceiling)', async () => undefined),
  await ingestVariant('embedded', 'serial-commit (baseline)', async (sink) => serial(sink)),
  await ingestVariant('embedded', 'group-commit (sessionflow)', async (sink) => sink),
];
table('embedded mode: ingest route, acknowledged after the DuckDB commit', embedded, embedded[1]!.requests);

if (KAFKA) {
  const kafka = [
    await ingestVariant('kafka', 'serial-produce (baseline)', async (sink) => serial(sink)),
    await ingestVariant('kafka', 'grouped + spool (sessionflow)', async (_sink, transport, dataDir) => {
      const topics = topicsFor(`bench${Date.now().toString(36)}.`);
      await transport.log.createTopics(topics.specs(3));
      return createSpoolingSink(transport.log, new AvroCodec(transport.registry), topics, await Spool.open(`${dataDir}/spool`), createLogger('silent'));
    }),
  ];
  table(`Kafka mode (${KAFKA.brokers.join(',')}): ingest route, acknowledged by Kafka (acks=all)`, kafka, kafka[0]!.requests);
} else {
  console.log('\n(Kafka mode skipped: set KAFKA_BROKERS and SCHEMA_REGISTRY_URL, e.g. eval "$(npm run -s stack:up)", to measure it too)');
}
const times = (await webhookToParquet(10)).sort((a, b) => a - b);
console.log(`\nwebhook 2xx → fact readable in Parquet, 10 sessions one at a time: median ${times[5]!.toFixed(0)} ms, max ${times.at(-1)!.toFixed(0)} ms`);
