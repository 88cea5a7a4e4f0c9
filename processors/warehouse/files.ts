/**
 * The Parquet dataset on disk: DATA_DIR/parquet/<table>/provider=<p>/date=<YYYY-MM-DD>/, and the
 * raw archive beside it in DATA_DIR/restricted/raw_webhooks/ in the same layout (DESIGN section 9:
 * the bodies hold personal data, so they are kept apart from what BI reads, in a folder only the
 * service's user may open).
 *
 * File names carry what a file holds, so a crash at any point can be repaired from the names:
 * - `data.parquet`: the whole partition of a rewritten table (session_facts, participant_sessions);
 * - `b-<batch>.parquet`: the rows one warehouse batch added to an append-only table;
 * - `c-<first>-<last>.parquet`: a compaction of every file of batches first..last.
 * Files are written as `.<name>.tmp` (hidden, and not `*.parquet`, so readers' globs skip it),
 * synced, then renamed into place: a reader sees a file whole or not at all.
 */
import { chmod, mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { datasetTable } from './tables.js';
import { fsyncPath } from '../../lib/atomic-file.js';

export const REWRITE_FILE = 'data.parquet';

export const datasetDir = (dataDir: string): string => join(dataDir, 'parquet');

export const restrictedDir = (dataDir: string): string => join(dataDir, 'restricted');

/** Owner only: read, write, list. */
const RESTRICTED_MODE = 0o700;

/** Where a dataset table's partitions are: under parquet/, or restricted/ for the raw archive. */
export function tableDir(dataDir: string, table: string): string {
  return join(datasetTable(table).restricted ? restrictedDir(dataDir) : datasetDir(dataDir), table);
}

export function partitionDir(dataDir: string, table: string, provider: string, date: string): string {
  return join(tableDir(dataDir, table), `provider=${encodeURIComponent(provider)}`, `date=${date}`);
}

/**
 * Makes DATA_DIR/restricted, open to the service's user alone, and moves there a raw archive that
 * an earlier version exported into the dataset BI reads (parquet/raw_webhooks). Returns whether
 * it moved one. A rename on one filesystem: readers see the files in one place or the other.
 */
export async function prepareRestricted(dataDir: string): Promise<boolean> {
  const root = restrictedDir(dataDir);
  await mkdir(root, { recursive: true, mode: RESTRICTED_MODE });
  await chmod(root, RESTRICTED_MODE);
  const old = join(datasetDir(dataDir), 'raw_webhooks');
  if (!(await exists(old))) return false;
  const target = tableDir(dataDir, 'raw_webhooks');
  // Both there: the restricted copy is the one exports went to since; the old one only repeats it.
  if (await exists(target)) await rm(old, { recursive: true, force: true });
  else await rename(old, target);
  await fsyncPath(datasetDir(dataDir));
  await fsyncPath(root);
  return true;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

const pad = (n: number) => String(n).padStart(12, '0');
export const batchFileName = (batchId: number): string => `b-${pad(batchId)}.parquet`;
export const compactedFileName = (first: number, last: number): string => `c-${pad(first)}-${pad(last)}.parquet`;
export const tempPath = (path: string): string => join(dirname(path), `.${basename(path)}.tmp`);

export interface DataFile {
  name: string;
  first: number;
  last: number;
  compacted: boolean;
}

const DATA_FILE = /^(?:b-(\d+)|c-(\d+)-(\d+))\.parquet$/;

export function parseDataFile(name: string): DataFile | undefined {
  const m = DATA_FILE.exec(name);
  if (!m) return undefined;
  if (m[1] !== undefined) return { name, first: Number(m[1]), last: Number(m[1]), compacted: false };
  return { name, first: Number(m[2]), last: Number(m[3]), compacted: true };
}

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export async function listDataFiles(dir: string): Promise<DataFile[]> {
  return (await names(dir))
    .flatMap((name) => parseDataFile(name) ?? [])
    .sort((a, b) => a.first - b.first || a.last - b.last);
}

/** A compacted file (other than `file` itself) already holds everything `file` holds. */
function coveredBy(files: readonly DataFile[], file: { first: number; last: number; name?: string }): boolean {
  return files.some((c) => c.compacted && c.name !== file.name && c.first <= file.first && file.last <= c.last);
}

/** One file already holds every row of batches first..last. */
export function batchesCovered(files: readonly DataFile[], batches: { first: number; last: number }): boolean {
  return files.some((f) => f.first <= batches.first && batches.last <= f.last);
}

/** The provider and date a partition folder stands for; undefined for a folder of another shape. */
export function parsePartitionDir(dir: string): { provider: string; date: string } | undefined {
  const date = /^date=(\d{4}-\d{2}-\d{2})$/.exec(basename(dir))?.[1];
  const provider = /^provider=(.+)$/.exec(basename(dirname(dir)))?.[1];
  if (date === undefined || provider === undefined) return undefined;
  try {
    return { provider: decodeURIComponent(provider), date };
  } catch {
    return undefined;
  }
}

/** Every `<table>/provider=*\/date=*` folder there is. */
export async function partitionDirs(dataDir: string, table: string): Promise<string[]> {
  const root = tableDir(dataDir, table);
  const dirs: string[] = [];
  for (const provider of await names(root)) {
    if (!provider.startsWith('provider=')) continue;
    for (const date of await names(join(root, provider))) {
      if (date.startsWith('date=')) dirs.push(join(root, provider, date));
    }
  }
  return dirs;
}

/**
 * After a crash: drop unfinished temporary files, and files a compaction already holds (it was
 * renamed into place but the small files were not all removed yet). Returns what was removed.
 */
export async function repairPartition(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await names(dir)) {
    if (name.startsWith('.') && name.endsWith('.tmp')) removed.push(name);
  }
  const files = await listDataFiles(dir);
  for (const file of files) if (coveredBy(files, file)) removed.push(file.name);
  for (const name of removed) await rm(join(dir, name), { force: true });
  return removed;
}

/** Moves a finished temporary file into place, durably. */
export async function publish(tmp: string, path: string): Promise<void> {
  await fsyncPath(tmp);
  await rename(tmp, path);
  await fsyncPath(dirname(path));
}

/** Removes a partition's file and, when they are left empty, its date and provider folders. */
export async function removePartitionFile(path: string): Promise<void> {
  await rm(path, { force: true });
  for (const dir of [dirname(path), dirname(dirname(path))]) {
    try {
      await rmdir(dir);
    } catch {
      return; // not empty (or already gone): keep it
    }
  }
}
