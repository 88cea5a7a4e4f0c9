/**
 * Avro in the Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary.
 * The same bytes in embedded and Kafka mode, so any Confluent-Avro reader reads our topics.
 */
import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { SessionflowError } from './errors.js';
import { schemaPath } from './paths.js';
import type { Registry } from './registry/types.js';

export type AvroType = avro.Type;

/**
 * The largest magnitude avsc writes as a `long` from a JavaScript number: 2^53 - 2, one short of
 * Number.MAX_SAFE_INTEGER (past it `toBuffer` throws `invalid "long"`). A count or size read
 * from a provider must be checked against this, not against Number.isSafeInteger.
 */
export const AVRO_LONG_MAX = 9_007_199_254_740_990;

/** Whether a number is one avsc writes as a `long`. */
export function isAvroLong(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && Math.abs(value) <= AVRO_LONG_MAX;
}

const MAGIC = 0;

/** Our record schemas by name (schemas/<Name>.avsc). */
export const RECORD_SCHEMAS = ['RawWebhook', 'SessionEvent', 'SessionFact', 'DeadLetter', 'ErasureRequest'] as const;
export type RecordName = (typeof RECORD_SCHEMAS)[number];

const parsed = new Map<string, { json: object; type: AvroType }>();

export function loadSchema(name: RecordName): { json: object; type: AvroType } {
  let entry = parsed.get(name);
  if (!entry) {
    const json = JSON.parse(readFileSync(schemaPath(`${name}.avsc`), 'utf8')) as object;
    entry = { json, type: avro.Type.forSchema(json as avro.Schema) };
    parsed.set(name, entry);
  }
  return entry;
}

export interface Serializer<T> {
  readonly schemaId: number;
  encode(value: T): Buffer;
}

export interface Deserializer<T> {
  decode(message: Buffer): Promise<T>;
}

export function schemaIdOf(message: Buffer): number {
  if (message.length < 5 || message[0] !== MAGIC) {
    throw new SessionflowError('ENVELOPE_UNREADABLE', 'missing the Confluent wire-format header');
  }
  return message.readUInt32BE(1);
}

/**
 * Encoders and decoders bound to a registry. Encoding registers the reader schema once per
 * subject; decoding resolves whatever writer schema a message names onto our reader schema,
 * so old messages stay readable after a BACKWARD-compatible schema change.
 */
export class AvroCodec {
  private readonly resolvers = new Map<string, Promise<avro.Resolver | AvroType>>();

  constructor(private readonly registry: Registry) {}

  async serializer<T>(subject: string, name: RecordName): Promise<Serializer<T>> {
    const { json, type } = loadSchema(name);
    const schemaId = await this.registry.register(subject, json);
    const header = Buffer.alloc(5);
    header.writeUInt8(MAGIC, 0);
    header.writeUInt32BE(schemaId, 1);
    return {
      schemaId,
      encode(value: T): Buffer {
        return Buffer.concat([header, type.toBuffer(value)]);
      },
    };
  }

  deserializer<T>(name: RecordName): Deserializer<T> {
    const reader = loadSchema(name).type;
    return {
      decode: async (message: Buffer): Promise<T> => {
        const id = schemaIdOf(message);
        const resolver = await this.resolverFor(id, name, reader);
        try {
          return reader.fromBuffer(message.subarray(5), resolver as avro.Resolver, true) as T;
        } catch (cause) {
          throw new SessionflowError('ENVELOPE_UNREADABLE', `not a ${name} written with schema ${id}`, { cause });
        }
      },
    };
  }

  private resolverFor(id: number, name: string, reader: AvroType): Promise<avro.Resolver | AvroType> {
    const cacheKey = `${id}:${name}`;
    let pending = this.resolvers.get(cacheKey);
    if (!pending) {
      pending = this.registry.lookup(id).then((text) => {
        const writer = avro.Type.forSchema(JSON.parse(text) as avro.Schema);
        return reader.createResolver(writer);
      });
      pending.catch(() => this.resolvers.delete(cacheKey));
      this.resolvers.set(cacheKey, pending);
    }
    return pending;
  }
}
