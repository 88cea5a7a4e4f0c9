/**
 * The embedded schema registry: subjects, versions and global ids in one small JSON file beside
 * the embedded log (DATA_DIR/log/registry.json), replaced atomically on each new registration,
 * with the Confluent registry's rules (same schema, same id; BACKWARD compatibility).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { SerialQueue } from '../duckdb.js';
import { SessionflowError } from '../errors.js';
import { backwardIncompatibility, schemaText } from './compatibility.js';
import type { Registry } from './types.js';

export interface StoredSchema {
  id: number;
  subject: string;
  version: number;
  schema: string;
}

export const REGISTRY_FILE = 'registry.json';

/** One queue per file, so two clients of one folder in a process never interleave a registration. */
const queues = new Map<string, SerialQueue>();

export class EmbeddedRegistry implements Registry {
  private schemas: StoredSchema[] = [];
  private readonly queue: SerialQueue;

  private constructor(private readonly path: string) {
    this.queue = queues.get(path) ?? queues.set(path, new SerialQueue()).get(path)!;
  }

  /** The registry kept in `dir`/registry.json. */
  static async open(dir: string): Promise<EmbeddedRegistry> {
    mkdirSync(dir, { recursive: true });
    const registry = new EmbeddedRegistry(join(dir, REGISTRY_FILE));
    registry.reload();
    return registry;
  }

  /** Writes schemas with the ids they had elsewhere (the migration of an older log). */
  static async write(dir: string, schemas: StoredSchema[]): Promise<void> {
    mkdirSync(dir, { recursive: true });
    await writeFileAtomic(join(dir, REGISTRY_FILE), JSON.stringify({ schemas }));
  }

  private reload(): void {
    const path = this.path;
    this.schemas = existsSync(path)
      ? (JSON.parse(readFileSync(path, 'utf8')) as { schemas: StoredSchema[] }).schemas
      : [];
  }

  register(subject: string, schema: object): Promise<number> {
    const text = schemaText(schema);
    return this.queue.run(async () => {
      this.reload();
      const versions = this.schemas.filter((s) => s.subject === subject).sort((a, b) => a.version - b.version);
      const same = versions.find((v) => v.schema === text);
      if (same) return same.id;
      const latest = versions.at(-1);
      if (latest) {
        const reason = backwardIncompatibility(schema, latest.schema);
        if (reason)
          throw new SessionflowError(
            'CONFIG_INVALID',
            `schema for ${subject} is not BACKWARD compatible with version ${latest.version}: ${reason}`,
          );
      }
      const id =
        this.schemas.find((s) => s.schema === text)?.id ?? this.schemas.reduce((max, s) => Math.max(max, s.id), 0) + 1;
      const next = [...this.schemas, { id, subject, version: (latest?.version ?? 0) + 1, schema: text }];
      await writeFileAtomic(this.path, JSON.stringify({ schemas: next }));
      this.schemas = next;
      return id;
    });
  }

  async lookup(id: number): Promise<string> {
    let found = this.schemas.find((s) => s.id === id);
    if (!found) {
      await this.queue.run(async () => this.reload()); // registered by another client since
      found = this.schemas.find((s) => s.id === id);
    }
    if (!found) throw new SessionflowError('SCHEMA_NOT_FOUND', `id ${id}`);
    return found.schema;
  }

  async close(): Promise<void> {
    await this.queue.idle();
  }
}
