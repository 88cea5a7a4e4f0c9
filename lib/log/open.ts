import { join } from 'node:path';
import type { Config } from '../config.js';
import { DuckDBFile } from '../duckdb.js';
import type { Logger } from '../logger.js';
import { ConfluentRegistry } from '../registry/confluent.js';
import { EmbeddedRegistry } from '../registry/embedded.js';
import type { Registry } from '../registry/types.js';
import { EmbeddedLog } from './embedded.js';
import { KafkaLog } from './kafka.js';
import type { Log } from './types.js';

export interface Transport {
  log: Log;
  registry: Registry;
  close(): Promise<void>;
}

/** The embedded log and registry, both in DATA_DIR/log.duckdb (opened again together when DuckDB invalidates it). */
export async function openEmbeddedTransport(dataDir: string, logger?: Logger): Promise<Transport> {
  const db = await DuckDBFile.open(join(dataDir, 'log.duckdb'));
  const log = await EmbeddedLog.open(db, logger);
  const registry = await EmbeddedRegistry.open(db);
  return {
    log,
    registry,
    async close() {
      await log.close();
      await registry.close();
      db.closeSync();
    },
  };
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
  const registry = new ConfluentRegistry({ url: options.registryUrl, clientId: options.clientId });
  return {
    log,
    registry,
    async close() {
      await log.close();
      await registry.close();
    },
  };
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
