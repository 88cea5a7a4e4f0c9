import type { TopicSpec } from './log/types.js';
import { PROVIDERS } from './canonical.js';

/** Topic names of DESIGN section 3, under the configured prefix (default `sessionflow.`). */
export interface Topics {
  raw(provider: string): string;
  readonly allRaw: readonly string[];
  readonly events: string;
  readonly facts: string;
  readonly deadLetters: string;
  /** Erasure requests on their way to the warehouse writer (lib/erasure.ts): one partition, so they apply in order. */
  readonly erasures: string;
  /**
   * The topics with their settings; raw topics take a webhook of `rawBodyLimit` bytes plus its
   * envelope, and keep it `rawRetentionMs` (RAW_RETENTION_DAYS) when given.
   */
  specs(partitions: number, rawBodyLimit?: number, rawRetentionMs?: number): TopicSpec[];
  /**
   * A stage's consumer group: `sessionflow-<stage>` under the default prefix, `<prefix>sessionflow-<stage>`
   * under another, so pipelines with different prefixes on one cluster never share a group (the
   * group's leader would hand its own topics' partitions to members of the other pipeline, which
   * do not read them).
   */
  group(stage: 'normalize' | 'warehouse'): string;
}

export const DEFAULT_TOPIC_PREFIX = 'sessionflow.';

/**
 * The largest message events.v1 takes (its max.message.bytes): Kafka's default, 1 MiB, set on the
 * topic so both modes refuse the same events. normalize dead-letters an event whose key and value
 * come within 1 KiB of it (EVENT_TOO_LARGE) rather than let one such event stop the stage.
 */
export const EVENT_MAX_BYTES = 1024 * 1024;

export function topicsFor(prefix: string): Topics {
  const raw = (provider: string) => `${prefix}raw.${provider}.v1`;
  const events = `${prefix}events.v1`;
  const facts = `${prefix}facts.v1`;
  const deadLetters = `${prefix}deadletter.v1`;
  const erasures = `${prefix}erasures.v1`;
  const allRaw = PROVIDERS.map(raw);
  return {
    raw,
    allRaw,
    events,
    facts,
    deadLetters,
    erasures,
    group: (stage) => (prefix === DEFAULT_TOPIC_PREFIX ? `sessionflow-${stage}` : `${prefix}sessionflow-${stage}`),
    specs: (partitions, rawBodyLimit, rawRetentionMs) => [
      ...allRaw.map((topic) => ({
        topic,
        partitions,
        ...(rawBodyLimit && { maxMessageBytes: rawBodyLimit + 64 * 1024 }),
        ...(rawRetentionMs && { retentionMs: rawRetentionMs }),
      })),
      { topic: events, partitions, maxMessageBytes: EVENT_MAX_BYTES },
      { topic: facts, partitions, compacted: true },
      { topic: deadLetters, partitions },
      { topic: erasures, partitions: 1 },
    ],
  };
}

/** Subject of a topic's value schema in the registry (Confluent TopicNameStrategy). */
export const valueSubject = (topic: string) => `${topic}-value`;
