import { describe, expect, it } from 'vitest';
import { topicConfig } from '../../lib/log/kafka.js';

/** What KafkaLog hands the admin's createTopics for one topic (the local broker is single-node, so RF >= 3 is checked here). */
describe('Kafka topic settings', () => {
  const spec = { topic: 'sessionflow.raw.zoom.v1', partitions: 3, maxMessageBytes: 1_114_112 };
  const minInsync = (rf: number) =>
    topicConfig(spec, rf).configEntries?.find((e) => e.name === 'min.insync.replicas')?.value;

  it.each([
    { rf: 3, expected: '2' },
    { rf: 5, expected: '2' },
    { rf: 2, expected: undefined },
    { rf: 1, expected: undefined },
    { rf: -1, expected: undefined },
  ])('replication factor $rf: min.insync.replicas $expected', ({ rf, expected }) => {
    expect(minInsync(rf)).toBe(expected);
  });

  it('keeps the partitions, replication factor, max.message.bytes and compaction', () => {
    expect(topicConfig({ ...spec, compacted: true }, 3)).toEqual({
      topic: spec.topic,
      numPartitions: 3,
      replicationFactor: 3,
      configEntries: [
        { name: 'cleanup.policy', value: 'compact' },
        { name: 'max.message.bytes', value: '1114112' },
        { name: 'min.insync.replicas', value: '2' },
      ],
    });
  });
});
