/**
 * Poison for property tests: values that have broken parsers and encoders elsewhere, mutations
 * of the golden fixtures that put them anywhere in a provider body, and the checks that what an
 * adapter returns for them is sound (DESIGN section 8: no input crashes a worker; data errors
 * become dead letters).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import { loadSchema } from '../../lib/avro.js';
import type { RawWebhook, SessionEvent } from '../../lib/canonical.js';
import { ERRORS } from '../../lib/errors.js';
import { projectRoot } from '../../lib/paths.js';
import { inTimeRange } from '../../lib/time.js';
import type { NormalizeResult } from '../../processors/adapters/types.js';

// ---------------------------------------------------------------------------------------
// JSON text with number tokens JSON.stringify cannot write (1e400 parses to Infinity,
// 9007199254740993 to 2^53): a placeholder string in the tree, the token in the text.

const RAW_PREFIX = '\u0001raw-json:';
const rawToken = (text: string): string => `${RAW_PREFIX}${text}`;
const RAW_IN_TEXT = /"\\u0001raw-json:([^"]*)"/g;

/** JSON.stringify, with raw number tokens (see rawToken) written as they are. */
export function toJsonText(value: unknown): string {
  return (JSON.stringify(value) ?? 'null').replace(RAW_IN_TEXT, (_m, token: string) => token);
}

/** An object with an own `__proto__` (or any) key, as JSON.parse would make it. */
export function ownKeyed(key: string, value: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

// ---------------------------------------------------------------------------------------
// Poison values.

const extremeNumbers = fc.constantFrom<unknown>(
  1e308,
  -1e308,
  1.7976931348623157e308,
  9e15,
  -9e15,
  -0,
  2 ** 53 + 1,
  2 ** 53,
  -(2 ** 53) - 1,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
  -1,
  0,
  0.5,
  -0.5,
  1.5,
  5e-324,
  1e11,
  99_999_999_999,
  253_402_300_799,
  253_402_300_799_000,
  -62_135_596_800_000,
  16_725_225_600_000,
  4_102_444_800_000,
  1e21,
  1e300,
  rawToken('1e400'),
  rawToken('-1e400'),
  rawToken('1e-400'),
  rawToken('9007199254740993'),
  rawToken('123456789012345678901234567890'),
  rawToken('-0'),
  rawToken('1E+308'),
  rawToken('0.00000000000000000001'),
);

/** Timestamps far outside what the providers send: the year 9999, before 1970, and invalid dates. */
export const extremeTimes = fc.constantFrom<unknown>(
  '9999-12-31T23:59:59Z',
  '9999-12-31T23:59:59.999999+14:00',
  '9999-12-31T23:59:59:999999-23:59',
  '2500-01-01T00:00:00Z',
  '2100-01-01T00:00:00Z',
  '2099-12-31T23:59:59.999999Z',
  '1969-12-31T23:59:59Z',
  '1970-01-01T00:00:00Z',
  '1999-12-31T23:59:59.999999+00:00',
  '0000-01-01T00:00:00Z',
  '0001-01-01T00:00:00+02:00',
  '1899-12-31T23:59:59-12:00',
  '2024-02-30T10:00:00Z',
  '2024-05-02T24:00:00Z',
  '2024-05-02T10:00:00+99:99',
  '2024-05-02T10:00:00.9999999999Z',
  '+275760-09-13T00:00:00Z',
  '2024-05-02',
  '7ZZZZZZZZZZZZZZZZZZZZZZZZZ',
  '00000000000000000000000000',
  'ZZZZZZZZZZZZZZZZZZZZZZZZZZ',
);

const oddStrings = fc.constantFrom<unknown>(
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\ud83d',
  '\ud83d\ude00',
  '\u2028\u2029',
  '\\',
  '"',
  '%00',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  'session.started',
  'Guest',
  'User',
  'Chatbot',
  'very satisfied',
);

const wrongTypes = fc.oneof(
  fc.constantFrom<unknown>(null, true, false, {}, [], '', 0, 'x', [null], [[]], { id: null }),
  fc.jsonValue({ maxDepth: 2 }),
);

const protoObjects = fc.constantFrom<unknown>(
  JSON.parse('{"__proto__": {"polluted": "yes"}}'),
  JSON.parse('{"constructor": {"prototype": {"polluted": "yes"}}}'),
  JSON.parse('{"prototype": {"polluted": "yes"}, "__proto__": []}'),
  JSON.parse('{"__proto__": null}'),
  JSON.parse('{"id": "1", "__proto__": {"id": "2", "polluted": "yes"}}'),
);

/** Long strings and huge arrays: rare, they cost time. */
const heavy = fc.oneof(
  fc.constantFrom(1_000, 100_000, 1_000_000).map((n) => 'x'.repeat(n)),
  fc
    .constantFrom(10_000, 30_000)
    .chain((n) =>
      fc
        .constantFrom<unknown>(
          'x',
          1,
          null,
          {},
          { id: '1' },
          { file_size: 1e15, file_type: 'MP4' },
          'Unstable audio quality',
        )
        .map((item) => new Array<unknown>(n).fill(item)),
    ),
  fc.constant(20_000).map((n) => Array.from({ length: n }, (_, i) => `issue-${i}`)),
  fc.constant(20_000).map((n) => Array.from({ length: n }, (_, i) => ({ id: i, answer: 'Satisfied' }))),
);

/** Any one poison value. */
export const poison: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: extremeNumbers, weight: 4 },
  { arbitrary: extremeTimes, weight: 4 },
  { arbitrary: oddStrings, weight: 3 },
  { arbitrary: wrongTypes, weight: 4 },
  { arbitrary: protoObjects, weight: 2 },
  { arbitrary: fc.oneof(fc.double(), fc.integer(), fc.maxSafeInteger(), fc.string({ unit: 'binary' })), weight: 2 },
  { arbitrary: heavy, weight: 1 },
);

