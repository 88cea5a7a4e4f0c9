/**
 * The breakdown (not the headline): the ingest route alone, hosted in the benchmark's process with
 * nothing behind it (no normalize, no warehouse), under the same load generator and mix:
 *   - no-write:      verify + wrap + answer, nothing stored (the ceiling of the HTTP path);
 *   - serial-commit: each request waits for the write before it (one log commit per request);
 *   - group-commit:  sessionflow's ingest sink (concurrent requests share one commit);
 * and on Kafka (when configured) serial produce against the grouped, spooling sink.
 */
import { AvroCodec } from '../lib/avro.js';
import { openEmbeddedTransport, openKafkaTransport, type Transport } from '../lib/log/open.js';
import { createLogger } from '../lib/logger.js';
import { createMetrics } from '../lib/metrics.js';
import { topicsFor } from '../lib/topics.js';
import { buildApp } from '../ingest/app.js';
import { createApizeeReceiver } from '../ingest/providers/apizee.js';
import { createMluviiReceiver } from '../ingest/providers/mluvii.js';
import { createZoomReceiver } from '../ingest/providers/zoom.js';
import { createLogRawSink, type RawSink } from '../ingest/raw-sink.js';
import { Spool } from '../ingest/spool.js';
import { createSpoolingSink } from '../ingest/spooling-sink.js';
import type { LoadResult } from './load.js';
import { removeTopics } from './kafka.js';
import { runLoad } from './phases.js';
import { dataDir } from './scenarios.js';
import { CREDENTIALS, type Settings } from './settings.js';

export interface BreakdownVariant {
  mode: 'embedded' | 'kafka';
  name: string;
  load: LoadResult;
}

type WrapSink = (sink: RawSink, transport: Transport, dataDir: string, prefix: string) => Promise<RawSink | undefined>;

async function variant(
  settings: Settings,
  mode: 'embedded' | 'kafka',
  name: string,
  wrapSink: WrapSink,
): Promise<BreakdownVariant> {
  const dir = dataDir('breakdown');
  const transport =
    mode === 'embedded'
      ? await openEmbeddedTransport(dir.path)
      : await openKafkaTransport({
          brokers: settings.kafka!.brokers.split(','),
          registryUrl: settings.kafka!.registryUrl,
          clientId: 'sessionflow-bench',
          logger: createLogger('silent'),
        });
  const prefix = `bench${Date.now().toString(36)}.`;
  const topics = topicsFor(prefix);
  await transport.log.createTopics(topics.specs(3));
  const real = await createLogRawSink(transport.log, new AvroCodec(transport.registry), topics);
  const sink = (await wrapSink(real, transport, dir.path, prefix)) ?? { write: async () => undefined };
  const app = buildApp({
    receivers: [
      createZoomReceiver([CREDENTIALS.zoomSecret]),
      createApizeeReceiver([CREDENTIALS.apizeeSecret]),
      createMluviiReceiver({ user: CREDENTIALS.mluviiUser, passwords: [CREDENTIALS.mluviiPassword] }),
    ],
    sink,
    logger: createLogger('silent'),
    metrics: createMetrics(),
    bodyLimitBytes: 1 << 20,
    ready: () => true,
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    return { mode, name, load: await runLoad(settings, { urls: [url], mode: 'max', seconds: settings.seconds }) };
  } finally {
    await app.close();
    await transport.close();
    dir.remove();
    if (mode === 'kafka') await removeTopics(settings, prefix);
  }
}

/** Each write waits for the one before: one commit per request. */
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

export async function breakdown(settings: Settings): Promise<BreakdownVariant[]> {
  const results = [
    await variant(settings, 'embedded', 'no-write (ceiling)', async () => undefined),
    await variant(settings, 'embedded', 'serial-commit', async (sink) => serial(sink)),
    await variant(settings, 'embedded', 'group-commit (sessionflow ingest)', async (sink) => sink),
  ];
  if (settings.kafka) {
    results.push(
      await variant(settings, 'kafka', 'serial-produce', async (sink) => serial(sink)),
      await variant(
        settings,
        'kafka',
        'grouped + spool (sessionflow ingest)',
        async (_sink, transport, dir, prefix) => {
          const topics = topicsFor(`${prefix}spool.`);
          await transport.log.createTopics(topics.specs(3));
          return createSpoolingSink(
            transport.log,
            new AvroCodec(transport.registry),
            topics,
            await Spool.open(`${dir}/spool`),
            createLogger('silent'),
          );
        },
      ),
    );
  }
  return results;
}
