/**
 * Each record is declared once, in TypeScript (lib/canonical.ts, lib/erasure.ts; lib/record.ts says
 * why). The `.avsc` and sql/warehouse.sql, written by hand for what they say beyond the fields,
 * must agree with the declarations: the same fields, in the same order, of the same types and
 * nullability. So must the dataset's views (sql/views.sql, sql/restricted.sql).
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEAD_LETTER_FIELDS,
  PARTICIPANT_SPAN_FIELDS,
  RAW_WEBHOOK_FIELDS,
  SESSION_EVENT_FIELDS,
  SESSION_FACT_FIELDS,
} from '../../lib/canonical.js';
import { RECORD_SCHEMAS, loadSchema, type RecordName } from '../../lib/avro.js';
import { openDuckDB, readRows } from '../../lib/duckdb.js';
import { ERASURE_REQUEST_FIELDS } from '../../lib/erasure.js';
import * as field from '../../lib/record.js';
import { openDataset } from '../../processors/warehouse/query.js';
import { warehouseDdl } from '../../processors/warehouse/tables.js';
import { tempDir } from '../helpers/tmp.js';

const DECLARED: Record<RecordName, field.Fields> = {
  RawWebhook: RAW_WEBHOOK_FIELDS,
  SessionEvent: SESSION_EVENT_FIELDS,
  SessionFact: SESSION_FACT_FIELDS,
  DeadLetter: DEAD_LETTER_FIELDS,
  ErasureRequest: ERASURE_REQUEST_FIELDS,
};

/** The Avro type a declared field stands for. */
function avroType(f: field.Field): unknown {
  const type =
    f.avro === 'timestamp-micros'
      ? { type: 'long', logicalType: 'timestamp-micros' }
      : f.avro === 'map'
        ? { type: 'map', values: 'string' }
        : f.avro === 'enum'
          ? { type: 'enum', name: f.name, symbols: f.values }
          : f.avro === 'record'
            ? { type: 'record', name: f.name, fields: avroFields(f.fields ?? {}) }
            : f.avro;
  return f.nullable ? ['null', type] : type;
}

const avroFields = (fields: field.Fields) => Object.entries(fields).map(([name, f]) => ({ name, type: avroType(f) }));

/** A schema without what only people read or only readers of old data need. */
function shapeOf(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(shapeOf);
  if (schema === null || typeof schema !== 'object') return schema;
  const kept = Object.entries(schema).filter(([key]) => !['doc', 'default', 'namespace'].includes(key));
  return Object.fromEntries(kept.map(([key, value]) => [key, shapeOf(value)]));
}

describe('the .avsc of each record', () => {
  it.each(RECORD_SCHEMAS)('%s has the declared fields, in order, of the declared types', (name) => {
    const schema = shapeOf(loadSchema(name).json) as { fields: unknown };
    expect(schema.fields).toEqual(avroFields(DECLARED[name]));
  });
});

const SQL_TYPE: Record<Exclude<field.AvroKind, 'record'>, string> = {
  string: 'VARCHAR',
  enum: 'VARCHAR',
  long: 'BIGINT',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  'timestamp-micros': 'TIMESTAMP',
  bytes: 'BLOB',
  map: 'MAP(VARCHAR, VARCHAR)',
};

/** session_events keeps its participant record in three columns (processors/warehouse/bind.ts). */
const FLATTENED: Record<string, Record<string, string>> = {
  participant: { key: 'participant_key', role: 'participant_role', provider_user_id: 'provider_user_id' },
};

/** The columns a record's fields are stored in, as `name TYPE` with NOT NULL where it has no null. */
function columnsOf(fields: field.Fields, nullable = false): string[] {
  return Object.entries(fields).flatMap(([name, f]) => {
    if (f.avro === 'record') {
      const named = FLATTENED[name] ?? {};
      return columnsOf(f.fields ?? {}, f.nullable).map((column) => column.replace(/^\w+/, (sub) => named[sub] ?? sub));
    }
    return [`${name} ${SQL_TYPE[f.avro]}${f.nullable || nullable ? '' : ' NOT NULL'}`];
  });
}

/** The warehouse tables that hold a record, with the writer's bookkeeping after it. */
const TABLES: Array<[string, field.Fields, string[]]> = [
  ['session_facts', SESSION_FACT_FIELDS, []],
  ['participant_sessions', PARTICIPANT_SPAN_FIELDS, []],
  ['session_events', SESSION_EVENT_FIELDS, ['batch_id BIGINT NOT NULL']],
  ['raw_webhooks', RAW_WEBHOOK_FIELDS, ['batch_id BIGINT NOT NULL']],
  ['dead_letters', DEAD_LETTER_FIELDS, ['batch_id BIGINT NOT NULL']],
];

describe('sql/warehouse.sql', () => {
  it.each(TABLES)(
    '%s has a column per declared field, in order, of its type and nullability',
    async (table, fields, after) => {
      const db = await openDuckDB(':memory:');
      const conn = await db.connect();
      try {
        await conn.run(await warehouseDdl());
        const columns = await readRows(
          conn,
          `SELECT column_name, data_type, is_nullable FROM information_schema.columns
         WHERE table_name = $1 ORDER BY ordinal_position`,
          (row) => {
            const notNull = row.get('is_nullable', field.string) === 'NO' ? ' NOT NULL' : '';
            return `${row.get('column_name', field.string)} ${row.get('data_type', field.string)}${notNull}`;
          },
          [table],
        );
        expect(columns).toEqual([...columnsOf(fields), ...after]);
      } finally {
        conn.closeSync();
        db.closeSync();
      }
    },
  );
});

describe('the dataset views', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it.each(TABLES)('%s shows the declared fields in order, then its partition', async (table, fields) => {
    const dataset = await openDataset(dir.path, { restricted: true });
    try {
      const columns = await dataset.read(`DESCRIBE ${table}`, (row) => row.get('column_name', field.string));
      // `provider` is a partition column (the folder name), wherever the record has it.
      const declared = columnsOf(fields).map((column) => column.split(' ')[0]);
      expect(columns.filter((c) => c !== 'provider')).toEqual([...declared.filter((c) => c !== 'provider'), 'date']);
    } finally {
      await dataset.close();
    }
  });
});
