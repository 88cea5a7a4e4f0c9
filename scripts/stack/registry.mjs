// @ts-check
// The Apicurio registry: start and probe; and waiting until a service answers.

import { performance } from 'node:perf_hooks';
import { HOST, MARKER, QUICK_JIT, messageOf } from './config.mjs';
import { failureReport, servicePid, sleep } from './process.mjs';
import { apicurioHome, cdsArgs, registryJar } from './fetch.mjs';
import { startDetached } from './kafka.mjs';

/** @typedef {import('./config.mjs').Config} Config */
/** @typedef {import('./config.mjs').Java} Java */
/** @typedef {import('./config.mjs').Service} Service */

// ---------------------------------------------------------------- registry

/**
 * @param {Config} c
 * @param {Java} java
 * @param {string} apicurioVersion
 */
export function startRegistry(c, java, apicurioVersion) {
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
export async function registryProbe(port, timeoutMs = 3000) {
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
export async function waitReady(c, svc, probe, t0) {
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
