/**
 * One active writer per warehouse: DuckDB lets one process open warehouse.duckdb for writing.
 * A second `sessionflow warehouse` on the same DATA_DIR waits as a standby and takes over when
 * the active one goes away (its consumer group then hands it the partitions).
 */
import { join } from 'node:path';
import { InUseError, isSessionflowError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { sleep } from '../../lib/retry.js';
import { createWarehouse } from './writer.js';
import type { Warehouse, WarehouseOptions } from './types.js';

/** Another process holds the file (IN_USE): warehouse.duckdb (its single writer, lib/duckdb.ts), or the embedded log. */
export function isLocked(err: unknown): boolean {
  return isSessionflowError(err, 'IN_USE');
}

/** The id of the process holding the file, when it is known. */
export function lockHolderPid(err: unknown): number | undefined {
  return err instanceof InUseError ? err.holder : undefined;
}

/**
 * What a maintenance command (rebuild, replay) says when the writer holds the file: they work on
 * warehouse.duckdb itself, so the writer must be stopped first. Undefined for any other error.
 */
export function inUseMessage(err: unknown, dataDir: string): string | undefined {
  if (!isLocked(err)) return undefined;
  const pid = lockHolderPid(err);
  const holder = pid === undefined ? '' : ` (PID ${pid})`;
  return `${join(dataDir, 'warehouse.duckdb')} is open in another process${holder}: stop sessionflow run/warehouse first, then run this command again`;
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
