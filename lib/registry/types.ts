/**
 * Schema registry: Avro schemas by subject (`<topic>-value`) with numeric ids, as the
 * Confluent wire format needs. Embedded mode keeps them in DATA_DIR/log/registry.json; Kafka mode
 * uses a Confluent-compatible registry. Both run test/lib/registry-contract.ts.
 */
export interface Registry {
  /** Registers the schema under the subject (idempotent) and returns its id. Rejects a change that breaks BACKWARD compatibility. */
  register(subject: string, schema: object): Promise<number>;
  /** The schema (canonical JSON text) with this id. */
  lookup(id: number): Promise<string>;
  close(): Promise<void>;
}
