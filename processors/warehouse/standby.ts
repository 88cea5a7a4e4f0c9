/**
 * One active writer per warehouse: DuckDB lets one process open warehouse.duckdb for writing.
 * A second `sessionflow warehouse` on the same DATA_DIR waits as a standby and takes over when
 * the active one goes away (its consumer group then hands it the partitions).
 */
import { join } from 'node:path';
import type { Logger } from '../../lib/logger.js';
import { sleep } from '../../lib/retry.js';
import { createWarehouse } from './writer.js';
import type { Warehouse, WarehouseOptions } from './types.js';

const LOCKED = /Could not set lock on file|Conflicting lock is held/i;

/** DuckDB's answer when another process holds warehouse.duckdb (its single writer). */
export function isLocked(err: unknown): boolean {
  return lockMessage(err) !== undefined;
}

/** The id of the process holding the lock, from DuckDB's "Conflicting lock is held in /usr/bin/node (PID 31445)". */
export function lockHolderPid(err: unknown): number | undefined {
  const pid = /\(PID (\d+)\)/.exec(lockMessage(err) ?? '')?.[1];
  return pid === undefined ? undefined : Number(pid);
}

/**
 * What a maintenance command (rebuild, replay) says when the writer holds the file: they work on
 * warehouse.duckdb itself, so the writer must be stopped first. Undefined for any other error.
 */
export function inUseMessage(err: unknown, dataDir: string): string | undefined {
  if (!isLocked(err)) return undefined;
  const pid = lockHolderPid(err);
  return `${join(dataDir, 'warehouse.duckdb')} is open in another process${pid === undefined ? '' : ` (PID ${pid})`}: stop sessionflow run/warehouse first, then run this command again`;
}

function lockMessage(err: unknown): string | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (LOCKED.test(e.message)) return e.message;
  return undefined;
}

export async function openWarehouseWhenFree(
  options: WarehouseOptions & { logger: Logger; signal?: AbortSignal; pollMs?: number },
): Promise<Warehouse> {
  let told = false;
  for (;;) {
    try {
      const warehouse = await createWarehouse(options);
      if (told) options.logger.info('this process is now the active warehouse writer');
      return warehouse;
    } catch (err) {
      if (!isLocked(err)) throw err;
      if (!told)
        options.logger.warn({ dataDir: options.dataDir }, 'another process writes this warehouse; waiting as standby');
      told = true;
      await sleep(options.pollMs ?? 2000, options.signal);
    }
  }
}
