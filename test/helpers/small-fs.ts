import { execFileSync } from 'node:child_process';
import { closeSync, fsyncSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

/**
 * A real filesystem of a few megabytes that a test can fill and free: a tmpfs mounted by the
 * test (CI runs as root). Writes past its size fail with ENOSPC, and a write that only partly
 * fits comes back short, as on any full disk. When it cannot be mounted the test fails with the
 * reason; it never falls back to a disk that cannot fill.
 */
export interface SmallFs {
  /** The mount point: use it as DATA_DIR or as a spool folder. */
  readonly path: string;
  /** Fills the filesystem until no more than `leaveBytes` are free (a ballast file). */
  fill(leaveBytes?: number): void;
  /** Removes the ballast: the space comes back. */
  free(): void;
  /** Bytes free right now. */
  available(): number;
  unmount(): void;
}

export function mountSmallFs(megabytes: number): SmallFs {
  const mount = tempDir('sessionflow-smallfs-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m,mode=0755`, 'tmpfs', mount.path], {
      stdio: 'pipe',
    });
  } catch (err) {
    mount.remove();
    const detail = err instanceof Error && 'stderr' in err ? String((err as { stderr: Buffer }).stderr) : String(err);
    throw new Error(
      `cannot mount a ${megabytes} MB tmpfs for the disk-full test (it needs root, as in CI): ${detail.trim()}`,
    );
  }
  const ballast = join(mount.path, 'ballast');
  const available = () => {
    const s = statfsSync(mount.path);
    return Number(s.bavail) * Number(s.bsize);
  };
  return {
    path: mount.path,
    available,
    fill(leaveBytes = 0) {
      const fd = openSync(ballast, 'a');
      try {
        const chunk = Buffer.alloc(64 * 1024, 0x2e);
        for (;;) {
          const room = available() - leaveBytes;
          if (room <= 0) break;
          try {
            writeSync(fd, chunk, 0, Math.min(chunk.length, room));
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw err;
          }
        }
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    },
    free() {
      rmSync(ballast, { force: true });
    },
    unmount() {
      try {
        execFileSync('umount', ['-l', mount.path], { stdio: 'pipe' });
      } finally {
        mount.remove();
      }
    },
  };
}