const oddKeys = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '',
  '\u0000',
  'polluted',
);

// ---------------------------------------------------------------------------------------
// Mutations of a JSON document.

type Path = ReadonlyArray<string | number>;

function pathsOf(value: unknown, path: Path = [], out: Path[] = []): Path[] {
  if (Array.isArray(value))
    value.forEach((item, i) => {
      out.push([...path, i]);
      pathsOf(item, [...path, i], out);
    });
  else if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      out.push([...path, key]);
      pathsOf((value as Record<string, unknown>)[key], [...path, key], out);
    }
  }
  return out;
}

function containersOf(value: unknown): Path[] {
  const isObject = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  return [[], ...pathsOf(value)].filter((p) => isObject(get(value, p)));
}

function get(root: unknown, path: Path): unknown {
  let here = root;
  for (const key of path) here = (here as Record<string | number, unknown>)[key];
  return here;
}

/** Sets an own data property (so `__proto__` is a key, as JSON.parse makes it, not the prototype). */
function put(target: object, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

export type Mutation =
  | { kind: 'replace'; at: number; value: unknown }
  | { kind: 'same-kind'; at: number; number: unknown; text: unknown; copies: number }
  | { kind: 'insert'; at: number; key: string; value: unknown }
  | { kind: 'delete'; at: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: poison }), weight: 6 },
  {
    arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), key: oddKeys, value: poison }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant('same-kind' as const),
      at: fc.nat(),
      number: extremeNumbers,
      text: fc.oneof(
        extremeTimes,
        oddStrings,
        fc.constantFrom(1_000, 100_000).map((n) => 'y'.repeat(n)),
      ),
      copies: fc.oneof(
        { arbitrary: fc.constant(2), weight: 4 },
        { arbitrary: fc.constant(1_000), weight: 2 },
        { arbitrary: fc.constant(20_000), weight: 1 },
      ),
    }),
    weight: 4,
  },
);

/**
 * A value of the same JSON kind as `value`, so that it still fits the provider's schema: an
 * extreme number for a number, an odd string or time for a string, an array of many copies of
 * its first item for an array.
 */
function sameKind(value: unknown, m: Extract<Mutation, { kind: 'same-kind' }>): unknown {
  if (typeof value === 'number') return m.number;
  if (typeof value === 'string') return m.text;
  if (Array.isArray(value) && value.length > 0) return Array.from({ length: m.copies }, () => copy(value[0]));
  return value;
}

/** A fresh copy of a poison value, so no two places (or runs) share one object. */
const copy = (value: unknown): unknown =>
  value !== null && typeof value === 'object' ? JSON.parse(JSON.stringify(value)) : value;

/** Applies a mutation to a document in place (the root itself is never replaced). */
export function mutate(doc: unknown, m: Mutation): void {
  if (m.kind === 'replace' || m.kind === 'insert') m = { ...m, value: copy(m.value) };
  if (m.kind === 'insert') {
    const containers = containersOf(doc);
    if (containers.length === 0) return;
    put(get(doc, containers[m.at % containers.length]!) as object, m.key, m.value);
    return;
  }
  const paths = pathsOf(doc);
  if (paths.length === 0) return;
  const path = paths[m.at % paths.length]!;
  const parent = get(doc, path.slice(0, -1)) as Record<string | number, unknown>;
  const key = path[path.length - 1]!;
  if (m.kind === 'replace') put(parent, key, m.value);
  else if (m.kind === 'same-kind') put(parent, key, sameKind(parent[key], m));
  else if (Array.isArray(parent)) parent.splice(key as number, 1);
  else delete parent[key];
}

// ---------------------------------------------------------------------------------------
// Golden fixtures.

export interface Fixture {
  name: string;
  text: string;
}

/** Every body under test/fixtures/<provider>/ (the expected outputs left out). */
export function fixtures(provider: string): Fixture[] {
  const dir = join(projectRoot(), 'test/fixtures', provider);
  return readdirSync(dir)
    .filter((f) => !f.endsWith('.expected.json') && (f.endsWith('.json') || f.endsWith('.txt')))
    .sort()
    .map((name) => ({ name, text: readFileSync(join(dir, name), 'utf8') }));
}

