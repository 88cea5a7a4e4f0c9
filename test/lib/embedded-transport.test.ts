import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { openDuckDB } from '../../lib/duckdb.js';
import { EmbeddedLog } from '../../lib/log/embedded.js';
import { EmbeddedRegistry } from '../../lib/registry/embedded.js';
import type { DuckDBInstance } from '../../lib/duckdb.js';
import { logContract } from './log-contract.js';
import { registryContract } from './registry-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'sessionflow-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One DuckDB file per suite; a "new client" closes nothing but opens new connections on it. */
function harness<T extends { close(): Promise<void> }>(file: string, make: (db: DuckDBInstance) => Promise<T>) {
  let db: Promise<DuckDBInstance> | undefined;
  return {
    async open(): Promise<T> {
      db ??= openDuckDB(join(dir, file));
      return make(await db);
    },
  };
}

logContract('embedded (DuckDB)', harness('log.duckdb', (db) => EmbeddedLog.open(db)));
registryContract('embedded (DuckDB)', harness('registry.duckdb', (db) => EmbeddedRegistry.open(db)));
