/**
 * normalize's path as a whole against poison: a provider body as the ingest wraps it
 * (ingest/envelope.ts), through the RawWebhook Avro round trip the raw topic makes, normalized
 * (normalizeRaw), each event encoded as SessionEvent and each failure as a DeadLetter. Nothing
 * throws: every event encodes and reads back the same, every failure becomes a dead letter.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadSchema } from '../../lib/avro.js';
import { PROVIDERS, type RawWebhook, type SessionEvent } from '../../lib/canonical.js';
import { wrap } from '../../ingest/envelope.js';
import { deadLetterOf } from '../../processors/dead-letters.js';
import { normalizeRaw } from '../../processors/normalize.js';
import {
  arbitraryBody,
  expectNoPollution,
  expectSound,
  mutatedFixture,
  PII_KEY,
  RECEIVED_AT,
} from '../helpers/poison.js';

const RUNS = Number(process.env.POISON_RUNS ?? 200);
const rawType = loadSchema('RawWebhook').type;
const eventType = loadSchema('SessionEvent').type;
const deadType = loadSchema('DeadLetter').type;

/** What normalize reads from raw.<provider>.v1 for a delivery the ingest accepted. */
function delivered(provider: string, body: string | Buffer): RawWebhook {
  const raw = wrap({
    provider,
    source: 'webhook',
    receivedAt: RECEIVED_AT,
    dedupKey: null,
    headers: { 'content-type': 'application/json', 'user-agent': 'poison', authorization: 'Basic c2VjcmV0' },
    body: Buffer.isBuffer(body) ? body : Buffer.from(body),
  });
  return rawType.fromBuffer(rawType.toBuffer(raw)) as RawWebhook;
}

function normalizeAndEncode(raw: RawWebhook): void {
  const result = normalizeRaw(raw, PII_KEY);
  expectSound(result);
  for (const event of result.events) {
    const back = eventType.fromBuffer(eventType.toBuffer(event)) as SessionEvent;
    expect(back.event_id).toBe(event.event_id);
    expect(back.occurred_at).toBe(event.occurred_at);
  }
  for (const failure of result.failures) deadType.toBuffer(deadLetterOf(raw, failure));
  expectNoPollution();
}

const provider = fc.constantFrom<string>(...PROVIDERS);

describe('normalize against poison', () => {
  it('encodes whatever comes of mutated fixtures of every provider', () => {
    fc.assert(
      fc.property(
        provider.chain((p) => fc.tuple(fc.constant(p), mutatedFixture(p))),
        ([p, { body }]) => normalizeAndEncode(delivered(p, body)),
      ),
      { numRuns: RUNS },
    );
  });

  it('encodes whatever comes of arbitrary bodies, for known providers and others', () => {
    fc.assert(
      fc.property(fc.oneof(provider, fc.constantFrom('unknown', '__proto__', '')), arbitraryBody, (p, body) =>
        normalizeAndEncode(delivered(p, body)),
      ),
      { numRuns: RUNS },
    );
  });
});
