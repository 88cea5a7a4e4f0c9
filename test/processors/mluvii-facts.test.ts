/**
 * A realistic mluvii session, as the webhook bodies of the reference would tell it, through the
 * adapter and the fold: a web chat that waits in the queue, is taken by an operator, upgraded to
 * audio/video, put on hold, forwarded to a second operator who ends it and does after-call work.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RawWebhook, SessionEvent } from '../../lib/canonical.js';
import { mluviiAdapter } from '../../processors/adapters/mluvii/index.js';
import { escapeControlCharsInStrings } from '../../lib/lenient-json.js';
import { foldSession } from '../../processors/sessionize/index.js';

const FIXTURES = new URL('../fixtures/mluvii/', import.meta.url);
const SESSION = 7400001;
const FIRST = 2710;
const SECOND = 4301;

/** A documented example body with this session's data laid over it. */
function body(eventType: string, data: Record<string, unknown>): string {
  const example = JSON.parse(
    escapeControlCharsInStrings(readFileSync(new URL(`${eventType}.json`, FIXTURES), 'utf8')),
  ) as { data: object };
  return JSON.stringify({ eventType, data: { ...example.data, ...data } });
}

interface Delivery {
  body: string;
  receivedAt: number;
}

/** UTC microseconds of a time with six fraction digits after a dot or a colon, computed apart from the adapter. */
function at(text: string): number {
  const [, seconds, fraction, zone] = /^(.*T\d\d:\d\d:\d\d)[.:](\d{6})(.*)$/.exec(text)!;
  return Date.parse(`${seconds}${zone}`) * 1000 + Number(fraction);
}
/** Delivered 300 ms after it happened. */
const timed = (eventType: string, time: string, data: Record<string, unknown> = {}, field = 'time'): Delivery => ({
  body: body(eventType, { ...data, [field]: time }),
  receivedAt: at(time) + 300_000,
});
const session = { id: SESSION, tenantId: 62, channel: 'Chat', source: 'Default' };
const activity = (activityId: number) => ({ sessionId: SESSION, activityId });

/** The life-cycle table's times (a colon before the fraction), the rest in the JSON examples' shape. */
const DELIVERIES: Delivery[] = [
  // SessionCreated states no time: it happened when it reached us.
  { body: body('SessionCreated', session), receivedAt: at('2024-05-02T06:58:59.100000+00:00') },
  timed('SessionStarted', '2024-05-02T08:58:58:888364+02:00', session, 'started'),
  timed('SessionActivityWelcomeMessage', '2024-05-02T08:58:59.020000+02:00', activity(60000001)),
  timed('SessionOperatorJoined', '2024-05-02T08:59:18:467643+02:00', { ...session, userId: FIRST }),
  timed('SessionActivityAvRequest', '2024-05-02T09:00:00.000000+02:00', { sessionId: SESSION, operatorId: FIRST }),
  timed('SessionActivityOnHold', '2024-05-02T09:01:00.250000+02:00', { ...activity(60000002), userId: FIRST }),
  timed('SessionActivityResumeGuest', '2024-05-02T09:01:30.750000+02:00', { ...activity(60000003), userId: FIRST }),
  timed('SessionActivityAvTerminated', '2024-05-02T09:02:00.000000+02:00', { sessionId: SESSION, operatorId: FIRST }),
  timed('SessionForwarded', '2024-05-02T09:02:26:568252+02:00', {
    ...session,
    userId: SECOND,
    operatorGroupId: null,
    chatbotId: null,
  }),
  // Forwarded away: concluded, never left (only the operator who ends the session gets SessionOperatorLeft).
  timed('SessionOperatorConcluded', '2024-05-02T09:02:26.600000+02:00', { ...session, userId: FIRST }),
  timed('SessionOperatorJoined', '2024-05-02T09:02:40.000000+02:00', { ...session, userId: SECOND }),
  timed('SessionActivitySessionEnded', '2024-05-02T09:13:07.965191+02:00', {
    ...activity(60000004),
    client: 'Guest',
    terminationReason: 'GuestLeft',
  }),
  timed('SessionEnded', '2024-05-02T09:13:07:965191+02:00', session, 'ended'),
  timed('SessionOperatorLeft', '2024-05-02T09:13:07:965191+02:00', { ...session, userId: SECOND }),
  timed('SessionOperatorConcluded', '2024-05-02T09:15:50:838056+02:00', { ...session, userId: SECOND }),
];

