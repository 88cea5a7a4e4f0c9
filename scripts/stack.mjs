#!/usr/bin/env node
// @ts-check
// Local test stack for the Kafka mode: a real single-node Apache Kafka broker (KRaft,
// broker+controller in one JVM) and a real Confluent-compatible schema registry
// (Apicurio Registry, API under /apis/ccompat/v7), both fetched from Maven Central
// into .cache/stack/ once and started as detached JVMs on loopback.
//
//   node scripts/stack.mjs up       fetch (first time only), start, wait, print exports
//   node scripts/stack.mjs down     stop both (SIGTERM, then SIGKILL after a timeout)
//   node scripts/stack.mjs status   tell whether they run (exit 0 both answer, 1 some, 3 none)
//
// `up` prints the `export ...` lines on stdout and everything else on stderr, so
// `eval "$(node scripts/stack.mjs up)"` works. Programmatic use (vitest globalSetup):
//
//   import { up, down } from '../scripts/stack.mjs';
//   const s = await up();               // { env: { KAFKA_BROKERS, SCHEMA_REGISTRY_URL }, alreadyRunning, ... }
//   Object.assign(process.env, s.env);
//   return async () => { if (!s.alreadyRunning) await down(); };
//
// Environment: STACK_DIR (default <repo>/.cache/stack; relative to the repo root), STACK_KAFKA_PORT (9092),
// STACK_CONTROLLER_PORT (9093), STACK_REGISTRY_PORT (8081), STACK_REGISTRY_MGMT_PORT
// (0 = any free port; Quarkus' management interface), STACK_TIMEOUT_MS (120000, per wait),
// STACK_STOP_TIMEOUT_MS (20000), STACK_JAVA (java for Kafka), STACK_REGISTRY_JAVA (java for
// the registry; default: the newest JDK >= 21 found), STACK_KAFKA_VERSION,
// STACK_APICURIO_VERSION, STACK_MVN (mvn), STACK_MAVEN_REPO (-Dmaven.repo.local),
// STACK_CDS=0 (no class-data-sharing archives), STACK_KAFKA_JVM_OPTS, STACK_REGISTRY_JVM_OPTS
// (extra JVM options, appended last so they win).

//
// The parts: scripts/stack/{config,java,process,fetch,kafka,registry}.mjs; this file is the
// public API (up, down, status, stopBroker, restartBroker) and the command line.

import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { APICURIO_VERSION, HOST, KAFKA_VERSION, LOG4J_VERSION, config } from './stack/config.mjs';
import { pickJavas } from './stack/java.mjs';
import { pidAlive, readPid, servicePid, sleep, tcpConnect, withLock } from './stack/process.mjs';
import { ensureFetched } from './stack/fetch.mjs';
import { kafkaProbe, startKafka } from './stack/kafka.mjs';
import { registryProbe, startRegistry, waitReady } from './stack/registry.mjs';

/** @typedef {import('./stack/config.mjs').Config} Config */
/** @typedef {import('./stack/config.mjs').Java} Java */
/** @typedef {import('./stack/config.mjs').Service} Service */
/** @typedef {import('./stack/config.mjs').ServiceName} ServiceName */
/** @typedef {import('./stack/config.mjs').StackEnv} StackEnv */
/** @typedef {import('./stack/config.mjs').StackOptions} StackOptions */

// ---------------------------------------------------------------- public API

/** @param {Service} svc */
function serviceStatus(svc) {
  const pid = servicePid(svc);
  return { pid, running: pid !== null, log: svc.log };
}

/**
 * Whether the broker and the registry run (and answer).
 * @param {StackOptions} [opts]
 */
export async function status(opts = {}) {
  const c = config({ log: false, ...opts });
  const kafka = { ...serviceStatus(c.svc.kafka), port: c.kafkaPort, ready: false };
  const registry = { ...serviceStatus(c.svc.registry), port: c.registryPort, ready: false };
  if (kafka.running)
    kafka.ready = await kafkaProbe(c.kafkaPort).then(
      () => true,
      () => false,
    );
  if (registry.running)
    registry.ready = await registryProbe(c.registryPort).then(
      () => true,
      () => false,
    );
  return { running: kafka.running && registry.running, kafka, registry, env: c.env, dir: c.dir };
}

