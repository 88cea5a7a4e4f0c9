/**
 * The Avro schemas of a provider's payload shapes (schemas/providers/<provider>/*.avsc) and the
 * check of a body against one. Avro record validation ignores undeclared fields, so a schema
 * names only what the adapter reads; a body that does not fit becomes a failure naming the
 * field path. One of these per provider (see each adapter's schemas.ts).
 */
import { readFileSync } from 'node:fs';
import avro from 'avsc';
import type { Schema, Type } from 'avsc';
import { ERRORS } from '../../lib/errors.js';
import { schemaPath } from '../../lib/paths.js';
import type { Step } from './steps.js';
import type { NormalizeFailure } from './types.js';

export interface PayloadSchemas<Name extends string> {
  /** Every schema of the provider: one per family of its table, then those read for any body. */
  readonly names: readonly Name[];
  /** The schema's JSON as written in its .avsc file. */
  json(name: Name): Schema;
  /**
   * Null when the body fits the named schema, else one failure for the first offending field:
   * FIELD_MISSING when it is absent or null, FIELD_INVALID when it has the wrong type, BODY_SHAPE
   * when the body itself is not a record. The message never quotes the value (it may be personal
   * data). `pathOf` turns a path in the checked object into the path in the body as received.
   */
  check(
    name: Name,
    body: unknown,
    providerType: string | null,
    pathOf?: (path: string) => string,
  ): NormalizeFailure | null;
  /**
   * The body as `T` once it fits the named schema, else `check`'s failure. `T` is the adapter's
   * type for what it reads of that shape: the schema declares those fields, so a body that fits
   * has them with those types. The one place a checked body becomes typed.
   */
  read<T>(name: Name, body: unknown, providerType: string | null, pathOf?: (path: string) => string): Step<T>;
}

function describe(type: Type): string {
  const branches = (type as { types?: Type[] }).types;
  return Array.isArray(branches) ? branches.map(describe).join(' or ') : (type.typeName ?? 'unknown');
}

/**
 * `provider` names the folder under schemas/providers/, `label` the provider in messages ("Zoom");
 * `schemaOf` is the table's schema of each family, `more` the schemas read beside them
 * (Envelope, for a type the table does not map).
 */
export function payloadSchemas<const Name extends string>(
  provider: string,
  label: string,
  schemaOf: Readonly<Record<string, Name>>,
  more: readonly Name[],
): PayloadSchemas<Name> {
  const types = new Map<Name, Type>();
  const json = (name: Name): Schema =>
    JSON.parse(readFileSync(schemaPath('providers', provider, `${name}.avsc`), 'utf8')) as Schema;
  // Each schema is parsed once per process; a missing or broken one is a deployment error: it throws.
  const type = (name: Name): Type => {
    let parsed = types.get(name);
    if (parsed === undefined) {
      parsed = avro.Type.forSchema(json(name));
      types.set(name, parsed);
    }
    return parsed;
  };
  const check: PayloadSchemas<Name>['check'] = (name, body, providerType, pathOf = (p) => p) => {
    let first: { path: string[]; value: unknown; type: Type } | undefined;
    const valid = type(name).isValid(body, {
      errorHook: (path, value, t) => {
        first ??= { path, value: value as unknown, type: t };
      },
    });
    if (valid) return null;
    if (first === undefined || first.path.length === 0) {
      return {
        code: 'BODY_SHAPE',
        message: `${ERRORS.BODY_SHAPE.message} (${label} ${name})`,
        field_path: null,
        provider_type: providerType,
      };
    }
    const fieldPath = pathOf(first.path.join('.'));
    const code = first.value === undefined || first.value === null ? 'FIELD_MISSING' : 'FIELD_INVALID';
    return {
      code,
      message: `${ERRORS[code].message}: ${fieldPath} (expected ${describe(first.type)}, ${label} ${name})`,
      field_path: fieldPath,
      provider_type: providerType,
    };
  };
  return {
    names: [...Object.values(schemaOf), ...more],
    json,
    check,
    read<T>(name: Name, body: unknown, providerType: string | null, pathOf?: (path: string) => string): Step<T> {
      const failure = check(name, body, providerType, pathOf);
      return failure === null ? { ok: true, value: body as T } : { ok: false, failure };
    },
  };
}
