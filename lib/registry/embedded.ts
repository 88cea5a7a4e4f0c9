/**
 * The embedded schema registry: subjects, versions and global ids kept in the log's DuckDB
 * file, with the Confluent registry's rules (same schema, same id; BACKWARD compatibility).
 */
import { SessionflowError } from '../errors.js';
import { SerialQueue, queryRows, type DuckDBFile, type FileConnection } from '../duckdb.js';
import { backwardIncompatibility, schemaText } from './compatibility.js';
import type { Registry } from './types.js';

export class EmbeddedRegistry implements Registry {
  private readonly queue = new SerialQueue();
  private readonly byId = new Map<number, string>();

  private constructor(private readonly conn: FileConnection) {}

  static async open(db: DuckDBFile): Promise<EmbeddedRegistry> {
    const conn = await db.connect();
    await conn.use((c) =>
      c.run(
        `CREATE TABLE IF NOT EXISTS registry_schemas (id INTEGER NOT NULL, subject VARCHAR NOT NULL, version INTEGER NOT NULL, schema VARCHAR NOT NULL, PRIMARY KEY (subject, version))`,
      ),
    );
    return new EmbeddedRegistry(conn);
  }

  register(subject: string, schema: object): Promise<number> {
    const text = schemaText(schema);
    return this.queue.run(() => this.conn.use(async (conn) => {
      const versions = await queryRows<{ id: number; version: number; schema: string }>(
        conn,
        'SELECT id, version, schema FROM registry_schemas WHERE subject = $1 ORDER BY version',
        [subject],
      );
      const same = versions.find((v) => v.schema === text);
      if (same) return same.id;
      const latest = versions.at(-1);
      if (latest) {
        const reason = backwardIncompatibility(schema, latest.schema);
        if (reason) {
          throw new SessionflowError('CONFIG_INVALID', `schema for ${subject} is not BACKWARD compatible with version ${latest.version}: ${reason}`);
        }
      }
      const existing = await queryRows<{ id: number }>(conn, 'SELECT id FROM registry_schemas WHERE schema = $1 LIMIT 1', [text]);
      const [{ next }] = (await queryRows<{ next: number }>(conn, 'SELECT coalesce(max(id), 0) + 1 AS next FROM registry_schemas')) as [{ next: number }];
      const id = existing[0]?.id ?? next;
      await conn.run('INSERT INTO registry_schemas VALUES ($1, $2, $3, $4)', [id, subject, (latest?.version ?? 0) + 1, text]);
      this.byId.set(id, text);
      return id;
    }));
  }

  async lookup(id: number): Promise<string> {
    const cached = this.byId.get(id);
    if (cached) return cached;
    const rows = await this.queue.run(() => this.conn.use((conn) => queryRows<{ schema: string }>(conn, 'SELECT schema FROM registry_schemas WHERE id = $1 LIMIT 1', [id])));
    if (!rows[0]) throw new SessionflowError('SCHEMA_NOT_FOUND', `id ${id}`);
    this.byId.set(id, rows[0].schema);
    return rows[0].schema;
  }

  async close(): Promise<void> {
    await this.queue.idle();
    this.conn.closeSync();
  }
}