/**
 * @typedef {object} UpResult
 * @property {StackEnv} env
 * @property {string} brokers
 * @property {string} registryUrl
 * @property {boolean} alreadyRunning
 * @property {ServiceName[]} started what this call started (none when alreadyRunning)
 * @property {number} fetchMs
 * @property {number} startMs
 * @property {StackVersions | null} versions
 */
/**
 * @typedef {object} StackVersions
 * @property {string} kafka
 * @property {string} log4j
 * @property {string} apicurio
 * @property {number} kafkaJava
 * @property {number} registryJava
 */

/**
 * Start the stack (fetching it on first use) and wait until both answer.
 * Resolves to { env, brokers, registryUrl, alreadyRunning, started: [...], fetchMs, startMs, versions }.
 * @param {StackOptions} [opts]
 * @returns {Promise<UpResult>}
 */
export async function up(opts = {}) {
  const c = config(opts);
  return withLock(c, async () => {
    const t0 = performance.now();
    fs.mkdirSync(c.logs, { recursive: true });
    const state = {
      kafka: serviceStatus(c.svc.kafka).running,
      registry: serviceStatus(c.svc.registry).running,
    };
    /** @type {UpResult} */
    const result = {
      env: c.env,
      brokers: c.brokers,
      registryUrl: c.registryUrl,
      alreadyRunning: false,
      started: [],
      fetchMs: 0,
      startMs: 0,
      versions: null,
    };
    if (state.kafka && state.registry) {
      await Promise.all([
        waitReady(c, c.svc.kafka, () => kafkaProbe(c.kafkaPort), t0),
        waitReady(c, c.svc.registry, () => registryProbe(c.registryPort), t0),
      ]);
      try {
        result.versions = JSON.parse(fs.readFileSync(path.join(c.run, 'state.json'), 'utf8')).versions;
      } catch {}
      result.alreadyRunning = true;
      c.log(
        `already running (kafka pid ${readPid(c.svc.kafka.pidFile)}, registry pid ${readPid(c.svc.registry.pidFile)})`,
      );
      return result;
    }
    // Ports must be free for whatever we are about to start.
    /** @type {Array<[what: string, port: number]>} */
    const ports = [];
    if (!state.kafka) ports.push(['kafka', c.kafkaPort], ['kafka controller', c.controllerPort]);
    if (!state.registry) ports.push(['registry', c.registryPort]);
    if (!state.registry && c.registryMgmtPort) ports.push(['registry management', c.registryMgmtPort]);
    for (const [what, port] of ports) {
      if (await tcpConnect(port, 500))
        throw new Error(`port ${HOST}:${port} (${what}) is already in use by another process`);
    }

    const javas = pickJavas();
    if (javas.registry.version < 21 && !process.env.STACK_APICURIO_VERSION) {
      const which = process.env.STACK_REGISTRY_JAVA ? 'STACK_REGISTRY_JAVA is' : 'none found, best is';
      c.log(
        `Apicurio Registry ${APICURIO_VERSION} needs Java 21+ (${which} ${javas.registry.version}); ` +
          `using ${javas.apicurioVersion} instead`,
      );
    }
    result.fetchMs = ensureFetched(c, javas.apicurioVersion);
    result.versions = {
      kafka: c.kafkaVersion,
      log4j: LOG4J_VERSION,
      apicurio: javas.apicurioVersion,
      kafkaJava: javas.kafka.version,
      registryJava: javas.registry.version,
    };

    const t1 = performance.now();
    /** @type {ServiceName[]} */
    const started = [];
    try {
      if (!state.registry) {
        c.log(
          `starting Apicurio Registry ${javas.apicurioVersion} (Java ${javas.registry.version}) on ${HOST}:${c.registryPort} ...`,
        );
        startRegistry(c, javas.registry, javas.apicurioVersion);
        started.push('registry');
      }
      if (!state.kafka) {
        // the registry boots meanwhile
        c.log(`starting Kafka ${c.kafkaVersion} (KRaft, Java ${javas.kafka.version}) on ${HOST}:${c.kafkaPort} ...`);
        startKafka(c, javas.kafka);
        started.push('kafka');
      }
      const settled = await Promise.allSettled([
        waitReady(c, c.svc.registry, () => registryProbe(c.registryPort), t1).then((ms) => {
          if (!state.registry) c.log(`registry ready after ${(ms / 1000).toFixed(1)}s`);
        }),
        waitReady(c, c.svc.kafka, () => kafkaProbe(c.kafkaPort), t1).then((ms) => {
          if (!state.kafka) c.log(`kafka ready after ${(ms / 1000).toFixed(1)}s`);
        }),
      ]);
      const errors = settled.filter((x) => x.status === 'rejected').map((x) => x.reason);
      if (errors.length) throw errors.length === 1 ? errors[0] : new Error(errors.map((e) => e.message).join('\n\n'));
    } catch (e) {
      // Do not leave half a stack behind: stop what this call started (logs are kept).
      await Promise.all(started.map((n) => stopService(c, c.svc[n]).catch(() => {})));
      throw e;
    }
    result.started = started;
    result.startMs = performance.now() - t1;
    fs.writeFileSync(
      path.join(c.run, 'state.json'),
      `${JSON.stringify({ ...c.env, versions: result.versions, startedAt: new Date().toISOString() }, null, 2)}\n`,
    );
    c.log(
      `up in ${(result.startMs / 1000).toFixed(1)}s` +
        (result.fetchMs ? ` (plus ${(result.fetchMs / 1000).toFixed(1)}s fetching)` : '') +
        `; logs in ${c.logs}`,
    );
    return result;
  });
}

