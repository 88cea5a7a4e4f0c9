/**
 * The composition of the stages. `sessionflow run` starts all three in one process (embedded
 * mode, or Kafka when KAFKA_BROKERS is set); `ingest`, `process` and `warehouse` start one each
 * on Kafka. Every process serves /health and /metrics; only the ingest has webhook routes.
 * Shutdown drains in order: stop accepting (in-flight requests finish and are acknowledged),
 * stop the spool drainer, stop normalize after its batch, finish the warehouse's batch in hand
 * and commit (a backlog stays in the log for the next start), publish what the facts outbox
 * holds for a short while, close DuckDB and the log. Each step is logged with its duration;
 * bin/commands/run.ts bounds the whole.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { AvroCodec } from '../lib/avro.js';
import type { Config } from '../lib/config.js';
import { SessionflowError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { createMetrics } from '../lib/metrics.js';
import { openTransport } from '../lib/log/open.js';
import { resolveSecrets, devSecretsPath } from '../lib/secrets.js';
import { topicsFor } from '../lib/topics.js';
import { buildApp } from '../ingest/app.js';
import { createApizeeReceiver } from '../ingest/providers/apizee.js';
import { createMluviiReceiver } from '../ingest/providers/mluvii.js';
import { createZoomReceiver } from '../ingest/providers/zoom.js';
import { createLogRawSink, type RawSink } from '../ingest/raw-sink.js';
import { createJifelinePuller } from '../ingest/pull/jifeline.js';
import { jifelinePullOptions } from '../ingest/pull/jifeline-options.js';
import { apizeeReconcileOptions } from '../ingest/pull/apizee-options.js';
import { createApizeeReconciler } from '../ingest/pull/apizee-reconcile.js';
import { Spool, expireSetAside } from '../ingest/spool.js';
import { createSpoolingSink } from '../ingest/spooling-sink.js';
import { startNormalizer } from '../processors/normalize.js';
import { startWarehouseSink, type WarehouseSink } from '../processors/warehouse/stage.js';
import { openWarehouseThread } from '../processors/warehouse/thread.js';
import type { ErasureOrder, ErasureResult, WarehouseWriter } from '../processors/warehouse/writer.js';
import { bridgeInbox, logMatcher, writeAnswer } from '../processors/erasure-requests.js';
import type { Log } from '../lib/log/types.js';

export interface Roles {
  ingest: boolean;
  normalize: boolean;
  warehouse: boolean;
}

interface Stopper {
  name: string;
  stop: () => Promise<void>;
}

export const ALL_ROLES: Roles = Object.freeze({ ingest: true, normalize: true, warehouse: true });

export interface RunningPipeline {
  app: FastifyInstance;
  /** The address the HTTP server listens on, e.g. http://127.0.0.1:8080. */
  url: string;
  /** Rejects when a stage stops by itself. */
  failed: Promise<never>;
  /** Stops in order (see the header); each step is logged. */
  stop(): Promise<void>;
  /** The steps of stop() not finished yet, the one in progress first (for a shutdown that takes too long). */
  pendingStops(): string[];
}

