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

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');
const HOST = '127.0.0.1';

export const KAFKA_VERSION = '4.1.2';
export const LOG4J_VERSION = '2.24.3'; // Kafka 4.1 uses slf4j 1.7.36 -> log4j-slf4j-impl binding
// Apicurio Registry 3.3.x is compiled for Java 21 (class files v65); 3.0.9 still runs on Java 17
// and is the fallback when no JDK 21+ is found.
export const APICURIO_VERSION = '3.3.3';
export const APICURIO_VERSION_JAVA17 = '3.0.9';
const DEPENDENCY_PLUGIN_VERSION = '3.8.1'; // copy-dependencies for Kafka's class path
const COPY_PLUGIN_VERSION = '2.8'; // single-artifact copy (see ensureFetched)
const MARKER = 'sessionflow.stack';
// C1 only: on 2 cores two JVMs starting at once (plus the tests) fight over CPU, and C2's
// compile threads lose more than they win for a short-lived test stack. Measured here: warm
// start 4.3-6.2s with C2, 2.6-3.9s without. STACK_*_JVM_OPTS=-XX:TieredStopAtLevel=4 undoes it.
const QUICK_JIT = ['-XX:TieredStopAtLevel=1'];

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
const codeOf = (/** @type {unknown} */ e) => /** @type {NodeJS.ErrnoException} */ (e).code;
/** The message of anything caught. */
const messageOf = (/** @type {unknown} */ e) => /** @type {Error} */ (e).message;

// ---------------------------------------------------------------- configuration

/**
 * @param {string} name
 * @param {number} dflt
 */
