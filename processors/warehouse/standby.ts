/**
 * One active writer per warehouse: DuckDB lets one process open warehouse.duckdb for writing.
 * A second `sessionflow warehouse` on the same DATA_DIR waits as a standby and takes over when
 * the active one goes away (its consumer group then hands it the partitions).
 */
import type { Logger } from '../../lib/logger.js';
import { sleep } from '../../lib/retry.js';
import { createWarehouse } from './index.js';
import type { Warehouse, WarehouseOptions } from './types.js';

const LOCKED = /Could not set lock on file|Conflicting lock is held/i;

function isLocked(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (LOCKED.test(e.message)) return true;
  return false;
}

export async function openWarehouseWhenFree(options: WarehouseOptions & { logger: Logger; signal?: AbortSignal; pollMs?: number }): Promise<Warehouse> {
  let told = false;
  for (;;) {
    try {
      const warehouse = await createWarehouse(options);
      if (told) options.logger.info('this process is now the active warehouse writer');
      return warehouse;
    } catch (err) {
      if (!isLocked(err)) throw err;
      if (!told) options.logger.warn({ dataDir: options.dataDir }, 'another process writes this warehouse; waiting as standby');
      told = true;
      await sleep(options.pollMs ?? 2000, options.signal);
    }
  }
}
