/**
 * What the Kafka-mode end-to-end tests share: the stack from stack-setup.ts, the environment of a
 * sessionflow process on it (its own topic prefix, its own DATA_DIR), signed Zoom posts, SQL on
 * the Parquet dataset, raw reads of our topics with kafkajs, and cleaning up the processes.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { afterEach, describe, inject, it } from 'vitest';
import { zoomHeaders, type ZoomDelivery } from '../../ingest/demo/zoom.js';
import { topicsFor } from '../../lib/topics.js';
import { eventually, startService, type Service, type ServiceCommand } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import type { KafkaStack } from './stack-setup.js';
export { queryDataset as query, shuffled } from '../helpers/data.js';

export const stack: KafkaStack = inject('kafkaStack');
export const ci = /^(1|true|yes)$/i.test(process.env.CI ?? '');
export const SECRET = 'kafka-e2e-zoom-secret-token';
/** One key for every process of a test, so participant pseudonyms agree across processes. */
export const PII_KEY = 'kafka-e2e-pii-key-0123456789abcdef';

/** The stack, or (in CI) a failure that says why there is none. */
export function need(): { brokers: string[]; registryUrl: string } {
  if ('unavailable' in stack) throw new Error(`no Kafka test stack: ${stack.unavailable}`);
  return stack;
}

/** `describe`, or (without a stack and outside CI) one skipped test that says why. */
export function kafkaDescribe(name: string, body: () => void): void {
  if ('unavailable' in stack && !ci) it.skip(`${name} (skipped: ${stack.unavailable})`, () => undefined);
  else describe(name, body);
}

/** A topic prefix of its own, e.g. `t3f9a0c1d.`. */
export const randomPrefix = () => `t${randomBytes(4).toString('hex')}.`;

/** The environment of a sessionflow process on the test stack. */
export function kafkaEnv(prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  const { brokers, registryUrl } = need();
  return {
    KAFKA_BROKERS: brokers.join(','),
    SCHEMA_REGISTRY_URL: registryUrl,
    TOPIC_PREFIX: prefix,
    ZOOM_WEBHOOK_SECRET_TOKEN: SECRET,
    PII_KEY,
    LOG_LEVEL: process.env.TEST_SERVICE_LOG_LEVEL ?? 'info',
    ...extra,
  };
}