function intEnv(name, dflt) {
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
function config(opts = {}) {
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

// ---------------------------------------------------------------- java discovery

/**
 * { version: major, full: "17.0.15" } of a java binary, or null.
 * @param {string} javaBin
 * @returns {{ version: number, full: string } | null}
 */
function javaVersionOf(javaBin) {
  // Prefer the JDK's `release` file (no JVM start); fall back to `java -version`.
  try {
    const real = fs.realpathSync(javaBin);
    const rel = fs.readFileSync(path.join(path.dirname(path.dirname(real)), 'release'), 'utf8');
    const m = rel.match(/^JAVA_VERSION="((\d+)[^"]*)"/m);
    if (m) return { version: Number(m[2]), full: /** @type {string} */ (m[1]) };
  } catch {}
  const r = spawnSync(javaBin, ['-version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  const m = (r.stderr || '').match(/version "((\d+)(?:\.(\d+))?[^"]*)"/);
  if (!m) return null;
  return { version: m[2] === '1' ? Number(m[3]) : Number(m[2]), full: /** @type {string} */ (m[1]) };
}

/**
 * @param {string} bin
 * @returns {Java | null}
 */
function javaAt(bin) {
  const v = javaVersionOf(bin);
  return v ? { bin, ...v } : null;
}

function whichJava() {
  for (const d of (process.env.PATH || '').split(path.delimiter)) {
    const p = path.join(d, 'java');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return null;
}

/** @returns {Java[]} */
function javaCandidates() {
  /** @type {string[]} */
  const out = [];
  const add = (/** @type {string | null} */ p) => {
    if (p && fs.existsSync(p) && !out.includes(p)) out.push(p);
  };
  if (process.env.JAVA_HOME) add(path.join(process.env.JAVA_HOME, 'bin', 'java'));
  add(whichJava());
  for (const root of ['/usr/lib/jvm', '/opt/java', '/opt']) {
    /** @type {string[]} */
    let names = [];
    try {
      names = fs.readdirSync(root);
    } catch {}
    for (const n of names) add(path.join(root, n, 'bin', 'java'));
  }
  return out.map(javaAt).filter((j) => j !== null);
}

function pickJavas() {
  const cands = javaCandidates();
  let kafka;
  if (process.env.STACK_JAVA) kafka = javaAt(process.env.STACK_JAVA);
  else kafka = cands.find((j) => j.version >= 17) ?? null; // JAVA_HOME / PATH first
  if (!kafka || kafka.version < 17) throw new Error('Kafka 4.x needs Java 17 or newer; set STACK_JAVA or JAVA_HOME');
  let registry;
  if (process.env.STACK_REGISTRY_JAVA) {
    registry = javaAt(process.env.STACK_REGISTRY_JAVA);
    if (!registry) throw new Error(`STACK_REGISTRY_JAVA=${process.env.STACK_REGISTRY_JAVA} is not a working java`);
  } else {
    registry = [...cands].sort((a, b) => b.version - a.version).find((j) => j.version >= 21) ?? kafka;
  }
  let apicurioVersion = process.env.STACK_APICURIO_VERSION;
  if (!apicurioVersion) apicurioVersion = registry.version >= 21 ? APICURIO_VERSION : APICURIO_VERSION_JAVA17;
  return { kafka, registry, apicurioVersion };
}

// ---------------------------------------------------------------- process helpers

/** @param {string} file */
function readPid(file) {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

const HAS_PROC = fs.existsSync('/proc/self/stat');

/**
 * State letter and start time (clock ticks since boot) from /proc/<pid>/stat; null if gone or no /proc.
 * @param {number} pid
 * @returns {{ state: string, starttime: string } | null}
 */
function procStat(pid) {
  if (!HAS_PROC) return null;
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // the fields after the command: 0 state, ..., 19 starttime (stat(5): fields 3 and 22)
    return { state: /** @type {string} */ (f[0]), starttime: /** @type {string} */ (f[19]) };
  } catch {
    return null;
  }
}

/**
 * Whether pid is alive. A JVM's main thread can exit (its /proc entry then shows 'Z' and an
 * empty cmdline) while the other threads still shut down, so 'Z' counts as dead only once no
 * other thread is left.
 * @param {number | null} pid
 */
function pidAlive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (codeOf(e) !== 'EPERM') return false;
  }
  const st = procStat(pid);
  if (!HAS_PROC) return true;
  if (!st) return false;
  if (st.state !== 'Z' && st.state !== 'X') return true;
  try {
    return fs.readdirSync(`/proc/${pid}/task`).length > 1;
  } catch {
    return false;
  }
}

/**
 * The pid in the service's pid file if that process is alive and is the one we started (same start time).
 * @param {Service} svc
 * @returns {number | null}
 */
function servicePid(svc) {
  const pid = readPid(svc.pidFile);
  if (pid === null || !pidAlive(pid)) return null;
  if (HAS_PROC) {
    let recorded = null;
    try {
      recorded = fs.readFileSync(svc.startFile, 'utf8').trim();
    } catch {}
    if (!recorded || procStat(pid)?.starttime !== recorded) return null; // pid reused by something else
  }
  return pid;
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** @param {string} file */
function tail(file, n = 40) {
  try {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-n).join('\n');
  } catch (e) {
    return `(cannot read ${file}: ${messageOf(e)})`;
  }
}

/**
 * @param {string} file
 * @param {string} what
 */
function failureReport(file, what) {
  return `${what}\n--- log: ${file} (last 40 lines) ---\n${tail(file, 40)}\n--- end of ${file} ---`;
}

/**
 * @param {number} port
 * @returns {Promise<boolean>}
 */
function tcpConnect(port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    const done = (/** @type {boolean} */ ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

// ---------------------------------------------------------------- lock (up/down exclusive)

/**
 * @template T
 * @param {Config} c
 * @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
async function withLock(c, fn) {
  fs.mkdirSync(c.run, { recursive: true });
  const lock = path.join(c.run, 'stack.lock');
  const deadline = Date.now() + c.timeoutMs + 60_000;
  let said = false;
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if (codeOf(e) !== 'EEXIST') throw e;
      const holder = readPid(lock);
      let alive = false;
      if (holder && holder !== process.pid) {
        try {
          process.kill(holder, 0);
          alive = true;
        } catch (k) {
          alive = codeOf(k) === 'EPERM';
        }
      }
      if (!alive) {
        try {
          fs.unlinkSync(lock);
        } catch {}
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another stack.mjs (pid ${holder}) holds ${lock}`);
      if (!said) {
        c.log(`waiting for another stack.mjs (pid ${holder}) ...`);
        said = true;
      }
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    try {
      if (readPid(lock) === process.pid) fs.unlinkSync(lock);
    } catch {}
  }
}

// ---------------------------------------------------------------- fetching (Maven)

/** @param {Config} c */
function pomXml(c) {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by scripts/stack.mjs; fetches the local Kafka + schema registry test stack -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sessionflow.local</groupId>
  <artifactId>stack-fetch</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${c.kafkaVersion}</version></dependency>
    <!-- kafka_2.13's POM leaves the logging backend out -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>${LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>${LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>${LOG4J_VERSION}</version></dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>${DEPENDENCY_PLUGIN_VERSION}</version>
        <executions>
          <execution>
            <id>kafka</id>
            <configuration>
              <includeScope>runtime</includeScope>
              <outputDirectory>\${stack.kafkaLibs}</outputDirectory>
            </configuration>
          </execution>
        </executions>
      </plugin>
    </plugins>
  </build>
</project>
`;
}

/**
 * @param {string} cmd
 * @param {string[]} args
 * @param {string} logFile
 * @param {import('node:child_process').SpawnSyncOptions} [opts]
 */
function run(cmd, args, logFile, opts = {}) {
  fs.appendFileSync(logFile, `\n$ ${cmd} ${args.join(' ')}\n`);
  const fd = fs.openSync(logFile, 'a');
  try {
    const r = spawnSync(cmd, args, { stdio: ['ignore', fd, fd], ...opts });
    if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
    return r.status;
  } finally {
    fs.closeSync(fd);
  }
}

/** @param {string} p */
function displayPath(p) {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') ? rel : p;
}

/**
 * @param {Config} c
 * @param {string} version
 */
function apicurioHome(c, version) {
  return path.join(c.dir, `apicurio-registry-${version}`);
}
/** @param {string} home */
function isComplete(home) {
  return fs.existsSync(path.join(home, '.complete'));
}

/**
 * Fetch whatever is missing from the cache. Returns ms spent (0 when all cached).
 * @param {Config} c
 * @param {string} apicurioVersion
 */
function ensureFetched(c, apicurioVersion) {
  const aHome = apicurioHome(c, apicurioVersion);
  const needKafka = !isComplete(c.kafkaHome);
  const needApicurio = !isComplete(aHome);
  if (!needKafka && !needApicurio) return 0;
  const t0 = performance.now();
  fs.mkdirSync(c.fetchDir, { recursive: true });
  fs.mkdirSync(c.logs, { recursive: true });
  const logFile = path.join(c.logs, 'fetch.log');
  const pom = path.join(c.fetchDir, 'pom.xml');
  fs.writeFileSync(pom, pomXml(c));
  const kafkaLibsTmp = path.join(c.fetchDir, `kafka-${c.kafkaVersion}-libs`);
  const download = path.join(c.fetchDir, 'download');
  fs.rmSync(kafkaLibsTmp, { recursive: true, force: true });
  fs.rmSync(download, { recursive: true, force: true });
  const what = [
    needKafka && `Kafka ${c.kafkaVersion} (+ log4j ${LOG4J_VERSION})`,
    needApicurio && `Apicurio Registry ${apicurioVersion}`,
  ].filter(Boolean);
  c.log(`fetching ${what.join(' and ')} from Maven Central into ${displayPath(c.dir)} (once) ...`);
  const args = ['-B', '-q', '-f', pom];
  if (needKafka) args.push('dependency:copy-dependencies@kafka', `-Dstack.kafkaLibs=${kafkaLibsTmp}`);
  if (needApicurio) {
    // The 2.8 copy goal copies the one file without reading its POM: some Apicurio releases' parent
    // POM (io.apicurio:apicurio-registry:3.0.9, for one) is not on Maven Central, which makes
    // 3.x's copy/get fail with "Failed to read artifact descriptor".
    args.push(
      `org.apache.maven.plugins:maven-dependency-plugin:${COPY_PLUGIN_VERSION}:copy`,
      `-Dartifact=io.apicurio:apicurio-registry-app:${apicurioVersion}:tar.gz:all`,
      `-DoutputDirectory=${download}`,
    );
  }
  if (c.mavenRepo) args.push(`-Dmaven.repo.local=${path.resolve(c.mavenRepo)}`);
  const status = run(c.mvn, args, logFile);
  if (status !== 0) throw new Error(failureReport(logFile, `mvn failed (exit ${status})`));

  if (needKafka) {
    fs.rmSync(c.kafkaHome, { recursive: true, force: true });
    fs.mkdirSync(c.kafkaHome, { recursive: true });
    fs.renameSync(kafkaLibsTmp, path.join(c.kafkaHome, 'libs'));
    const jars = fs.readdirSync(path.join(c.kafkaHome, 'libs'));
    if (!jars.some((j) => j.startsWith(`kafka_2.13-${c.kafkaVersion}`)))
      throw new Error(`no kafka_2.13 jar in ${c.kafkaHome}/libs`);
    fs.writeFileSync(
      path.join(c.kafkaHome, '.complete'),
      `${JSON.stringify({ kafka: c.kafkaVersion, log4j: LOG4J_VERSION, jars: jars.length })}\n`,
    );
  }
  if (needApicurio) {
    const tgz = path.join(download, `apicurio-registry-app-${apicurioVersion}-all.tar.gz`);
    if (!fs.existsSync(tgz)) throw new Error(`mvn did not produce ${tgz}`);
    const tmp = `${aHome}.tmp`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    const st = run('tar', ['-xzf', tgz, '-C', tmp], logFile);
    if (st !== 0) throw new Error(failureReport(logFile, `tar failed (exit ${st})`));
    fs.rmSync(aHome, { recursive: true, force: true });
    fs.renameSync(tmp, aHome);
    registryJar(aHome); // throws if the layout is unknown
    fs.writeFileSync(path.join(aHome, '.complete'), `${JSON.stringify({ apicurio: apicurioVersion })}\n`);
    fs.rmSync(download, { recursive: true, force: true });
  }
  const ms = performance.now() - t0;
  c.log(`fetched in ${(ms / 1000).toFixed(1)}s`);
  return ms;
}

/**
 * Quarkus fast-jar (3.1+: quarkus-run.jar) or legacy-jar (3.0.x: *-runner.jar).
 * @param {string} home
 */
function registryJar(home) {
  const fast = path.join(home, 'quarkus-run.jar');
  if (fs.existsSync(fast)) return fast;
  const runner = fs.readdirSync(home).find((f) => f.endsWith('-runner.jar'));
  if (runner) return path.join(home, runner);
  throw new Error(`no quarkus-run.jar or *-runner.jar in ${home}`);
}

// ---------------------------------------------------------------- class-data sharing
// A per-JDK AppCDS archive next to the fetched jars roughly halves the JVMs' start-up on
// warm starts. It is written when the JVM exits (on `down`), so the first start is not faster.
// JDK 19+ maintain it themselves (-XX:+AutoCreateSharedArchive). On JDK 17 the archive is
// dumped with -XX:ArchiveClassesAtExit and checked with -Xshare:on before each use: a broken
// archive (say, a dump cut short) aborts a JDK 17 VM even under -Xshare:auto.

/**
 * { run: args for the long-running JVM, reuse: args for a short-lived JVM on the same class path }
 * @param {Config} c
 * @param {Java} java
 * @param {string} home
 * @param {string[]} classPathArgs
 * @returns {CdsArgs}
 */
function cdsArgs(c, java, home, classPathArgs) {
  if (process.env.STACK_CDS === '0') return { run: [], reuse: [] };
  const file = path.join(home, `cds-java${java.full.replace(/[^\w.+-]/g, '_')}.jsa`);
  if (java.version >= 19) {
    const args = ['-XX:+AutoCreateSharedArchive', `-XX:SharedArchiveFile=${file}`];
    return { run: args, reuse: [] };
  }
  if (fs.existsSync(file)) {
    const r = spawnSync(java.bin, ['-Xshare:on', `-XX:SharedArchiveFile=${file}`, ...classPathArgs, '-version'], {
      stdio: 'ignore',
    });
    if (r.status === 0) return { run: [`-XX:SharedArchiveFile=${file}`], reuse: [`-XX:SharedArchiveFile=${file}`] };
    c.log(`discarding unusable class-data archive ${file}`);
    fs.rmSync(file, { force: true });
  }
  return { run: [`-XX:ArchiveClassesAtExit=${file}`], reuse: [] };
}

// ---------------------------------------------------------------- Kafka

function kafkaClusterId() {
  // Kafka's Uuid: 16 random bytes, base64url without padding, never starting with '-'.
  for (;;) {
    const id = crypto.randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * @param {Config} c
 * @param {string} dataDir
 */
function serverProperties(c, dataDir) {
  return `# generated by scripts/stack.mjs
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://${HOST}:${c.kafkaPort},CONTROLLER://${HOST}:${c.controllerPort}
advertised.listeners=PLAINTEXT://${HOST}:${c.kafkaPort},CONTROLLER://${HOST}:${c.controllerPort}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=${HOST}:${c.controllerPort}
log.dirs=${dataDir}
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
background.threads=4
log.cleaner.dedupe.buffer.size=16777216
`;
}

const LOG4J2_PROPERTIES = `# generated by scripts/stack.mjs
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
`;

/** @param {Config} c */
function kafkaClassPath(c) {
  return ['-cp', path.join(c.kafkaHome, 'libs', '*')];
}

/**
 * @param {Config} c
 * @param {string[]} extra
 */
function kafkaJvmArgs(c, extra) {
  return [
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${path.join(c.run, 'log4j2.properties')}`,
    ...extra,
    ...kafkaClassPath(c),
  ];
}

/**
 * @param {Config} c
 * @param {Java} java
 * @param {CdsArgs} cds
 */
function formatKafkaStorage(c, java, cds) {
  const dataDir = path.join(c.run, 'kafka-data');
  fs.rmSync(dataDir, { recursive: true, force: true }); // fresh broker on every start, like the in-memory registry
  const props = path.join(c.run, 'server.properties');
  fs.writeFileSync(props, serverProperties(c, dataDir));
  fs.writeFileSync(path.join(c.run, 'log4j2.properties'), LOG4J2_PROPERTIES);
  const clusterId = kafkaClusterId();
  const logFile = path.join(c.logs, 'kafka-format.log');
  fs.writeFileSync(logFile, '');
  const st = run(
    java.bin,
    [
      ...kafkaJvmArgs(c, ['-Xmx256m', ...QUICK_JIT, ...cds.reuse]),
      'kafka.tools.StorageTool',
      'format',
      '--standalone',
      '--cluster-id',
      clusterId,
      '--config',
      props,
    ],
    logFile,
  );
  if (st !== 0) throw new Error(failureReport(logFile, `kafka storage format failed (exit ${st})`));
  return { props, clusterId };
}

/**
 * @param {Config} c
 * @param {Service} svc
 * @param {string} cmd
 * @param {string[]} args
 * @param {string} cwd
 */
function startDetached(c, svc, cmd, args, cwd) {
  fs.mkdirSync(c.logs, { recursive: true });
  const fd = fs.openSync(svc.log, 'w');
  fs.writeSync(fd, `# ${new Date().toISOString()} ${cmd} ${args.join(' ')}\n`);
  try {
    const child = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', fd, fd] });
    child.on('error', () => {}); // reported by the readiness wait (process gone)
    child.unref();
    if (!child.pid) throw new Error(`could not start ${cmd}`);
    fs.writeFileSync(svc.pidFile, String(child.pid));
    const st = procStat(child.pid);
    if (st) fs.writeFileSync(svc.startFile, st.starttime);
    return child.pid;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * @param {Config} c
 * @param {Java} java
 */
function startKafka(c, java, keepData = false) {
  const cds = cdsArgs(c, java, c.kafkaHome, kafkaClassPath(c));
  const props = path.join(c.run, 'server.properties');
  const { clusterId } =
    keepData && fs.existsSync(path.join(c.run, 'kafka-data', 'meta.properties'))
      ? { clusterId: null }
      : formatKafkaStorage(c, java, cds);
  startDetached(
    c,
    c.svc.kafka,
    java.bin,
    [
      ...kafkaJvmArgs(c, [
        '-Xms128m',
        '-Xmx512m',
        ...QUICK_JIT,
        ...cds.run,
        ...c.kafkaJvmOpts,
        `-D${MARKER}.role=kafka`,
        `-D${MARKER}.dir=${c.dir}`,
      ]),
      'kafka.Kafka',
      props,
    ],
    c.run,
  );
  return clusterId;
}

/** @typedef {{ apiKey: number, apiVersion: number, body: Buffer }} KafkaRequest */

/**
 * Minimal Kafka wire protocol: ApiVersions v0, then a (non-flexible) Metadata request.
 * Each request is made from the responses before it; resolves to one response body per request.
 * @param {number} port
 * @param {Array<(responses: Buffer[]) => KafkaRequest>} requests
 * @param {number} timeoutMs
 * @returns {Promise<Buffer[]>}
 */
function kafkaExchange(port, requests, timeoutMs) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: HOST, port });
    /** @type {Buffer[]} */
    const responses = [];
    let buf = Buffer.alloc(0);
    let i = 0;
    const fail = (/** @type {unknown} */ e) => {
      sock.destroy();
      reject(e);
    };
    const send = () => {
      const request = /** @type {(responses: Buffer[]) => KafkaRequest} */ (requests[i]); // i < requests.length
      const { apiKey, apiVersion, body } = request(responses);
      const clientId = Buffer.from('stack.mjs');
      const header = Buffer.alloc(10);
      header.writeInt16BE(apiKey, 0);
      header.writeInt16BE(apiVersion, 2);
      header.writeInt32BE(i + 1, 4);
      header.writeInt16BE(clientId.length, 8);
      const size = Buffer.alloc(4);
      size.writeInt32BE(header.length + clientId.length + body.length);
      sock.write(Buffer.concat([size, header, clientId, body]));
    };
    sock.setTimeout(timeoutMs, () => fail(new Error('timeout')));
    sock.once('error', fail);
    sock.once('connect', send);
    sock.on('close', () => {
      if (responses.length < requests.length) reject(new Error('connection closed'));
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        const n = buf.readInt32BE(0);
        const frame = buf.subarray(4, 4 + n);
        buf = buf.subarray(4 + n);
        if (frame.readInt32BE(0) !== i + 1) return fail(new Error('bad correlation id'));
        responses.push(frame.subarray(4));
        i += 1;
        if (i === requests.length) {
          sock.destroy();
          return resolve(responses);
        }
        try {
          send();
        } catch (e) {
          return fail(e);
        }
      }
    });
  });
}