/**
 * Stop a service this script started; resolves to whether it was running.
 * @param {Config} c
 * @param {Service} svc
 */
async function stopService(c, svc) {
  const pid = servicePid(svc);
  const forget = () => {
    fs.rmSync(svc.pidFile, { force: true });
    fs.rmSync(svc.startFile, { force: true });
  };
  if (!pid) {
    forget();
    return false;
  }
  // detached => the JVM leads its own process group
  const signal = (/** @type {NodeJS.Signals} */ sig) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {}
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + c.stopTimeoutMs;
  while (pidAlive(pid) && Date.now() < deadline) await sleep(100);
  if (pidAlive(pid)) {
    c.log(`${svc.name} (pid ${pid}) still running after ${c.stopTimeoutMs} ms; sending SIGKILL`);
    signal('SIGKILL');
    const d2 = Date.now() + 10_000;
    while (pidAlive(pid) && Date.now() < d2) await sleep(100);
    if (pidAlive(pid)) throw new Error(`${svc.name} (pid ${pid}) survived SIGKILL`);
  }
  forget();
  return true;
}

/**
 * For failure tests: stop only the broker (SIGTERM, or SIGKILL with { kill: true }), keeping its
 * data, and start it again on the same data with `restartBroker`. The registry keeps running.
 * @param {StackOptions & { kill?: boolean }} [opts]
 */
export async function stopBroker(opts = {}) {
  const c = config(opts);
  return withLock(c, async () => {
    if (opts.kill) {
      const pid = servicePid(c.svc.kafka);
      if (pid) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {}
        }
      }
    }
    return stopService(c, c.svc.kafka);
  });
}

/**
 * Start the broker stopped by `stopBroker` on its data, unless it runs; resolves to the ms until it answered.
 * @param {StackOptions} [opts]
 */
export async function restartBroker(opts = {}) {
  const c = config(opts);
  return withLock(c, async () => {
    const t0 = performance.now();
    if (!serviceStatus(c.svc.kafka).running) startKafka(c, pickJavas().kafka, true);
    return waitReady(c, c.svc.kafka, () => kafkaProbe(c.kafkaPort), t0);
  });
}

