/**
 * The Kafka mode as it is run: `run`; `ingest` + `process` + `warehouse`; two `ingest` +
 * `process` + `warehouse` (the load spread over both ingest URLs); and the warehouse alone,
 * draining an events topic that ingest + process filled. Each variant on topics of its own (a
 * unique TOPIC_PREFIX, hence its own consumer groups).
 */
import { Kafka, logLevel } from 'kafkajs';
import { topicsFor } from '../lib/topics.js';
import type { Server } from './children.js';
import { openDataset, waitForDeliveries } from './dataset.js';
import { settle, sustained, type SustainedResult } from './phases.js';
import { dataDir, startProduct } from './scenarios.js';
import type { Settings } from './settings.js';

const log = (text: string) => process.stderr.write(`bench: ${text}\n`);

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

/**
 * Removes what a variant left on the cluster, best effort: its topics, its consumer groups and its
 * subjects in the registry (all named after its prefix).
 */
export async function removeTopics(settings: Settings, prefix: string): Promise<void> {
  const k = settings.kafka!;
  const admin = new Kafka({
    clientId: 'sessionflow-bench',
    brokers: k.brokers.split(','),
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
    for (const topic of topics) {
      await fetch(`${k.registryUrl}/subjects/${encodeURIComponent(`${topic}-value`)}`, {
        method: 'DELETE',
        signal: AbortSignal.timeout(10_000),
      }).catch(() => undefined);
    }
  } catch (err) {
    log(`could not remove the topics of ${prefix}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

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
        for (let i = 0; i < layout.ingests; i++)
          ingests.push(
            await startProduct('ingest', dirFor(`ingest${i}`), env, `ingest${layout.ingests > 1 ? i + 1 : ''}`),
          );
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
        variants.push({
          name: layout.name,
          sustained: sust,
          rss: Object.fromEntries(servers.map((s) => [s.name, s.maxRssMiB()])),
        });
      } finally {
        await dataset.close();
      }
    } finally {
      for (const s of servers.reverse()) await s.stop();
      for (const d of dirs) d.remove();
      await removeTopics(settings, prefix);
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
  const admin = new Kafka({
    clientId: 'sessionflow-bench',
    brokers: k.brokers.split(','),
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    log('Kafka warehouse alone: filling events.v1 with ingest + process');
    const ingest = await startProduct('ingest', dirs[0]!.path, env);
    servers.push(ingest, await startProduct('process', dirs[1]!.path, env));
    await settle(5000);
    await sustained(settings, [ingest.url], undefined);
    const topic = topicsFor(prefix).events;
    const total = async () =>
      (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
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
      return {
        events: stored.events,
        seconds,
        startSeconds: (started - spawned) / 1000,
        eventsPerSecond: stored.events / seconds,
        complete: stored.complete,
        maxRssMiB: warehouse.maxRssMiB(),
      };
    } finally {
      await dataset.close();
    }
  } finally {
    await admin.disconnect();
    for (const s of servers.reverse()) await s.stop();
    for (const d of dirs) d.remove();
    await removeTopics(settings, prefix);
  }
}
