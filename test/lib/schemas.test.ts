import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import avro from 'avsc';
import { RECORD_SCHEMAS, loadSchema } from '../../lib/avro.js';
import { schemaPath } from '../../lib/paths.js';
import { avroFields as fields } from '../helpers/avro.js';

describe('Avro schemas', () => {
  const files = readdirSync(schemaPath()).filter((f) => f.endsWith('.avsc'));

  it('has the four record schemas of the design', () => {
    expect(files.sort()).toEqual(RECORD_SCHEMAS.map((n) => `${n}.avsc`).sort());
  });

  it.each(files)('%s parses and has a doc on every field', (file) => {
    const json = JSON.parse(readFileSync(schemaPath(file), 'utf8'));
    expect(() => avro.Type.forSchema(json)).not.toThrow();
    const undocumented = fields(json)
      .filter(({ field }) => !field.doc || field.doc.trim().length < 5)
      .map(({ path }) => path);
    expect(undocumented).toEqual([]);
  });

  it.each(RECORD_SCHEMAS)('%s keeps timestamps as timestamp-micros longs', (name) => {
    const stamps = fields(loadSchema(name).json).filter(({ field }) => /_at$/.test(field.name));
    expect(stamps.length).toBeGreaterThan(0);
    for (const { field } of stamps) expect(JSON.stringify(field.type)).toContain('"logicalType":"timestamp-micros"');
  });
});
