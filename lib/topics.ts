import type { TopicSpec } from './log/types.js';
import { PROVIDERS } from './canonical.js';

/** Topic names of DESIGN section 3, under the configured prefix (default `sessionflow.`). */
export interface Topics {
  raw(provider: string): string;
  readonly allRaw: readonly string[];
  readonly events: string;
  readonly facts: string;
  readonly deadLetters: string;
  /** The topics with their settings; raw topics take a webhook of `rawBodyLimit` bytes plus its envelope. */
  specs(partitions: number, rawBodyLimit?: number): TopicSpec[];
}

export function topicsFor(prefix: string): Topics {
  const raw = (provider: string) => `${prefix}raw.${provider}.v1`;
  const events = `${prefix}events.v1`;
  const facts = `${prefix}facts.v1`;
  const deadLetters = `${prefix}deadletter.v1`;
  const allRaw = PROVIDERS.map(raw);
  return {
    raw,
    allRaw,
    events,
    facts,
    deadLetters,
    specs: (partitions, rawBodyLimit) => [
      ...allRaw.map((topic) => ({ topic, partitions, ...(rawBodyLimit && { maxMessageBytes: rawBodyLimit + 64 * 1024 }) })),
      { topic: events, partitions },
      { topic: facts, partitions, compacted: true },
      { topic: deadLetters, partitions },
    ],
  };
}

/** Subject of a topic's value schema in the registry (Confluent TopicNameStrategy). */
export const valueSubject = (topic: string) => `${topic}-value`;