/** A fixture body with 1..3 mutations, as the JSON text a provider would send. */
export function mutatedFixture(provider: string): fc.Arbitrary<{ name: string; body: string }> {
  const all = fixtures(provider).filter((f) => {
    try {
      return JSON.parse(f.text) !== undefined;
    } catch {
      return false; // a fixture that is not JSON as sent (a provider quirk) is read as it is, not mutated
    }
  });
  return fc
    .record({ fixture: fc.constantFrom(...all), mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }) })
    .map(({ fixture, mutations }) => {
      const doc = JSON.parse(fixture.text) as unknown;
      for (const m of mutations) mutate(doc, m);
      return { name: fixture.name, body: toJsonText(doc) };
    });
}

/** Arbitrary JSON bodies: any JSON value, objects with odd keys, and bytes that are not JSON at all. */
export const arbitraryBody: fc.Arbitrary<string | Buffer> = fc.oneof(
  fc.jsonValue().map((v) => toJsonText(v)),
  fc.dictionary(fc.oneof(oddKeys, fc.string()), poison, { maxKeys: 6 }).map((entries) => {
    const doc: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(entries)) put(doc, key, copy(value));
    return toJsonText(doc);
  }),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc.constantFrom(
    '',
    ' ',
    'null',
    '[]',
    '{',
    '{"a":',
    '\ufeff{}',
    '{"__proto__":{"polluted":"yes"}}',
    '{"event":"session.started"}',
  ),
);

// ---------------------------------------------------------------------------------------
// What an adapter returns, checked.

const ERROR_CODES = new Set(Object.keys(ERRORS));
const PROTOTYPES: Array<[string, object]> = [
  ['Object', Object.prototype],
  ['Array', Array.prototype],
  ['Function', Function.prototype],
  ['String', String.prototype],
];
const ownNames = new Map(PROTOTYPES.map(([name, proto]) => [name, Object.getOwnPropertyNames(proto).sort().join(',')]));

/** Fails when any built-in prototype has gained (or lost) a property, or `({}).polluted` is set. */
export function expectNoPollution(): void {
  expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  expect(([] as unknown as { polluted?: unknown }).polluted).toBeUndefined();
  for (const [name, proto] of PROTOTYPES)
    expect(Object.getOwnPropertyNames(proto).sort().join(','), `${name}.prototype`).toBe(ownNames.get(name));
}

/** The first field path at which a value does not fit SessionEvent, or null when it fits. */
export function sessionEventMismatch(event: unknown): string | null {
  let path: string | null = null;
  const valid = loadSchema('SessionEvent').type.isValid(event, {
    errorHook: (at) => (path ??= at.join('.') || '(record)'),
  });
  return valid ? null : (path ?? '(record)');
}

const plain = (value: unknown): boolean =>
  value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype;

/**
 * The adapter's answer is sound: events and failures as arrays; every event fits SessionEvent,
 * has a time in the accepted range and plain-object records (an attributes map whose prototype
 * a `__proto__` key replaced would encode without its entries); every failure has a code of the
 * closed list and a message that does not quote `secret` (a long body value) back.
 */
export function expectSound(result: NormalizeResult, secret?: string): void {
  expect(Array.isArray(result.events)).toBe(true);
  expect(Array.isArray(result.failures)).toBe(true);
  for (const event of result.events) {
    expect(sessionEventMismatch(event), `event ${event.type} does not fit SessionEvent`).toBeNull();
    expect(inTimeRange(event.occurred_at), `occurred_at ${event.occurred_at}`).toBe(true);
    expect(plain(event) && plain(event.attributes) && (event.participant === null || plain(event.participant))).toBe(
      true,
    );
  }
  for (const failure of result.failures) {
    expect(ERROR_CODES, failure.message).toContain(failure.code);
    expect(typeof failure.message).toBe('string');
    expect(failure.field_path === null || typeof failure.field_path === 'string').toBe(true);
    expect(failure.provider_type === null || typeof failure.provider_type === 'string').toBe(true);
    if (secret !== undefined)
      expect(failure.message.includes(secret), 'the failure message quotes a body value').toBe(false);
  }
}

export const PII_KEY = 'poison-pii-key';
export const RECEIVED_AT = Date.UTC(2024, 4, 2, 16) * 1000;

export function rawOf(provider: string, body: string | Buffer): RawWebhook {
  return {
    ingest_id: '01HWZ5Q6T3J8M2N4P6R8S0V2X4',
    provider,
    received_at: RECEIVED_AT,
    source: 'webhook',
    dedup_key: null,
    headers: {},
    content_type: 'application/json',
    body: Buffer.isBuffer(body) ? body : Buffer.from(body),
  };
}

export type { SessionEvent };