/**
 * Resolves to the broker list from a Metadata response; rejects while the broker is not serving.
 * @param {number} port
 * @returns {Promise<Array<{ nodeId: number, host: string, port: number }>>}
 */
async function kafkaProbe(port, timeoutMs = 3000) {
  let mdVersion = 0;
  const responses = await kafkaExchange(
    port,
    [
      () => ({ apiKey: 18, apiVersion: 0, body: Buffer.alloc(0) }), // ApiVersions v0
      (before) => {
        const av = /** @type {Buffer} */ (before[0]);
        const err = av.readInt16BE(0);
        if (err !== 0) throw new Error(`ApiVersions error ${err}`);
        const n = av.readInt32BE(2);
        /** @type {[min: number, max: number] | null} */
        let range = null;
        for (let k = 0, o = 6; k < n; k++, o += 6)
          if (av.readInt16BE(o) === 3) range = [av.readInt16BE(o + 2), av.readInt16BE(o + 4)];
        if (!range) throw new Error('broker does not offer Metadata');
        mdVersion = Math.min(range[1], 8); // v9+ are flexible versions; stay below
        if (mdVersion < Math.max(range[0], 1)) throw new Error(`no usable Metadata version in ${range}`);
        const body = [Buffer.from([0, 0, 0, 0])]; // topics: empty array
        if (mdVersion >= 4) body.push(Buffer.from([0])); // allow_auto_topic_creation
        if (mdVersion >= 8) body.push(Buffer.from([0, 0])); // include_*_authorized_operations
        return { apiKey: 3, apiVersion: mdVersion, body: Buffer.concat(body) };
      },
    ],
    timeoutMs,
  );
  const md = /** @type {Buffer} */ (responses[1]); // one response per request
  let o = mdVersion >= 3 ? 4 : 0; // throttle_time_ms
  const n = md.readInt32BE(o);
  o += 4;
  const brokers = [];
  for (let k = 0; k < n; k++) {
    const nodeId = md.readInt32BE(o);
    o += 4;
    const hl = md.readInt16BE(o);
    o += 2;
    const host = md.toString('utf8', o, o + hl);
    o += hl;
    const port = md.readInt32BE(o);
    o += 4;
    const rl = md.readInt16BE(o);
    o += 2 + Math.max(rl, 0);
    brokers.push({ nodeId, host, port });
  }
  if (brokers.length === 0) throw new Error('no broker registered yet');
  return brokers;
}