export async function startPipeline(
  config: Config,
  logger: Logger,
  roles: Roles = ALL_ROLES,
): Promise<RunningPipeline> {
  const secrets = resolveSecrets(config);
  if (secrets.generated.length > 0) {
    logger.warn(
      { file: devSecretsPath(config.dataDir), generated: secrets.generated },
      'development secrets made and stored; set them in the environment for production',
    );
  }
  const metrics = createMetrics();
  const topics = topicsFor(config.topicPrefix);
  const transport = await openTransport(config, logger);
  // Run in reverse order of registration: the last started stops first.
  const stoppers: Stopper[] = [{ name: 'log', stop: () => transport.close() }];
  const remaining: string[] = [];
  const stopAll = async () => {
    const steps = stoppers.splice(0).reverse();
    remaining.push(...steps.map((s) => s.name));
    for (const { name, stop } of steps) {
      const started = performance.now();
      await stop();
      remaining.shift();
      logger.info({ step: name, ms: Math.round(performance.now() - started) }, 'shutdown step done');
    }
  };
  const stages: Array<Promise<void>> = [];
  // What must be able to write for this process to be ready: the log the ingest acknowledges
  // after (embedded mode; a full disk), or the warehouse of a warehouse-only process.
  const writers: Array<{ readonly writable: boolean }> = [];
  try {
    const rawRetentionMs = config.rawRetentionDays * 86_400_000;
    await transport.log.createTopics(topics.specs(config.topicPartitions, config.bodyLimitBytes, rawRetentionMs));
    let retainedWarehouse: WarehouseWriter | undefined;
    const codec = new AvroCodec(transport.registry);
    const prune = transport.log.prune?.bind(transport.log);
    if (prune)
      stoppers.push({ name: 'log retention', stop: scheduleRetention(prune, config.logRetentionHours, logger) });
    const log = transport.log;
    // `sessionflow erase` in another process cannot open a log this process holds (the embedded
    // log): it leaves its request in DATA_DIR/erase-requests, and this process passes it on.
    if (!log.capabilities.shared)
      stoppers.push({ name: 'erase requests', stop: bridgeInbox(config.dataDir, { log, codec, topics, logger }) });
    // A remote log may acknowledge late or not at all (Kafka): the ingest spools what it does not acknowledge in time.
    const spoolDir = roles.ingest && log.capabilities.remote ? join(config.dataDir, 'spool') : undefined;
    if (roles.ingest && log.writable !== undefined)
      writers.push({
        get writable() {
          return log.writable !== false;
        },
      });

    if (roles.warehouse) {
      const warehouse = await openWarehouseThread(
        {
          dataDir: config.dataDir,
          logLevel: config.logLevel,
          secretHeaders: [config.secrets.apizeeHeader],
          idleHorizonMicros: config.idleHorizonHours * 3600e6,
          piiKey: secrets.piiKey,
        },
        logger,
      );
      stoppers.push({ name: 'warehouse (close DuckDB)', stop: () => warehouse.close() });
      if (!roles.ingest) writers.push(warehouse);
      const sink = await startWarehouseSink({
        log: transport.log,
        codec,
        topics,
        warehouse,
        logger,
        metrics,
        piiKey: secrets.piiKey,
        onErasure: (order, outcome) => answerErasure(config, transport.log, logger, order, outcome),
        onRefused: (ingestIds) => eraseRefused(transport.log, logger, ingestIds),
      });
      stoppers.push({ name: 'warehouse (batch in hand, commit, facts)', stop: () => sink.stop() });
      stoppers.push({ name: 'idle sweep', stop: scheduleSweep(sink) });
      retainedWarehouse = warehouse;
      stages.push(sink.done);
    }
    if (roles.normalize) {
      const normalizer = await startNormalizer({
        log: transport.log,
        codec,
        topics,
        piiKey: secrets.piiKey,
        sessionNames: config.sessionNames,
        zoomHostPattern: config.zoomHostPattern,
        logger,
        metrics,
      });
      stoppers.push({ name: 'normalize', stop: () => normalizer.stop() });
      stages.push(normalizer.done);
    }
    let rawSink: RawSink | undefined;
    if (roles.ingest) {
      if (spoolDir) {
        // A frame holds one delivery's envelope; a header claiming far more than the body limit is corrupt.
        const spool = await Spool.open(spoolDir, {
          logger,
          metrics,
          maxFrameBytes: Math.max(64 * 1024 * 1024, 2 * config.bodyLimitBytes),
        });
        stoppers.push({ name: 'spool', stop: () => spool.close() });
        const sink = await createSpoolingSink(transport.log, codec, topics, spool, logger, {
          ackTimeoutMs: config.kafkaAckTimeoutMs,
          onSpooled: (n) => metrics.ingestSpooled.inc(n),
        });
        stoppers.push({ name: 'spool drainer', stop: () => sink.close() });
        rawSink = sink;
      } else {
        rawSink = await createLogRawSink(transport.log, codec, topics);
      }
    }

    stoppers.push({
      name: 'raw retention',
      stop: scheduleRawRetention(rawRetentionMs, logger, {
        warehouse: retainedWarehouse,
        log: transport.log,
        rawTopics: topics.allRaw,
        spoolDir,
      }),
    });

    const jifeline = roles.ingest ? jifelinePullOptions(config) : undefined;
    if (jifeline && rawSink) {
      // Jifeline has no webhooks: the ingest pulls its feed (one puller per DATA_DIR).
      const puller = createJifelinePuller(jifeline, { sink: rawSink, logger });
      puller.start();
      stoppers.push({ name: 'jifeline puller', stop: () => puller.stop() });
    }

    const apizee = roles.ingest ? apizeeReconcileOptions(config) : undefined;
    if (apizee && rawSink) {
      // Apizee does not retry webhooks: the tickets they name are fetched again through REST.
      const reconciler = createApizeeReconciler(apizee, { sink: rawSink, logger });
      rawSink = reconciler.observe(rawSink);
      reconciler.start();
      stoppers.push({ name: 'apizee reconciliation', stop: () => reconciler.stop() });
    }

    let accepting = true;
    const app = buildApp({
      receivers: roles.ingest
        ? [
            createZoomReceiver(secrets.zoom, { toleranceMinutes: config.zoomToleranceMinutes }),
            createApizeeReceiver(secrets.apizee, secrets.apizeeHeader),
            createMluviiReceiver(secrets.mluvii),
          ]
        : [],
      sink: rawSink ?? {
        write: () => Promise.reject(new SessionflowError('INTERNAL', 'this process does not ingest')),
      },
      logger,
      metrics,
      bodyLimitBytes: config.bodyLimitBytes,
      apizeeHeader: secrets.apizeeHeader,
      ready: () => accepting && writers.every((w) => w.writable),
    });
    stoppers.push({
      name: 'http',
      stop: async () => {
        accepting = false;
        await app.close();
      },
    });
    const url = await app.listen({ port: config.port, host: config.host });
    let stopping = false;
    const failed = Promise.race(
      stages.map((stage) =>
        stage.then(() =>
          stopping
            ? new Promise<never>(() => undefined)
            : Promise.reject(new SessionflowError('INTERNAL', 'a pipeline stage stopped')),
        ),
      ),
    );
    failed.catch(() => undefined);
    const running = Object.entries(roles)
      .filter(([, on]) => on)
      .map(([role]) => role);
    logger.info({ url, dataDir: config.dataDir, mode: transport.log.kind, roles: running }, 'sessionflow is running');
    return {
      app,
      url,
      failed,
      stop: async () => {
        stopping = true;
        await stopAll();
      },
      pendingStops: () => [...remaining],
    };
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }
}

