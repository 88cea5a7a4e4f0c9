import type { RawWebhook } from '../lib/canonical.js';
import type { AvroCodec, Serializer } from '../lib/avro.js';
import { SessionflowError } from '../lib/errors.js';
import type { Log } from '../lib/log/types.js';
import { valueSubject, type Topics } from '../lib/topics.js';

/** Where the ingest puts a verified delivery. Resolves only once the RawWebhook is durable. */
export interface RawSink {
  write(raw: RawWebhook, sessionKey: string | null): Promise<void>;
}

/**
 * Publishes RawWebhooks to `raw.<provider>.v1` in the Confluent wire format. Concurrent writes
 * are grouped by the log (one transaction in embedded mode, one produce request in Kafka mode).
 */
export async function createLogRawSink(log: Log, codec: AvroCodec, topics: Topics): Promise<RawSink> {
  const serializers = new Map<string, Serializer<RawWebhook>>();
  for (const topic of topics.allRaw)
    serializers.set(topic, await codec.serializer<RawWebhook>(valueSubject(topic), 'RawWebhook'));
  return {
    async write(raw, sessionKey) {
      const topic = topics.raw(raw.provider);
      const serializer = serializers.get(topic);
      if (!serializer) throw new SessionflowError('INTERNAL', `no raw topic for provider ${raw.provider}`);
      await log.publish(topic, [{ key: sessionKey ? Buffer.from(sessionKey) : null, value: serializer.encode(raw) }]);
    },
  };
}
