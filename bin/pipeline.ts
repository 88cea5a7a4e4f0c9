/**
 * `sessionflow run`: ingest, normalize and warehouse in one process. Shutdown drains in order:
 * stop accepting (in-flight requests finish and are acknowledged), stop normalize after its
 * batch, write the warehouse's buffered batch and commit, close DuckDB.
 */
import type { FastifyInstance } from 'fastify';
import { AvroCodec } from '../lib/avro.js';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import { createMetrics } from '../lib/metrics.js';
import { openEmbeddedTransport, type Transport } from '../lib/log/open.js';
import { resolveSecrets, devSecretsPath } from '../lib/secrets.js';
import { topicsFor } from '../lib/topics.js';
import { buildApp } from '../ingest/app.js';
import { createZoomReceiver } from '../ingest/providers/zoom.js';
import { createLogRawSink } from '../ingest/raw-sink.js';
import { startNormalizer } from '../processors/normalize.js';
import { startWarehouseSink } from '../processors/warehouse-sink.js';
import { createWarehouse } from '../processors/warehouse/index.js';

export interface RunningPipeline {
  app: FastifyInstance;
  /** The address the ingest listens on, e.g. http://127.0.0.1:8080. */
  url: string;
  /** Settles when a stage stops by itself (rejects with its error). */
  failed: Promise<never>;
  stop(): Promise<void>;
}

export async function startPipeline(config: Config, logger: Logger): Promise<RunningPipeline> {
  const secrets = resolveSecrets(config);
  if (secrets.generated.length > 0) {
    logger.warn({ file: devSecretsPath(config.dataDir), generated: secrets.generated }, 'development secrets made and stored; set them in the environment for production');
  }
  const metrics = createMetrics();
  const topics = topicsFor(config.topicPrefix);
  const transport: Transport = await openEmbeddedTransport(config.dataDir);
  const stoppers: Array<() => Promise<void>> = [() => transport.close()];
  const stopAll = async () => {
    for (const stop of stoppers.splice(0).reverse()) await stop();
  };
  try {
    await transport.log.createTopics(topics.specs(config.topicPartitions));
    const codec = new AvroCodec(transport.registry);
    const warehouse = await createWarehouse({ dataDir: config.dataDir, logger, idleHorizonMicros: config.idleHorizonHours * 3600e6 });
    stoppers.push(() => warehouse.close());
    const sink = await startWarehouseSink({ log: transport.log, codec, topics, warehouse, logger, metrics });
    stoppers.push(() => sink.stop());
    const normalizer = await startNormalizer({ log: transport.log, codec, topics, piiKey: secrets.piiKey, logger, metrics });
    stoppers.push(() => normalizer.stop());

    let accepting = true;
    const app = buildApp({
      receivers: [createZoomReceiver(secrets.zoom)],
      sink: await createLogRawSink(transport.log, codec, topics),
      logger,
      metrics,
      bodyLimitBytes: config.bodyLimitBytes,
      ready: () => accepting,
    });
    stoppers.push(async () => {
      accepting = false;
      await app.close();
    });
    const url = await app.listen({ port: config.port, host: config.host });
    const failed = Promise.race([normalizer.done, sink.done]).then(() => {
      throw new Error('a pipeline stage stopped');
    });
    failed.catch(() => undefined);
    logger.info({ url, dataDir: config.dataDir, mode: transport.log.kind }, 'sessionflow is running');
    return { app, url, failed, stop: stopAll };
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }
}
