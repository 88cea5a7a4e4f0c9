import { join } from 'node:path';
import { openDuckDB } from '../duckdb.js';
import { EmbeddedRegistry } from '../registry/embedded.js';
import type { Registry } from '../registry/types.js';
import { EmbeddedLog } from './embedded.js';
import type { Log } from './types.js';

export interface Transport {
  log: Log;
  registry: Registry;
  close(): Promise<void>;
}

/** The embedded log and registry, both in DATA_DIR/log.duckdb. */
export async function openEmbeddedTransport(dataDir: string): Promise<Transport> {
  const db = await openDuckDB(join(dataDir, 'log.duckdb'));
  const log = await EmbeddedLog.open(db);
  const registry = await EmbeddedRegistry.open(db);
  return {
    log,
    registry,
    async close() {
      await log.close();
      await registry.close();
      db.closeSync();
    },
  };
}
