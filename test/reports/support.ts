import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../lib/paths.js';
export { queryDataset as rowsOf } from '../helpers/data.js';

const run = promisify(execFile);

/** The built CLI (`npm run build` first), run in `cwd` with DATA_DIR and nothing of the repo's .env. */
export async function cli(
  args: string[],
  dataDir: string,
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(projectRoot(), 'dist/bin/sessionflow.js'), ...args], {
      cwd,
      env: { PATH: process.env.PATH, NODE_ENV: 'development', DATA_DIR: dataDir, LOG_LEVEL: 'silent' },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** A Date for a DATE value: how the dataset returns a UTC date. */
export const date = (iso: string): Date => new Date(`${iso}T00:00:00.000Z`);
