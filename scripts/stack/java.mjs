// @ts-check
// Finding the JDKs: Kafka runs on any java on PATH (or STACK_JAVA), the registry wants the newest >= 21.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { APICURIO_VERSION, APICURIO_VERSION_JAVA17 } from './config.mjs';

/** @typedef {import('./config.mjs').Java} Java */

// ---------------------------------------------------------------- java discovery

/**
 * { version: major, full: "17.0.15" } of a java binary, or null.
 * @param {string} javaBin
 * @returns {{ version: number, full: string } | null}
 */
export function javaVersionOf(javaBin) {
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
export function javaAt(bin) {
  const v = javaVersionOf(bin);
  return v ? { bin, ...v } : null;
}

export function whichJava() {
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
export function javaCandidates() {
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

export function pickJavas() {
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