/**
 * Stop both (SIGTERM, then SIGKILL after stopTimeoutMs). Resolves to the names of the services stopped.
 * @param {StackOptions} [opts]
 * @returns {Promise<ServiceName[]>}
 */
export async function down(opts = {}) {
  const c = config(opts);
  if (!fs.existsSync(c.run)) return [];
  return withLock(c, async () => {
    /** @type {ServiceName[]} */
    const names = ['kafka', 'registry'];
    const stopped = await Promise.all(names.map((n) => stopService(c, c.svc[n])));
    fs.rmSync(path.join(c.run, 'state.json'), { force: true });
    return names.filter((_, i) => stopped[i]);
  });
}

// ---------------------------------------------------------------- CLI

const HELP = `usage: node scripts/stack.mjs <up|down|status> [--help]

Local Kafka ${KAFKA_VERSION} broker (KRaft) + Apicurio Registry ${APICURIO_VERSION} (Confluent-compatible
API under /apis/ccompat/v7) for the Kafka mode's tests. Fetched from Maven Central into
.cache/stack/ on first use, started as detached JVMs on 127.0.0.1.

  up       fetch if needed, start, wait until both answer, print the exports on stdout
           (eval "$(node scripts/stack.mjs up)"); exit 0 if already running
  down     stop both (SIGTERM, SIGKILL after STACK_STOP_TIMEOUT_MS)
  status   exit 0 if both run and answer (then prints the exports), 1 if one does, 3 if none

env: STACK_DIR, STACK_KAFKA_PORT (9092), STACK_CONTROLLER_PORT (9093), STACK_REGISTRY_PORT (8081),
     STACK_REGISTRY_MGMT_PORT (0 = any), STACK_TIMEOUT_MS (120000), STACK_STOP_TIMEOUT_MS (20000),
     STACK_JAVA, STACK_REGISTRY_JAVA, STACK_KAFKA_VERSION, STACK_APICURIO_VERSION, STACK_MVN,
     STACK_MAVEN_REPO, STACK_CDS=0, STACK_KAFKA_JVM_OPTS, STACK_REGISTRY_JVM_OPTS
logs: <STACK_DIR>/run/logs/{kafka,registry,kafka-format,fetch}.log
`;

/** @param {StackEnv} env */
function printExports(env) {
  for (const [k, v] of Object.entries(env)) process.stdout.write(`export ${k}=${v}\n`);
}

/**
 * @param {string[]} argv
 * @returns {Promise<number>} the exit code
 */
async function main(argv) {
  const cmd = argv[0];
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help' || argv.includes('--help')) {
    process.stdout.write(HELP);
    return cmd ? 0 : 2;
  }
  switch (cmd) {
    case 'up': {
      const r = await up();
      printExports(r.env);
      return 0;
    }
    case 'down': {
      const stopped = await down();
      process.stderr.write(
        stopped.length ? `stack: stopped ${stopped.join(' and ')}\n` : 'stack: nothing was running\n',
      );
      return 0;
    }
    case 'status': {
      const s = await status();
      for (const name of /** @type {ServiceName[]} */ (['kafka', 'registry'])) {
        const x = s[name];
        const where = name === 'kafka' ? s.env.KAFKA_BROKERS : s.env.SCHEMA_REGISTRY_URL;
        process.stderr.write(
          `${name.padEnd(8)} ${x.running ? `running (pid ${x.pid}) ${x.ready ? 'answering' : 'NOT answering'} at ${where}` : 'not running'}\n`,
        );
      }
      const ok = s.running && s.kafka.ready && s.registry.ready;
      if (ok) printExports(s.env);
      return ok ? 0 : s.kafka.running || s.registry.running ? 1 : 3;
    }
    default:
      process.stderr.write(`unknown command: ${cmd}\n${HELP}`);
      return 2;
  }
}

const invokedDirectly =
  process.argv[1] &&
  (() => {
    try {
      return fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
    } catch {
      return false;
    }
  })();

if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`stack: ${e.message}\n`);
      process.exitCode = 1;
    },
  );
}
