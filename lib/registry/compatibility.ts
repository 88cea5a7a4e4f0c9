import avro from 'avsc';

/**
 * BACKWARD compatibility as the Confluent registry defines it: a consumer using the new schema
 * can read data written with the previous one. avsc refuses to build a resolver otherwise.
 * Returns the reason when incompatible.
 */
export function backwardIncompatibility(newSchema: object, previousSchema: string): string | undefined {
  try {
    const reader = avro.Type.forSchema(newSchema as avro.Schema);
    const writer = avro.Type.forSchema(JSON.parse(previousSchema) as avro.Schema);
    reader.createResolver(writer);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** A stable text of a schema for "is this the same schema" (key order kept, whitespace dropped). */
export function schemaText(schema: object): string {
  return JSON.stringify(schema);
}
