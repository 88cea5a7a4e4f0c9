import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { ConfluentRegistry } from '../registry/confluent.js';
import { EmbeddedRegistry } from '../registry/embedded.js';
import type { Registry } from '../registry/types.js';
import { EmbeddedLog } from './embedded.js';
import { KafkaLog } from './kafka.js';
import { migrateDuckDbLog } from './migrate-duckdb.js';
import type { Log } from './types.js';

export interface Transport {
  log: Log;
  registry: Registry;
  close(): Promise<void>;
}

/** The log and the registry, closed in that order. */
function transport(log: Log, registry: Registry): Transport {
  return {
    log,
    registry,
    async close() {
      await log.close();
      await registry.close();
    },
  };
}

/**
 * The embedded log and registry, both in DATA_DIR/log/ (an older version's DATA_DIR/log.duckdb
 * is migrated into it once, at the first open).
 */
export async function openEmbeddedTransport(dataDir: string, logger?: Logger): Promise<Transport> {
  const dir = join(dataDir, 'log');
  const migrated = await migrateDuckDbLog(dataDir, dir, { ...(logger && { logger }) });
  if (migrated)
    logger?.info(
      migrated,
      'embedded log: migrated DATA_DIR/log.duckdb into DATA_DIR/log (the old file is kept as log.duckdb.migrated)',
    );
  const log = await EmbeddedLog.open(dir, { ...(logger && { logger }) });
  return transport(log, await EmbeddedRegistry.open(dir));
}

export interface KafkaTransportOptions {
  brokers: readonly string[];
  /** A Confluent-compatible registry, e.g. http://127.0.0.1:8081/apis/ccompat/v7 for Apicurio. */
  registryUrl: string;
  clientId: string;
  logger: Logger;
  /** Replicas per new topic; by default the broker's default.replication.factor. */
  replicationFactor?: number;
}

/** Apache Kafka and a Confluent-compatible schema registry. */
export async function openKafkaTransport(options: KafkaTransportOptions): Promise<Transport> {
  const log = await KafkaLog.connect({
    brokers: [...options.brokers],
    clientId: options.clientId,
    logger: options.logger,
    ...(options.replicationFactor !== undefined && { replicationFactor: options.replicationFactor }),
  });
  return transport(log, new ConfluentRegistry({ url: options.registryUrl, clientId: options.clientId }));
}

/** Kafka when KAFKA_BROKERS is set (config.kafka), else the embedded log in DATA_DIR. */
export function openTransport(config: Config, logger: Logger): Promise<Transport> {
  if (!config.kafka) return openEmbeddedTransport(config.dataDir, logger);
  return openKafkaTransport({
    brokers: config.kafka.brokers,
    registryUrl: config.kafka.registryUrl,
    clientId: 'sessionflow',
    logger,
    ...(config.topicReplicationFactor !== undefined && { replicationFactor: config.topicReplicationFactor }),
  });
}
