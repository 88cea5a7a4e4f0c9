/**
 * One process at a time opens the embedded log: a `LOCK` file holding the owner's PID and its
 * start time (Linux /proc), created exclusively. A lock left by a process that is gone (kill -9)
 * is taken over; one held by a live process is refused with its PID, as DuckDB refused a second
 * opener of log.duckdb.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { InUseError, SessionflowError } from '../errors.js';
import { writeFileAtomicSync } from '../atomic-file.js';

const held = new Set<string>();

function startTime(pid: number): string | undefined {
  try {
    // Field 22 of /proc/<pid>/stat, after the command in parentheses (which may hold spaces).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(pid: number, started: string | undefined): boolean {
  if (pid === process.pid) return false; // our own earlier life (a restarted container gets the same PID)
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = startTime(pid);
  return started === undefined || now === undefined || now === started; // another process reusing the PID is not the owner
}

/** The PID of the live process holding `dir`'s lock, if one does (another command can then only hand it work). */
export function liveHolder(dir: string): number | undefined {
  try {
    const owner = JSON.parse(readFileSync(join(dir, 'LOCK'), 'utf8')) as { pid?: number; started?: string };
    return typeof owner.pid === 'number' && alive(owner.pid, owner.started) ? owner.pid : undefined;
  } catch {
    return undefined; // no lock, or one torn by a writer that died
  }
}

/** Takes the lock of `dir`; returns its release. */
export function lockDir(dir: string): () => void {
  const path = join(dir, 'LOCK');
  if (held.has(path))
    throw new SessionflowError('LOG_UNAVAILABLE', `${dir} is already open in this process (PID ${process.pid})`);
  const mine = JSON.stringify({ pid: process.pid, started: startTime(process.pid) });
  try {
    const fd = openSync(path, 'wx');
    writeSync(fd, mine);
    closeSync(fd);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    let owner: { pid?: number; started?: string } = {};
    try {
      owner = JSON.parse(readFileSync(path, 'utf8')) as typeof owner;
    } catch {
      // empty or torn: its writer died while writing it
    }
    if (typeof owner.pid === 'number' && alive(owner.pid, owner.started)) {
      throw new InUseError(owner.pid, `${dir} (PID ${owner.pid}), a running \`sessionflow run\`?`);
    }
    writeFileAtomicSync(path, mine);
  }
  held.add(path);
  return () => {
    held.delete(path);
    try {
      if (readFileSync(path, 'utf8') === mine) rmSync(path, { force: true });
    } catch {
      // already gone
    }
  };
}
