/**
 * A poller's cursor: one small file holding the last provider position whose events (and all
 * before it) are durable in the raw sink. Written atomically (temporary file, fsync, rename, fsync
 * of the folder), so after a crash the file holds the old position or the new one, never a torn one.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SessionflowError } from '../../lib/errors.js';

export interface Cursor {
  /** The stored position, or null when none was stored yet. */
  read(): Promise<string | null>;
  /** Stores the position durably; resolves once it survives a crash. */
  write(position: string): Promise<void>;
}

export function fileCursor(path: string): Cursor {
  return {
    async read() {
      try {
        const text = (await readFile(path, 'utf8')).trim();
        return text === '' ? null : text;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw new SessionflowError('STORAGE_UNAVAILABLE', `cannot read ${path}`, { cause: err });
      }
    },
    write: (position) =>
      writeDurably(path, position).catch((cause: unknown) => {
        // Retried by the poller (a full disk passes); the position is not moved meanwhile.
        throw new SessionflowError('STORAGE_UNAVAILABLE', `cannot store ${path}`, { cause });
      }),
  };
}

async function writeDurably(path: string, position: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp`; // one writer per cursor: the poller writes one position at a time
  const file = await open(tmp, 'w');
  try {
    await file.writeFile(`${position}\n`, 'utf8');
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  const folder = await open(dir, 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}
