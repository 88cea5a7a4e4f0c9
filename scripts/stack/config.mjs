// @ts-check
// Versions, the configuration from the environment (STACK_*), and the types the stack modules share.

import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const HOST = '127.0.0.1';

export const KAFKA_VERSION = '4.1.2';
export const LOG4J_VERSION = '2.24.3'; // Kafka 4.1 uses slf4j 1.7.36 -> log4j-slf4j-impl binding
// Apicurio Registry 3.3.x is compiled for Java 21 (class files v65); 3.0.9 still runs on Java 17
// and is the fallback when no JDK 21+ is found.
export const APICURIO_VERSION = '3.3.3';
export const APICURIO_VERSION_JAVA17 = '3.0.9';
export const DEPENDENCY_PLUGIN_VERSION = '3.8.1'; // copy-dependencies for Kafka's class path
export const COPY_PLUGIN_VERSION = '2.8'; // single-artifact copy (see ensureFetched)
export const MARKER = 'sessionflow.stack';
// C1 only: on 2 cores two JVMs starting at once (plus the tests) fight over CPU, and C2's
// compile threads lose more than they win for a short-lived test stack. Measured here: warm
// start 4.3-6.2s with C2, 2.6-3.9s without. STACK_*_JVM_OPTS=-XX:TieredStopAtLevel=4 undoes it.
export const QUICK_JIT = ['-XX:TieredStopAtLevel=1'];

/**
 * @typedef {object} StackOptions What the environment says, for programmatic use (tests).
 * @property {string} [dir] instead of STACK_DIR
 * @property {number} [kafkaPort]
 * @property {number} [controllerPort]
 * @property {number} [registryPort]
 * @property {number} [registryMgmtPort]
 * @property {number} [timeoutMs]
 * @property {number} [stopTimeoutMs]
 * @property {string} [kafkaVersion]
 * @property {false | ((message: string) => void)} [log] where progress goes (stderr); false: nowhere
 */
/** @typedef {'kafka' | 'registry'} ServiceName */
/** @typedef {{ name: ServiceName, pidFile: string, startFile: string, log: string }} Service */
/** @typedef {{ KAFKA_BROKERS: string, SCHEMA_REGISTRY_URL: string }} StackEnv */
/**
 * @typedef {object} Config
 * @property {string} dir
 * @property {string} run
 * @property {string} logs
 * @property {string} fetchDir
 * @property {number} kafkaPort
 * @property {number} controllerPort
 * @property {number} registryPort
 * @property {number} registryMgmtPort
 * @property {number} timeoutMs
 * @property {number} stopTimeoutMs
 * @property {string} kafkaVersion
 * @property {string} mvn
 * @property {string[]} kafkaJvmOpts
 * @property {string[]} registryJvmOpts
 * @property {string} mavenRepo
 * @property {(message: string) => void} log
 * @property {string} kafkaHome
 * @property {string} brokers
 * @property {string} registryUrl
 * @property {StackEnv} env
 * @property {Record<ServiceName, Service>} svc
 */
/** @typedef {{ bin: string, version: number, full: string }} Java A java binary and its version (major, full). */
/** @typedef {{ run: string[], reuse: string[] }} CdsArgs */

/** The code of a system error (ENOENT, EPERM, ...), of anything caught. */
export const codeOf = (/** @type {unknown} */ e) => /** @type {NodeJS.ErrnoException} */ (e).code;
/** The message of anything caught. */
export const messageOf = (/** @type {unknown} */ e) => /** @type {Error} */ (e).message;

// ---------------------------------------------------------------- configuration

/**
 * @param {string} name
 * @param {number} dflt
 */
export function intEnv(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name} must be a port number, got ${v}`);
  return n;
}

/**
 * @param {StackOptions} [opts]
 * @returns {Config}
 */
export function config(opts = {}) {
  const dir = path.resolve(REPO, opts.dir ?? process.env.STACK_DIR ?? '.cache/stack');
  const run = path.join(dir, 'run');
  const logs = path.join(run, 'logs');
  const kafkaPort = opts.kafkaPort ?? intEnv('STACK_KAFKA_PORT', 9092);
  const controllerPort = opts.controllerPort ?? intEnv('STACK_CONTROLLER_PORT', 9093);
  const registryPort = opts.registryPort ?? intEnv('STACK_REGISTRY_PORT', 8081);
  const registryMgmtPort = opts.registryMgmtPort ?? intEnv('STACK_REGISTRY_MGMT_PORT', 0);
  const kafkaVersion = opts.kafkaVersion ?? process.env.STACK_KAFKA_VERSION ?? KAFKA_VERSION;
  const brokers = `${HOST}:${kafkaPort}`;
  const registryUrl = `http://${HOST}:${registryPort}/apis/ccompat/v7`;
  return {
    dir,
    run,
    logs,
    fetchDir: path.join(dir, 'fetch'),
    kafkaPort,
    controllerPort,
    registryPort,
    registryMgmtPort,
    timeoutMs: opts.timeoutMs ?? Number(process.env.STACK_TIMEOUT_MS || 120_000),
    stopTimeoutMs: opts.stopTimeoutMs ?? Number(process.env.STACK_STOP_TIMEOUT_MS || 20_000),
    kafkaVersion,
    mvn: process.env.STACK_MVN || 'mvn',
    kafkaJvmOpts: (process.env.STACK_KAFKA_JVM_OPTS || '').split(/\s+/).filter(Boolean),
    registryJvmOpts: (process.env.STACK_REGISTRY_JVM_OPTS || '').split(/\s+/).filter(Boolean),
    mavenRepo: process.env.STACK_MAVEN_REPO || '',
    log: opts.log === false ? () => {} : (opts.log ?? ((m) => process.stderr.write(`stack: ${m}\n`))),
    kafkaHome: path.join(dir, `kafka-${kafkaVersion}`),
    brokers,
    registryUrl,
    env: { KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl },
    svc: {
      kafka: {
        name: 'kafka',
        pidFile: path.join(run, 'kafka.pid'),
        startFile: path.join(run, 'kafka.start'),
        log: path.join(logs, 'kafka.log'),
      },
      registry: {
        name: 'registry',
        pidFile: path.join(run, 'registry.pid'),
        startFile: path.join(run, 'registry.start'),
        log: path.join(logs, 'registry.log'),
      },
    },
  };
}