/** Sessions open past the idle horizon become `abandoned`: looked for at start and every 5 minutes. */
function scheduleSweep(sink: WarehouseSink): () => Promise<void> {
  void sink.sweep();
  const timer = setInterval(() => void sink.sweep(), 5 * 60_000);
  timer.unref();
  return async () => clearInterval(timer);
}

/**
 * Raw retention (RAW_RETENTION_DAYS): bodies older than the retention leave the warehouse and the
 * restricted dataset, the embedded log's raw topics (records every consumer has read) and what the
 * spool set aside. Kafka's raw topics do it themselves (retention.ms). Runs soon after start, then
 * every thirtieth of the retention, at most daily; logs what it removed.
 */
function scheduleRawRetention(
  retentionMs: number,
  logger: Logger,
  parts: {
    warehouse: WarehouseWriter | undefined;
    log: Log;
    rawTopics: readonly string[];
    spoolDir: string | undefined;
  },
): () => Promise<void> {
  const every = Math.min(86_400_000, Math.max(5_000, retentionMs / 30));
  let running: Promise<void> = Promise.resolve();
  const run = () =>
    (running = running.then(async () => {
      const cutoffMs = Date.now() - retentionMs;
      try {
        const deliveries = parts.warehouse ? await parts.warehouse.expireRaw(cutoffMs * 1000) : {};
        const logRecords = parts.log.expire ? await parts.log.expire(parts.rawTopics, cutoffMs) : 0;
        const spoolFiles = parts.spoolDir ? await expireSetAside(parts.spoolDir, cutoffMs) : 0;
        const total = Object.values(deliveries).reduce((a, b) => a + b, 0);
        if (total + logRecords + spoolFiles > 0) {
          logger.info(
            { deliveries, logRecords, spoolFiles, receivedBefore: new Date(cutoffMs).toISOString() },
            'raw retention: removed the bodies past RAW_RETENTION_DAYS',
          );
        }
      } catch (err) {
        logger.warn({ err }, 'raw retention failed; the next run retries');
      }
    }));
  const first = setTimeout(() => void run(), Math.min(every, 10_000));
  const timer = setInterval(() => void run(), every);
  first.unref();
  timer.unref();
  return async () => {
    clearTimeout(first);
    clearInterval(timer);
    await running;
  };
}