function normalize(delivery: Delivery, n = 0): SessionEvent[] {
  const raw: RawWebhook = {
    ingest_id: `01HWZ5Q6T3J8M2N4P6R8S0V${String(n).padStart(3, '0')}`,
    provider: 'mluvii',
    received_at: delivery.receivedAt,
    source: 'webhook',
    dedup_key: null,
    headers: {},
    content_type: 'application/json',
    body: Buffer.from(delivery.body),
  };
  const { events, failures } = mluviiAdapter.normalize(raw, { piiKey: 'test-pii-key' });
  expect(failures).toEqual([]);
  return events;
}

const inOrder = DELIVERIES.flatMap((d) => normalize(d));
const reference = foldSession(inOrder);
const seconds = (from: string, to: string) => (at(to) - at(from)) / 1e6;

describe('mluvii facts: a chat upgraded to audio/video, forwarded, ended with after-call work', () => {
  it('reads the numbers of DESIGN section 6 from it', () => {
    const startedAt = at('2024-05-02T06:58:58.888364+00:00');
    const endedAt = at('2024-05-02T07:13:07.965191+00:00');
    expect(reference.fact).toMatchObject({
      session_key: `mluvii:${SESSION}`,
      provider: 'mluvii',
      account_id: '62',
      session_id: String(SESSION),
      channel: 'chat',
      started_at: startedAt,
      ended_at: endedAt,
      status: 'ended',
      duration_seconds: seconds('2024-05-02T06:58:58.888364+00:00', '2024-05-02T07:13:07.965191+00:00'),
      // Queue time: from SessionStarted to the first operator's SessionOperatorJoined.
      wait_seconds: seconds('2024-05-02T06:58:58.888364+00:00', '2024-05-02T06:59:18.467643+00:00'),
      hold_seconds: 30.5,
      av_seconds: 120,
      // Only the second operator left (then concluded); the first was concluded without leaving.
      wrap_up_seconds: seconds('2024-05-02T07:13:07.965191+00:00', '2024-05-02T07:15:50.838056+00:00'),
      forwards: 1,
      messages: 1,
      agents: 2,
      guests: 1,
      end_reason: 'GuestLeft',
      unknown_events: 0,
    });
    expect(reference.fact.duration_seconds).toBeCloseTo(849.076827, 6);
    expect(reference.fact.wait_seconds).toBeCloseTo(19.579279, 6);
    expect(reference.fact.wrap_up_seconds).toBeCloseTo(162.872865, 6);
  });

  it('gives the same fact and spans however the deliveries are ordered and repeated', () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray(DELIVERIES, { minLength: DELIVERIES.length }),
        fc.array(fc.nat(DELIVERIES.length - 1), { maxLength: 10 }),
        (shuffled, repeats) => {
          // A redelivery: same body, a minute later, another ingest id.
          const again = repeats.map((i, n) =>
            normalize({ ...DELIVERIES[i]!, receivedAt: DELIVERIES[i]!.receivedAt + 60_000_000 }, n + 1),
          );
          const events = [...shuffled.flatMap((d) => normalize(d)), ...again.flat()];
          const { fact, spans } = foldSession(events);
          expect(fact).toEqual(reference.fact);
          expect(spans).toEqual(reference.spans);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('closes the span of an operator who was concluded without SessionOperatorLeft', () => {
    const first = reference.spans.find(
      (s) => s.role === 'agent' && s.joined_at === at('2024-05-02T06:59:18.467643+00:00'),
    );
    expect(first?.left_at).toBe(at('2024-05-02T07:02:26.600000+00:00'));
    expect(reference.fact.peak_concurrent).toBe(1);
  });

  it('counts one forward once when both SessionForwarded and SessionActivitySessionForwarded tell it', () => {
    const activityToo = timed('SessionActivitySessionForwarded', '2024-05-02T09:02:26.568000+02:00', {
      ...activity(60000005),
      client: 'User',
      userId: FIRST,
      toOperatorUserId: SECOND,
      toOperatorFullName: 'Jan Novák',
    });
    expect(foldSession([...inOrder, ...normalize(activityToo)]).fact.forwards).toBe(1);
  });
});
