/**
 * The fold against poison: any set of events that fits SessionEvent (what the warehouse reads
 * from events.v1), with extreme times and sizes, missing or odd participants, types no adapter
 * emits and keys like `__proto__`, folds without throwing into a fact that fits SessionFact, and
 * the same one for any order and repetition of the events.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AVRO_LONG_MAX, loadSchema } from '../../lib/avro.js';
import { CANONICAL_TYPES, type CanonicalType, type SessionEvent } from '../../lib/canonical.js';
import { TIME_RANGE } from '../../lib/time.js';
import { foldSession } from '../../processors/sessionize/index.js';
import { distinctInFoldOrder } from '../../processors/sessionize/order.js';
import { expectNoPollution, sessionEventMismatch } from '../helpers/poison.js';

const RUNS = Number(process.env.POISON_RUNS ?? 300);
const factType = loadSchema('SessionFact').type;
const DAY = Date.UTC(2024, 4, 2) * 1000;

/** Any number avsc writes as a long (see AVRO_LONG_MAX). */
const long = fc.integer({ min: -AVRO_LONG_MAX, max: AVRO_LONG_MAX });
const time = fc.oneof(
  // A few whole seconds: ties are common, as with Apizee's `time`.
  { arbitrary: fc.integer({ min: 0, max: 3 }).map((s) => DAY + s * 1_000_000), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: 3_600 }).map((s) => DAY + s * 1_000_000), weight: 2 },
  {
    arbitrary: fc.constantFrom(
      -AVRO_LONG_MAX,
      AVRO_LONG_MAX,
      0,
      -1,
      -0,
      TIME_RANGE.from,
      TIME_RANGE.until - 1,
      Date.UTC(2255, 0, 1) * 1000,
      Date.UTC(1700, 0, 1) * 1000,
    ),
    weight: 2,
  },
  { arbitrary: long, weight: 1 },
);
const size = fc.option(
  fc.oneof(
    fc.integer({ min: 0, max: 1_000_000 }),
    fc.constantFrom(AVRO_LONG_MAX, -AVRO_LONG_MAX, -1, -0, 2 ** 52),
    long,
  ),
);
const text = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '__proto__',
    'constructor',
    'toString',
    '\u0000',
    '\ud800',
    'done',
    'closed',
    'cancelled',
    'expired',
    'inprogress',
    'left',
    'Guest',
  ),
  fc.string({ maxLength: 8 }),
);
const type = fc.oneof(
  { arbitrary: fc.constantFrom<CanonicalType>(...CANONICAL_TYPES), weight: 8 },
  // Types no adapter emits (a newer producer's, or nonsense): the fold must still read them.
  {
    arbitrary: fc.constantFrom<string>(
      'bogus.type',
      '',
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      'valueOf',
    ) as fc.Arbitrary<CanonicalType>,
    weight: 2,
  },
);
const participant = fc.option(
  fc.record({
    key: fc.constantFrom('a', 'b', 'c', '', '__proto__', 'constructor', 'toString'),
    role: fc.option(fc.constantFrom('host', 'agent', 'guest', 'chatbot', 'system', 'weird', '__proto__')),
    provider_user_id: fc.option(text),
  }),
  { freq: 3 },
);

const eventArb = (sessionKey: string) =>
  fc.record({
    event_id: fc.oneof(
      fc.constantFrom(
        'e1',
        'e2',
        '__proto__',
        'constructor',
        '01HWTCTT509VV8X9XYGPTR5N8Q',
        'ZZZZZZZZZZZZZZZZZZZZZZZZZZ',
      ),
      fc.string({ maxLength: 6 }),
    ),
    ingest_id: fc.string({ maxLength: 4 }),
    provider: fc.constantFrom(sessionKey.split(':')[0]!, 'zoom', 'unknown', ''),
    account_id: fc.option(text),
    session_key: fc.constant(sessionKey),
    session_id: fc.option(text),
    session_name: fc.option(text),
    channel: fc.option(fc.constantFrom('video', 'chat', 'phone', 'email', 'ticket', 'weird')),
    type,
    provider_type: text,
    provider_event_id: fc.option(
      fc.oneof(
        text,
        fc.constantFrom(
          '1',
          '9007199254740993',
          '-1',
          '1e400',
          '01HWTCTT509VV8X9XYGPTR5N8Q',
          'ZZZZZZZZZZZZZZZZZZZZZZZZZZ',
        ),
      ),
    ),
    occurred_at: time,
    received_at: time,
    participant,
    reason: fc.option(text),
    state: fc.option(text),
    scope: fc.option(fc.constantFrom('session', 'geolocation', 'camera', 'microphone', 'media', 'weird', '__proto__')),
    bytes: size,
    count: size,
    score: fc.option(fc.oneof(fc.constantFrom(1, 2, 3), fc.double())),
    attributes: fc.dictionary(
      fc.constantFrom('issue', 'kind', 'conversation_id', 'product_ids', '__proto__', 'constructor'),
      text,
      { maxKeys: 3 },
    ),
  }) as fc.Arbitrary<SessionEvent>;

const sessionKey = fc.constantFrom(
  'zoom:p',
  'apizee:p',
  'mluvii:p',
  'mluvii:email:p',
  'jifeline:p',
  'other:p',
  '__proto__',
  '',
  'zoom:',
);
const sessionArb = sessionKey.chain((key) => fc.array(eventArb(key), { minLength: 1, maxLength: 30 }));

function factMismatch(fact: unknown): string | null {
  let path: string | null = null;
  return factType.isValid(fact, { errorHook: (at, value) => (path ??= `${at.join('.')} = ${String(value)}`) })
    ? null
    : path;
}

const OPTIONS = { idleHorizonMicros: 20_000_000, nowMicros: DAY + 45_000_000 };

describe('foldSession against poison', () => {
  it('generates only events that fit SessionEvent', () => {
    fc.assert(
      fc.property(sessionArb, (events) => events.every((e) => sessionEventMismatch(e) === null)),
      { numRuns: 100 },
    );
  });

  it('folds any set of events into a fact that fits SessionFact, with sound spans', () => {
    fc.assert(
      fc.property(sessionArb, fc.boolean(), (events, withClock) => {
        const { fact, spans } = foldSession(events, withClock ? OPTIONS : {});
        expect(factMismatch(fact)).toBeNull();
        for (const span of spans) {
          expect(Number.isSafeInteger(span.joined_at)).toBe(true);
          expect(span.left_at === null || Number.isSafeInteger(span.left_at)).toBe(true);
          expect(span.duration_seconds === null || Number.isFinite(span.duration_seconds)).toBe(true);
        }
        expectNoPollution();
      }),
      { numRuns: RUNS },
    );
  });

  it('puts the same events in one order, whatever order they come in', () => {
    fc.assert(
      fc.property(
        sessionArb.chain((events) =>
          fc.tuple(fc.constant(events), fc.shuffledSubarray(events, { minLength: events.length })),
        ),
        ([events, shuffled]) => {
          expect(distinctInFoldOrder(shuffled).map((e) => e.event_id)).toEqual(
            distinctInFoldOrder(events).map((e) => e.event_id),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('gives the same fact for any order and repetition of the same events', () => {
    fc.assert(
      fc.property(
        sessionArb.chain((events) =>
          fc.tuple(fc.constant(events), fc.shuffledSubarray([...events, ...events], { minLength: events.length * 2 })),
        ),
        ([events, delivered]) => {
          expect(foldSession(delivered, OPTIONS)).toEqual(foldSession(events, OPTIONS));
        },
      ),
      { numRuns: RUNS },
    );
  });
});