// ---------------------------------------------------------------- registry

/**
 * @param {Config} c
 * @param {Java} java
 * @param {string} apicurioVersion
 */
function startRegistry(c, java, apicurioVersion) {
  const home = apicurioHome(c, apicurioVersion);
  const jar = registryJar(home);
  const cds = cdsArgs(c, java, home, ['-cp', jar]);
  return startDetached(
    c,
    c.svc.registry,
    java.bin,
    [
      '-Xms64m',
      '-Xmx384m',
      '-XX:+ExitOnOutOfMemoryError',
      ...QUICK_JIT,
      ...cds.run,
      ...c.registryJvmOpts,
      `-D${MARKER}.role=registry`,
      `-D${MARKER}.dir=${c.dir}`,
      `-Dquarkus.http.host=${HOST}`,
      `-Dquarkus.http.port=${c.registryPort}`,
      `-Dquarkus.management.host=${HOST}`,
      `-Dquarkus.management.port=${c.registryMgmtPort}`,
      // in-memory H2 storage is the default (apicurio.storage.kind=sql, apicurio.storage.sql.kind=h2, jdbc:h2:mem:...)
      // allow DELETE /subjects/... (disabled by default in Apicurio 3)
      '-Dapicurio.rest.deletion.group.enabled=true',
      '-Dapicurio.rest.deletion.artifact.enabled=true',
      '-Dapicurio.rest.deletion.artifact-version.enabled=true',
      '-jar',
      jar,
    ],
    home,
  );
}

/** @param {number} port */
async function registryProbe(port, timeoutMs = 3000) {
  const res = await fetch(`http://${HOST}:${port}/apis/ccompat/v7/subjects`, {
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  return true;
}

// ---------------------------------------------------------------- readiness

/**
 * Resolves to the ms from t0 until the probe first succeeded.
 * @param {Config} c
 * @param {Service} svc
 * @param {() => Promise<unknown>} probe
 * @param {number} t0 performance.now() at the start
 */
async function waitReady(c, svc, probe, t0) {
  const deadline = Date.now() + c.timeoutMs;
  let last = 'not started';
  for (;;) {
    try {
      await probe();
      return performance.now() - t0;
    } catch (e) {
      last = messageOf(e);
    }
    if (!servicePid(svc)) {
      throw new Error(failureReport(svc.log, `${svc.name} exited before it became ready (${last})`));
    }
    if (Date.now() > deadline) {
      throw new Error(failureReport(svc.log, `${svc.name} not ready after ${c.timeoutMs} ms (${last})`));
    }
    await sleep(200);
  }
}

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