/** A log that runs its own retention (embedded mode): consumed messages past retention go, at start and every hour. */
function scheduleRetention(
  prune: (retentionMs: number) => Promise<number>,
  hours: number,
  logger: Logger,
): () => Promise<void> {
  const run = () =>
    prune(hours * 3600_000).then(
      (removed) => removed > 0 && logger.info({ removed }, 'embedded log retention'),
      (err: unknown) => logger.warn({ err }, 'embedded log retention failed'),
    );
  const first = setTimeout(() => void run(), 10_000);
  const timer = setInterval(() => void run(), 3600_000);
  first.unref();
  timer.unref();
  return async () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}

/**
 * After the warehouse erased (or refused) a request: erases the log's copies where the log can
 * (embedded), then writes the answer `sessionflow erase` waits for. Kafka's topics cannot be
 * erased: the answer says so.
 */
async function answerErasure(
  config: Config,
  log: Log,
  logger: Logger,
  order: ErasureOrder,
  outcome: ErasureResult | { error: string },
): Promise<void> {
  const kept: string[] = [];
  let logRecords: number | null = null;
  if ('error' in outcome) {
    await writeAnswer(config.dataDir, {
      request_id: order.requestId,
      dry_run: order.dryRun,
      error: outcome.error,
      log_records: null,
      kept,
    });
    return;
  }
  if (!order.dryRun && log.erase) {
    try {
      logRecords = await log.erase(logMatcher(order.subjects, outcome));
    } catch (err) {
      logger.error({ err, request_id: order.requestId }, 'erase: the embedded log could not be erased');
      kept.push('the embedded log could not be erased (see the service log); run the request again');
    }
  } else if (!order.dryRun) {
    kept.push(
      `Kafka's raw topics keep the deliveries until their retention.ms (RAW_RETENTION_DAYS=${config.rawRetentionDays}); ` +
        'events.v1 and deadletter.v1 until theirs; the spool of an ingest holds deliveries only until Kafka takes them',
    );
  }
  const { ingestIds: _ids, pairs: _pairs, participants: _participants, sessions: _sessions, ...counts } = outcome;
  await writeAnswer(config.dataDir, {
    request_id: order.requestId,
    dry_run: order.dryRun,
    result: counts,
    log_records: logRecords,
    kept,
  });
}

/** The log's copies of deliveries the warehouse refused as erased (a redelivery), where the log can erase them. */
async function eraseRefused(log: Log, logger: Logger, ingestIds: string[]): Promise<void> {
  if (!log.erase) return;
  const none = { emails: [], phones: [], participants: [], sessions: [] };
  try {
    await log.erase(logMatcher(none, { ingestIds, pairs: [], participants: [], sessions: [] }));
  } catch (err) {
    logger.error({ err }, 'erase: the embedded log copies of refused redeliveries could not be erased');
  }
}
