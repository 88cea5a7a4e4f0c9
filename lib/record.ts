/**
 * How a record of ours (SessionFact, SessionEvent, ParticipantSpan, RawWebhook, DeadLetter,
 * ErasureRequest) is declared: once, as a TypeScript object of its fields in column order.
 *
 *   export const DEAD_LETTER_FIELDS = { ingest_id: field.string, field_path: field.nullable(field.string), ... };
 *   export interface DeadLetter extends RecordOf<typeof DEAD_LETTER_FIELDS> {}
 *
 * (an interface rather than a type alias, so that editors and compiler errors say `DeadLetter`).
 * Derived from the declaration: the TypeScript type, the column order (Object.keys, which is the
 * order of the `.avsc`), and the reading of a query's row into the record (ResultRow.record in
 * lib/duckdb.ts, which checks each column's type).
 *
 * Why TypeScript and not the `.avsc`: an `.avsc` gives the compiler no type without a code
 * generator, and a declaration is plain code a reader can follow. The `.avsc` (schemas/, whose
 * field docs travel to the registry) and sql/warehouse.sql (the DDL analysts read) stay written by
 * hand, because each says more than the fields (docs and defaults; keys and migrations), and so
 * do the dataset views; test/lib/records.test.ts holds them to the declarations: the same fields,
 * in the same order, of the same types and nullability.
 *
 * A field's TypeScript type travels in a property that is never set (`value`) and only the type
 * system reads; its `avro` says what it is on the wire.
 */
import type { Micros } from './time.js';

/** The Avro type of a field (logical types by their logical name): what the `.avsc` says. */
export type AvroKind =
  | 'string'
  | 'long'
  | 'double'
  | 'boolean'
  | 'bytes'
  | 'timestamp-micros'
  | 'map'
  | 'enum'
  | 'record';

export interface Field<T = unknown> {
  readonly avro: AvroKind;
  /** A union with null in the `.avsc`, a column without NOT NULL in the warehouse. */
  readonly nullable: boolean;
  /** The only values a string or an enum may hold (the TypeScript type is their union). */
  readonly values?: readonly string[];
  /** The Avro name of an enum or a record type. */
  readonly name?: string;
  /** The fields of a record type. */
  readonly fields?: Fields;
  /** Never set: the TypeScript type of the value, for RecordOf. */
  readonly value?: T;
}

export type Fields = Readonly<Record<string, Field>>;

/** The TypeScript type of a record declared by `F`. */
export type RecordOf<F extends Fields> = { -readonly [K in keyof F]: F[K] extends Field<infer T> ? T : never };

const plain = <T>(avro: AvroKind): Field<T> => ({ avro, nullable: false });

export const string = plain<string>('string');
export const long = plain<number>('long');
export const double = plain<number>('double');
export const boolean = plain<boolean>('boolean');
export const bytes = plain<Buffer>('bytes');
/** UTC microseconds since the epoch (Avro long, logicalType timestamp-micros; a TIMESTAMP column). */
export const timestamp = plain<Micros>('timestamp-micros');
/** An Avro map of strings (a MAP(VARCHAR, VARCHAR) column). */
export const stringMap = plain<Record<string, string>>('map');

/** A string that is one of `values` (an Avro string: the `.avsc` does not close the list). */
export function oneOf<const V extends readonly string[]>(values: V): Field<V[number]> {
  return { avro: 'string', nullable: false, values };
}

/** An Avro enum named `name`. */
export function avroEnum<const V extends readonly string[]>(name: string, symbols: V): Field<V[number]> {
  return { avro: 'enum', nullable: false, name, values: symbols };
}

/** A record nested in another, an Avro record type named `name`. */
export function record<F extends Fields>(name: string, fields: F): Field<RecordOf<F>> {
  return { avro: 'record', nullable: false, name, fields };
}

export function nullable<T>(field: Field<T>): Field<T | null> {
  return { ...field, nullable: true };
}

/** `value` with its keys in the order of `fields`, so a record reads and prints the same wherever it was made. */
export function inFieldOrder<F extends Fields>(fields: F, value: RecordOf<F>): RecordOf<F> {
  return Object.fromEntries(Object.keys(fields).map((key) => [key, value[key]])) as RecordOf<F>;
}
