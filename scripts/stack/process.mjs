// @ts-check
// Detached processes: pid files, liveness, log tails, TCP probes, and the lock that makes up/down exclusive.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { HOST, codeOf, messageOf } from './config.mjs';

/** @typedef {import('./config.mjs').Config} Config */
/** @typedef {import('./config.mjs').Service} Service */

// ---------------------------------------------------------------- process helpers

/** @param {string} file */
export function readPid(file) {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

export const HAS_PROC = fs.existsSync('/proc/self/stat');

/**
 * State letter and start time (clock ticks since boot) from /proc/<pid>/stat; null if gone or no /proc.
 * @param {number} pid
 * @returns {{ state: string, starttime: string } | null}
 */
export function procStat(pid) {
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
export function pidAlive(pid) {
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
export function servicePid(svc) {
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
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** @param {string} file */
export function tail(file, n = 40) {
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
export function failureReport(file, what) {
  return `${what}\n--- log: ${file} (last 40 lines) ---\n${tail(file, 40)}\n--- end of ${file} ---`;
}

/**
 * @param {number} port
 * @returns {Promise<boolean>}
 */
export function tcpConnect(port, timeoutMs = 1000) {
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
export async function withLock(c, fn) {
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
