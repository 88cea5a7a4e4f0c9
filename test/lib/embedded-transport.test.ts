import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDBFile } from '../../lib/duckdb.js';
import { EmbeddedLog } from '../../lib/log/embedded.js';
import { EmbeddedRegistry } from '../../lib/registry/embedded.js';
import { logContract } from './log-contract.js';
import { registryContract } from './registry-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'sessionflow-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One DuckDB file per suite; a "new client" closes nothing but opens new connections on it. */
function harness<T extends { close(): Promise<void> }>(file: string, make: (db: DuckDBFile) => Promise<T>) {
  let db: Promise<DuckDBFile> | undefined;
  return {
    async open(): Promise<T> {
      db ??= DuckDBFile.open(join(dir, file));
      return make(await db);
    },
  };
}

logContract('embedded (DuckDB)', harness('log.duckdb', (db) => EmbeddedLog.open(db)));
registryContract('embedded (DuckDB)', harness('registry.duckdb', (db) => EmbeddedRegistry.open(db)));

describe('embedded log retention', () => {
  it('removes old messages every group has consumed, keeps the rest, and compacts keyed topics', async () => {
    const db = await DuckDBFile.open(join(dir, 'retention.duckdb'));
    const log = await EmbeddedLog.open(db);
    await log.createTopics([{ topic: 'raw', partitions: 1 }, { topic: 'facts', partitions: 1, compacted: true }]);
    await log.publish('raw', [1, 2, 3, 4].map((i) => ({ key: null, value: Buffer.from(`r${i}`) })));
    await log.publish('facts', ['a', 'b', 'a', 'a'].map((k, i) => ({ key: Buffer.from(k), value: Buffer.from(`${k}${i}`) })));
    const seen: string[] = [];
    const consumer = await log.consume({ group: 'g', topics: ['raw'], eachBatch: async (b) => void seen.push(...b.records.map((r) => r.value.toString())) });
    while (seen.length < 4) await new Promise((r) => setTimeout(r, 10));
    await consumer.stop();
    await log.publish('raw', [{ key: null, value: Buffer.from('r5') }]); // not consumed yet

    expect(await log.prune(60_000)).toBe(2); // nothing is old yet: only the two replaced 'a' facts go
    expect(await log.prune(-1)).toBe(4); // r1..r4: consumed and past retention; r5 is unread
    const reader = await db.connect();
    const rest = await reader.use((conn) => log.read(conn, 'raw', 0, 0, 10));
    expect(rest.map((r) => r.value.toString())).toEqual(['r5']);
    const facts = await reader.use((conn) => log.read(conn, 'facts', 0, 0, 10));
    expect(facts.map((r) => r.value.toString())).toEqual(['b1', 'a3']);
    expect(await log.endOffsets('raw')).toEqual(new Map([['raw:0', 5]]));
    await log.close();
  });
});
