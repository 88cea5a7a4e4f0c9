/**
 * vitest globalSetup of the `kafka` project: finds a Kafka broker and a Confluent-compatible
 * registry for the tests (DESIGN §11).
 *
 * - KAFKA_BROKERS and SCHEMA_REGISTRY_URL set: those, if they answer.
 * - Otherwise, with `java` and `mvn` on PATH: scripts/stack.mjs starts the local stack (and
 *   this setup stops it afterwards if it started it).
 * - Neither: the tests get the reason. Without CI they skip; with CI=true they fail.
 */
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import type { TestProject } from 'vitest/node';

export type KafkaStack = { brokers: string[]; registryUrl: string } | { unavailable: string };

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaStack: KafkaStack;
  }
}

interface StackModule {
  up(): Promise<{
    env: { KAFKA_BROKERS: string; SCHEMA_REGISTRY_URL: string };
    alreadyRunning: boolean;
    started: string[];
  }>;
  down(): Promise<string[]>;
}

const say = (line: string) => process.stderr.write(`[kafka stack] ${line}\n`);

function tcpAnswers(hostPort: string, ms = 3_000): Promise<boolean> {
  const at = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(hostPort.slice(at + 1));
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function reachable(brokers: string[], registryUrl: string): Promise<string | undefined> {
  for (const broker of brokers) {
    if (!(await tcpAnswers(broker))) return `Kafka broker ${broker} does not answer`;
  }
  try {
    const response = await fetch(`${registryUrl.replace(/\/+$/, '')}/subjects`, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) return `schema registry ${registryUrl} answered ${response.status} to GET /subjects`;
  } catch (err) {
    return `schema registry ${registryUrl} does not answer (${err instanceof Error ? err.message : String(err)})`;
  }
  return undefined;
}

const onPath = (command: string) => spawnSync(command, ['-version'], { stdio: 'ignore' }).error === undefined;

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const ci = /^(1|true|yes)$/i.test(process.env.CI ?? '');
  const provide = (stack: KafkaStack) => {
    if ('unavailable' in stack)
      say(`${stack.unavailable}: the Kafka tests will ${ci ? 'FAIL (CI=true)' : 'be skipped'}`);
    project.provide('kafkaStack', stack);
  };
  const brokers = (process.env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  const registryUrl = process.env.SCHEMA_REGISTRY_URL?.trim();

  if (brokers.length > 0 || registryUrl) {
    if (brokers.length === 0 || !registryUrl) {
      provide({ unavailable: 'set both KAFKA_BROKERS and SCHEMA_REGISTRY_URL, or neither (to start the local stack)' });
      return undefined;
    }
    const problem = await reachable(brokers, registryUrl);
    provide(
      problem ? { unavailable: `${problem} (from KAFKA_BROKERS/SCHEMA_REGISTRY_URL)` } : { brokers, registryUrl },
    );
    return undefined;
  }

  if (!onPath('java') || !onPath('mvn')) {
    provide({
      unavailable:
        'no KAFKA_BROKERS/SCHEMA_REGISTRY_URL, and java or mvn is not on PATH to start the local stack (scripts/stack.mjs)',
    });
    return undefined;
  }
  const stack = (await import(new URL('../../scripts/stack.mjs', import.meta.url).href)) as StackModule;
  const started = Date.now();
  let result: Awaited<ReturnType<StackModule['up']>>;
  try {
    result = await stack.up();
  } catch (err) {
    provide({ unavailable: `scripts/stack.mjs up failed: ${err instanceof Error ? err.message : String(err)}` });
    return undefined;
  }
  say(
    result.alreadyRunning
      ? 'using the running local stack'
      : `started ${result.started.join(' and ')} in ${((Date.now() - started) / 1000).toFixed(1)}s`,
  );
  provide({ brokers: result.env.KAFKA_BROKERS.split(','), registryUrl: result.env.SCHEMA_REGISTRY_URL });
  if (result.alreadyRunning || result.started.length === 0) return undefined;
  return async () => {
    const stopped = await stack.down();
    say(`stopped ${stopped.join(' and ') || 'nothing'}`);
  };
}
