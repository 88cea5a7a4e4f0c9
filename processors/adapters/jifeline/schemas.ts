/**
 * The Avro schemas of the Jifeline event shapes (schemas/providers/jifeline/*.avsc) and the check of a
 * body against one. Avro record validation ignores undeclared fields, so a schema names only
 * what the adapter reads; a body that does not fit becomes a failure naming the field path.
 */
import { readFileSync } from 'node:fs';
import avro from 'avsc';
import type { Schema, Type } from 'avsc';
import { ERRORS } from '../../../lib/errors.js';
import { schemaPath } from '../../../lib/paths.js';
import type { NormalizeFailure } from '../types.js';
import type { JifelineSchemaName } from './table.js';

const types = new Map<JifelineSchemaName, Type>();

/** The schema's JSON as written in its .avsc file. */
export function jifelineSchemaJson(name: JifelineSchemaName): Schema {
  return JSON.parse(readFileSync(schemaPath('providers', 'jifeline', `${name}.avsc`), 'utf8')) as Schema;
}

/** The parsed Avro type, read once per process (a missing or broken schema is a deployment error: it throws). */
export function jifelineType(name: JifelineSchemaName): Type {
  let type = types.get(name);
  if (type === undefined) {
    type = avro.Type.forSchema(jifelineSchemaJson(name));
    types.set(name, type);
  }
  return type;
}

function describe(type: Type): string {
  const branches = (type as { types?: Type[] }).types;
  return Array.isArray(branches) ? branches.map(describe).join(' or ') : (type.typeName ?? 'unknown');
}

/**
 * Checks the body against the named schema. Returns null when it fits, else one failure for the
 * first offending field: FIELD_MISSING when the field is absent or null, FIELD_INVALID when it
 * has the wrong type, BODY_SHAPE when the body itself is not a record. The message never quotes
 * the value (it may be personal data). `pathOf` turns a path in the checked object into the path
 * in the body as received (a websocket frame nests the event under other names).
 */
export function checkShape(name: JifelineSchemaName, body: unknown, providerType: string | null, pathOf: (path: string) => string = (p) => p): NormalizeFailure | null {
  let first: { path: string[]; value: unknown; type: Type } | undefined;
  const valid = jifelineType(name).isValid(body, {
    errorHook: (path, value, type) => {
      first ??= { path, value: value as unknown, type };
    },
  });
  if (valid) return null;
  if (first === undefined || first.path.length === 0) {
    return { code: 'BODY_SHAPE', message: `${ERRORS.BODY_SHAPE.message} (Jifeline ${name})`, field_path: null, provider_type: providerType };
  }
  const fieldPath = pathOf(first.path.join('.'));
  const code = first.value === undefined || first.value === null ? 'FIELD_MISSING' : 'FIELD_INVALID';
  const expected = describe(first.type);
  return { code, message: `${ERRORS[code].message}: ${fieldPath} (expected ${expected}, Jifeline ${name})`, field_path: fieldPath, provider_type: providerType };
}