export function post(url: string, delivery: ZoomDelivery, signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/webhooks/zoom`, {
    method: 'POST',
    headers: zoomHeaders(SECRET, delivery.body),
    body: delivery.body,
    ...(signal && { signal }),
  });
}

/** A sample's value from a process's /metrics (summed over its label sets), 0 when absent. */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match && match[1] === name) sum += Number(match[3]);
  }
  return sum;
}

/** A plain kafkajs client on the test stack, for looking at the broker's side. */
export function kafkaClient(clientId = `sessionflow-e2e-${randomBytes(3).toString('hex')}`): Kafka {
  return new Kafka({ clientId, brokers: need().brokers, logLevel: logLevel.NOTHING });
}

export type TopicMessage = KafkaMessage & { topic: string; partition: number };

/**
 * Reads `topics` from the beginning in a group of its own until `enough` says so (or the time is
 * up, which fails with what was read).
 */
export async function readTopics(
  topics: string[],
  enough: (messages: TopicMessage[]) => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<TopicMessage[]> {
  const consumer = kafkaClient().consumer({
    groupId: `sessionflow-e2e-reader-${randomBytes(4).toString('hex')}`,
    maxWaitTimeInMs: 200,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
  });
  const messages: TopicMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        messages.push({ ...message, topic, partition });
        if (await enough(messages)) done();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const outcome = await Promise.race([finished, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout')
      throw new Error(`timed out reading ${topics.join(', ')}: ${messages.length} messages read`);
    return messages;
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}

/**
 * The processes and temp folders of one test. `start` runs the built CLI; `cleanup` (afterEach)
 * gives each process still running a short SIGTERM (so it leaves its consumer groups) and then
 * kill -9, and removes the folders.
 */
export class Fleet {
  private readonly services: Service[] = [];
  private readonly dirs: Array<ReturnType<typeof tempDir>> = [];
  private readonly prefixes = new Set<string>();
  /** Starts not yet answered: a test that failed early (one of several parallel starts) must not leave the others running. */
  private readonly starting = new Set<Promise<Service>>();

  dataDir(prefix = 'sessionflow-kafka-'): string {
    const dir = tempDir(prefix);
    this.dirs.push(dir);
    return dir.path;
  }

  async start(command: ServiceCommand, dataDir: string, env: Record<string, string>): Promise<Service> {
    if (env.TOPIC_PREFIX) this.prefixes.add(env.TOPIC_PREFIX);
    const starting = startService(dataDir, env, { command, startTimeoutMs: 60_000 }).then((service) => {
      this.services.push(service);
      return service;
    });
    this.starting.add(starting);
    void starting.catch(() => undefined).finally(() => this.starting.delete(starting));
    return starting;
  }

  /** What the processes printed, without the per-request lines, for a failure message. */
  output(lines = 40): string {
    return this.services
      .map((s) => {
        const significant = s
          .output()
          .split('\n')
          .filter((l) => l && !l.includes('"msg":"incoming request"') && !l.includes('"msg":"request completed"'));
        return `----- ${s.command} (pid ${s.proc.pid}, ${s.proc.exitCode ?? s.proc.signalCode ?? 'running'}) -----\n${significant.slice(-lines).join('\n')}`;
      })
      .join('\n');
  }

  /**
   * SIGTERM to what still runs (so it leaves its consumer groups), kill -9 after `graceMs`, then
   * the folders are removed. With `keepLogs`, every process's whole output is written to a file
   * under the temp folder first and the path returned.
   */
  async cleanup(options: { keepLogs?: boolean; graceMs?: number } = {}): Promise<string | undefined> {
    await Promise.allSettled([...this.starting]);
    const services = this.services.splice(0);
    const running = services.filter((s) => s.proc.exitCode === null && s.proc.signalCode === null);
    await Promise.all(
      running.map(async (s) => {
        s.proc.kill('SIGTERM');
        const timer = setTimeout(() => s.proc.kill('SIGKILL'), options.graceMs ?? 5_000);
        await s.exited;
        clearTimeout(timer);
      }),
    );
    let logs: string | undefined;
    if (options.keepLogs && services.length > 0) {
      logs = mkdtempSync(join(tmpdir(), 'sessionflow-kafka-logs-'));
      for (const s of services) writeFileSync(join(logs, `${s.command}-${s.proc.pid}.log`), s.output());
    }
    for (const dir of this.dirs.splice(0)) dir.remove();
    await dropTopics([...this.prefixes]);
    this.prefixes.clear();
    return logs;
  }
}

/** Deletes a test's topics and consumer groups (best effort), so a long-running local broker does not pile up partitions. */
async function dropTopics(prefixes: string[]): Promise<void> {
  if (prefixes.length === 0 || 'unavailable' in stack) return;
  const admin = kafkaClient().admin();
  const work = (async () => {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => prefixes.some((p) => t.startsWith(p)));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 });
    const groups = prefixes.flatMap((p) => [topicsFor(p).group('normalize'), topicsFor(p).group('warehouse')]);
    await admin.deleteGroups(groups).catch(() => undefined);
  })();
  await Promise.race([work, sleep(15_000)]).catch(() => undefined);
  await admin.disconnect().catch(() => undefined);
}

/** `eventually`, with a failure message made when it fails (so it can say what the processes printed by then). */
export async function waitFor<T>(
  check: () => Promise<T | undefined>,
  ms: number,
  what: string,
  explain?: () => string,
  intervalMs = 100,
): Promise<T> {
  try {
    return await eventually(check, ms, what, intervalMs);
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}${explain ? `\n${explain()}` : ''}`);
  }
}

/** Registers the afterEach that ends a test's processes (after `before`, say, restarting a stopped broker) and keeps their logs when it failed. */
export function cleanUpAfterEach(fleet: Fleet, before?: () => Promise<void>): void {
  afterEach(async (ctx) => {
    await before?.();
    const logs = await fleet.cleanup({ keepLogs: ctx.task.result?.state === 'fail' });
    if (logs) console.log(`[kafka e2e] the processes' whole output is in ${logs}`);
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
