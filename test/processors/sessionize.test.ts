import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CanonicalType, ConsentScope, Role, SessionEvent } from '../../lib/canonical.js';
import { AVRO_LONG_MAX, loadSchema } from '../../lib/avro.js';
import { foldSession } from '../../processors/sessionize/index.js';
import { distinctInFoldOrder, precedence } from '../../processors/sessionize/order.js';

// ---------------------------------------------------------------------------------------
// Helpers: small events on 2024-05-02, times written as 'HH:MM' or 'HH:MM:SS' (UTC).

const DAY = Date.UTC(2024, 4, 2) * 1000;
const MIN = 60_000_000;

function t(clock: string): number {
  const [h = 0, m = 0, s = 0] = clock.split(':').map(Number);
  return DAY + ((h * 60 + m) * 60 + s) * 1_000_000;
}

interface Who {
  key: string;
  role?: Role | null;
  provider_user_id?: string;
}

type Extra = Partial<Omit<SessionEvent, 'participant'>> & { who?: Who; tag?: string };

const SESSION = 'zoom:s1';

/** One event; its event_id is derived from what it is, so building it twice gives a redelivery. */
function ev(type: CanonicalType, clock: string | number, extra: Extra = {}): SessionEvent {
  const { who, tag = '', ...rest } = extra;
  const occurredAt = typeof clock === 'number' ? clock : t(clock);
  const sessionKey = rest.session_key ?? SESSION;
  return {
    event_id: `${sessionKey}|${type}|${occurredAt}|${who?.key ?? ''}|${tag}`,
    ingest_id: `ing-${occurredAt}`,
    provider: sessionKey.split(':')[0]!,
    account_id: null,
    session_key: sessionKey,
    session_id: null,
    session_name: null,
    channel: null,
    type,
    provider_type: type,
    provider_event_id: null,
    occurred_at: occurredAt,
    received_at: occurredAt + 1_000_000,
    participant: who ? { key: who.key, role: who.role ?? null, provider_user_id: who.provider_user_id ?? null } : null,
    reason: null,
    state: null,
    scope: null,
    bytes: null,
    count: null,
    score: null,
    attributes: {},
    ...rest,
  };
}

const host: Who = { key: 'p-host', role: 'host' };
const agent: Who = { key: 'p-agent', role: 'agent' };
const guest = (n: number): Who => ({ key: `p-guest-${n}`, role: 'guest' });

/** A plain Zoom call: host 10:00-10:30, guest 10:02-10:20, ended 10:30. */
function basicCall(): SessionEvent[] {
  return [
    ev('session.created', '09:59', { session_id: 's1', account_id: 'acc', session_name: 'Support call' }),
    ev('session.started', '10:00'),
    ev('participant.joined', '10:00', { who: host }),
    ev('participant.joined', '10:02', { who: guest(1) }),
    ev('participant.left', '10:20', { who: guest(1), reason: 'left the session' }),
    ev('participant.left', '10:30', { who: host, reason: 'host ended' }),
    ev('session.ended', '10:30'),
  ];
}

const fold = (events: readonly SessionEvent[], options?: Parameters<typeof foldSession>[1]) =>
  foldSession(events, options);

// ---------------------------------------------------------------------------------------

describe('foldSession: identity', () => {
  it('takes session_key, provider, account_id, session_id, name, channel from the events', () => {
    const { fact } = fold(basicCall());
    expect(fact).toMatchObject({
      session_key: SESSION,
      provider: 'zoom',
      account_id: 'acc',
      session_id: 's1',
      name: 'Support call',
      channel: 'video',
    });
  });

  it('takes the first non-null value in fold order', () => {
    const { fact } = fold([
      ev('session.started', '10:00', { account_id: null, session_name: 'first' }),
      ev('participant.joined', '10:01', { who: host, account_id: 'acc-1', session_name: 'second', channel: 'chat' }),
      ev('session.updated', '10:02', { account_id: 'acc-2', channel: 'phone' }),
    ]);
    expect(fact).toMatchObject({ account_id: 'acc-1', name: 'first', channel: 'chat' });
  });

  it.each([
    ['zoom:a', 'video'],
    ['apizee:42', 'ticket'],
    ['jifeline:t-1', 'ticket'],
    ['mluvii:7293902', null],
    ['mluvii:email:88', 'email'],
  ])('defaults the channel of %s to %s', (key, channel) => {
    expect(fold([ev('session.updated', '10:00', { session_key: key })]).fact.channel).toBe(channel);
  });

  it('refuses an empty event list', () => {
    expect(() => fold([])).toThrow(RangeError);
  });
});

describe('foldSession: created_at, started_at, ended_at', () => {
  it('uses session.created/ticket.created, session.started and session.ended', () => {
    const { fact } = fold(basicCall());
    expect(fact.created_at).toBe(t('09:59'));
    expect(fact.started_at).toBe(t('10:00'));
    expect(fact.ended_at).toBe(t('10:30'));
    expect(fold([ev('ticket.created', '08:00', { session_key: 'apizee:1' })]).fact.created_at).toBe(t('08:00'));
  });

  it('starts at the first join without session.started, else at created_at, else null', () => {
    const created = ev('session.created', '09:00');
    const joins = [
      ev('participant.joined', '09:10', { who: guest(1) }),
      ev('participant.joined', '09:05', { who: host }),
    ];
    expect(fold([created, ...joins]).fact.started_at).toBe(t('09:05'));
    expect(fold([created]).fact.started_at).toBe(t('09:00'));
    expect(fold([ev('message.sent', '09:00')]).fact.started_at).toBeNull();
  });

  it('ends at the latest session.ended', () => {
    const { fact } = fold([...basicCall(), ev('session.ended', '10:31', { tag: 'again' })]);
    expect(fact.ended_at).toBe(t('10:31'));
  });

  it('ends an Apizee ticket at the last leave once it is in a terminal state', () => {
    const key = 'apizee:42';
    const call = [
      ev('ticket.created', '09:00', { session_key: key }),
      ev('participant.joined', '10:00', { session_key: key, who: agent }),
      ev('participant.joined', '10:01', { session_key: key, who: guest(1) }),
      ev('participant.left', '10:15', { session_key: key, who: guest(1), reason: 'userLeft' }),
      ev('participant.left', '10:16', { session_key: key, who: agent, reason: 'agentLeft' }),
    ];
    const open = fold(call).fact;
    expect(open.ended_at).toBeNull();
    expect(open.status).toBe('open');

    const done = fold([...call, ev('ticket.state_changed', '11:00', { session_key: key, state: 'done' })]).fact;
    expect(done.ended_at).toBe(t('10:16'));
    expect(done.status).toBe('ended');
    expect(done.duration_seconds).toBe(16 * 60); // started at the first join, 10:00

    const reopened = fold([
      ...call,
      ev('ticket.state_changed', '11:00', { session_key: key, state: 'done' }),
      ev('ticket.state_changed', '12:00', { session_key: key, state: 'inprogress' }),
    ]).fact;
    expect(reopened.ended_at).toBeNull();
    expect(reopened.status).toBe('open');
  });

  it('ends a Jifeline ticket without leaves at its closed/cancelled time; an Apizee one stays without ended_at', () => {
    const jif = fold([
      ev('ticket.created', '09:00', { session_key: 'jifeline:t1' }),
      ev('ticket.closed', '09:40', { session_key: 'jifeline:t1' }),
    ]).fact;
    expect(jif).toMatchObject({ ended_at: t('09:40'), status: 'closed', duration_seconds: 40 * 60 });

    const apz = fold([
      ev('ticket.created', '09:00', { session_key: 'apizee:7' }),
      ev('ticket.cancelled', '09:40', { session_key: 'apizee:7' }),
    ]).fact;
    expect(apz).toMatchObject({ ended_at: null, status: 'cancelled', duration_seconds: null });
  });
});

describe('foldSession: status', () => {
  const apizee = (state: string) =>
    fold([
      ev('ticket.created', '09:00', { session_key: 'apizee:1' }),
      ev('participant.joined', '09:10', { session_key: 'apizee:1', who: agent }),
      ev('participant.left', '09:20', { session_key: 'apizee:1', who: agent }),
      ev('ticket.state_changed', '09:30', { session_key: 'apizee:1', state }),
    ]).fact.status;

  it.each([
    ['done', 'ended'],
    ['closed', 'closed'],
    ['cancelled', 'cancelled'],
    ['rejected', 'cancelled'],
    ['declined', 'cancelled'],
    ['expired', 'cancelled'],
    ['inprogress', 'open'],
  ])('maps ticket state %s to %s', (state, status) => {
    expect(apizee(state)).toBe(status);
  });

  it('is ended with session.ended, open without', () => {
    expect(fold(basicCall()).fact.status).toBe('ended');
    expect(fold(basicCall().slice(0, 4)).fact.status).toBe('open');
  });

  it('is abandoned when open past the idle horizon, and only when both options are given', () => {
    const open = basicCall().slice(0, 4); // last event 10:02
    const horizon = 30 * MIN;
    expect(fold(open, { idleHorizonMicros: horizon, nowMicros: t('10:40') }).fact.status).toBe('abandoned');
    expect(fold(open, { idleHorizonMicros: horizon, nowMicros: t('10:32') }).fact.status).toBe('open');
    expect(fold(open, { idleHorizonMicros: horizon }).fact.status).toBe('open');
    expect(fold(open, { nowMicros: t('23:00') }).fact.status).toBe('open');
    expect(fold(basicCall(), { idleHorizonMicros: horizon, nowMicros: t('23:00') }).fact.status).toBe('ended');
  });
});

describe('foldSession: durations', () => {
  it('duration_seconds is ended_at - started_at, null while open', () => {
    expect(fold(basicCall()).fact.duration_seconds).toBe(30 * 60);
    expect(fold(basicCall().slice(0, 5)).fact.duration_seconds).toBeNull();
  });

  it('duration_seconds keeps sub-second precision', () => {
    const { fact } = fold([ev('session.started', t('10:00') + 250_000), ev('session.ended', t('10:00:01') + 500_000)]);
    expect(fact.duration_seconds).toBe(1.25);
  });

  it('wait_seconds is the first host/agent join minus started_at (mluvii queue time)', () => {
    const key = 'mluvii:7293902';
    const { fact } = fold([
      ev('session.started', '08:58:58', { session_key: key }),
      ev('participant.joined', '08:58:58', { session_key: key, who: { key: 'bot', role: 'chatbot' } }),
      ev('participant.joined', '08:59:18', { session_key: key, who: { key: 'op', role: 'agent' } }),
      ev('participant.joined', '09:01:00', { session_key: key, who: { key: 'op2', role: 'agent' } }),
    ]);
    expect(fact.wait_seconds).toBe(20);
  });

  it('wait_seconds is null without a host/agent join and clamped at 0', () => {
    expect(
      fold([ev('session.started', '10:00'), ev('participant.joined', '10:01', { who: guest(1) })]).fact.wait_seconds,
    ).toBeNull();
    expect(
      fold([ev('session.started', '10:00'), ev('participant.joined', '09:58', { who: host })]).fact.wait_seconds,
    ).toBe(0);
  });
});

describe('foldSession: participants and spans', () => {
  it('makes one span per join/leave pair, and counts participants by role', () => {
    const { fact, spans } = fold(basicCall());
    expect(spans).toEqual([
      {
        session_key: SESSION,
        participant_key: 'p-host',
        role: 'host',
        joined_at: t('10:00'),
        left_at: t('10:30'),
        duration_seconds: 1800,
        leave_reason: 'host ended',
      },
      {
        session_key: SESSION,
        participant_key: 'p-guest-1',
        role: 'guest',
        joined_at: t('10:02'),
        left_at: t('10:20'),
        duration_seconds: 1080,
        leave_reason: 'left the session',
      },
    ]);
    expect(fact).toMatchObject({ participants: 2, agents: 1, guests: 1, participant_seconds: 2880 });
  });

  it('resolves a role to the most specific one seen; invitees who never took part are not counted', () => {
    const { fact, spans } = fold([
      ev('session.started', '10:00'),
      ev('participant.joined', '10:00', { who: { key: 'u1', role: 'guest' } }),
      ev('participant.left', '10:10', { who: { key: 'u1', role: null } }),
      ev('message.sent', '10:05', { who: { key: 'u1', role: 'host' } }),
      ev('participant.joined', '10:01', { who: { key: 'u2', role: null } }),
      ev('message.sent', '10:02', { who: { key: 'bot', role: 'chatbot' } }),
      ev('participant.invited', '10:03', { who: { key: 'u3', role: 'agent' } }),
    ]);
    expect(fact).toMatchObject({ participants: 3, agents: 1, guests: 0 });
    expect(spans.map((s) => [s.participant_key, s.role])).toEqual([
      ['u1', 'host'],
      ['u2', null],
    ]);
  });

  it('closes a join never left at ended_at, and leaves it open while the session is', () => {
    const events = [ev('session.started', '10:00'), ev('participant.joined', '10:05', { who: guest(1) })];
    const open = fold(events);
    expect(open.spans[0]).toMatchObject({ left_at: null, duration_seconds: null, leave_reason: null });
    expect(open.fact.participant_seconds).toBe(0);
    expect(open.fact.peak_concurrent).toBe(1);

    const ended = fold([...events, ev('session.ended', '10:25')]);
    expect(ended.spans[0]).toMatchObject({ joined_at: t('10:05'), left_at: t('10:25'), duration_seconds: 1200 });
    expect(ended.fact.participant_seconds).toBe(1200);
  });

  it('starts a leave without a join at started_at', () => {
    const { spans, fact } = fold([
      ev('session.started', '10:00'),
      ev('participant.left', '10:10', { who: guest(1), reason: 'network' }),
      ev('session.ended', '10:30'),
    ]);
    expect(spans).toEqual([
      {
        session_key: SESSION,
        participant_key: 'p-guest-1',
        role: 'guest',
        joined_at: t('10:00'),
        left_at: t('10:10'),
        duration_seconds: 600,
        leave_reason: 'network',
      },
    ]);
    expect(fact.participants).toBe(1);
  });

  it('ignores a stale redelivered user_left that arrives after a later user_joined', () => {
    const user = guest(1);
    const original = [
      ev('session.started', '10:00'),
      ev('participant.joined', '10:00', { who: user }),
      ev('participant.left', '10:05', { who: user, reason: 'left' }),
      ev('participant.joined', '10:06', { who: user }),
      ev('participant.left', '10:20', { who: user, reason: 'left again' }),
      ev('session.ended', '10:30'),
    ];
    // Zoom retried the 10:05 user_left at 10:25 with a new event_ts: a new event_id, old time.
    const stale = ev('participant.left', '10:05', { who: user, reason: 'left', tag: 'retry', received_at: t('10:25') });
    const before = fold(original);
    const after = fold([...original, stale]);
    expect(after.spans).toEqual(before.spans);
    expect(after.spans.map((s) => [s.joined_at, s.left_at])).toEqual([
      [t('10:00'), t('10:05')],
      [t('10:06'), t('10:20')],
    ]);
    expect(after.fact.participant_seconds).toBe(before.fact.participant_seconds);
    expect(after.fact.end_reason).toBe('left again');
  });

  it('learns the Zoom host from host_id on a later event: one host, agents 1, and wait_seconds to its join, whatever the order', () => {
    // Zoom's user events carry no host flag: every user arrives as a guest.
    const zoomUser = (id: string, clock: string, type: CanonicalType = 'participant.joined') =>
      ev(type, clock, {
        who: { key: `p-${id}`, role: 'guest', provider_user_id: id },
        attributes: { participant_uuid: `uuid-${id}` },
      });
    const base = [
      ev('session.started', '10:00'),
      zoomUser('111', '10:01'),
      zoomUser('222', '10:04'),
      zoomUser('111', '10:20', 'participant.left'),
      zoomUser('222', '10:21', 'participant.left'),
      ev('session.ended', '10:22'),
    ];
    const before = fold(base).fact;
    expect(before).toMatchObject({ agents: 0, guests: 2, wait_seconds: null });
    // The only evidence, last in time and in arrival: a callout the host (user 222) made.
    const callout = ev('callout.missed', '10:30', {
      attributes: { host_id: '222', callout_kind: 'phone' },
      received_at: t('11:00'),
    });
    for (const events of [[...base, callout], [callout, ...base].reverse()]) {
      const { fact, spans } = fold(events);
      expect(fact).toMatchObject({ participants: 2, agents: 1, guests: 1, wait_seconds: 4 * 60 });
      expect(spans.map((s) => [s.participant_key, s.role])).toEqual([
        ['p-111', 'guest'],
        ['p-222', 'host'],
      ]);
    }
    // An AI interpreter summary saying is_host names its user by participant_uuid.
    const summary = ev('interpreter.usage', '10:25', { attributes: { is_host: 'true', participant_uuid: 'uuid-111' } });
    expect(fold([...base, summary]).fact).toMatchObject({ agents: 1, guests: 1, wait_seconds: 60 });
    const notHost = ev('interpreter.usage', '10:25', {
      attributes: { is_host: 'false', participant_uuid: 'uuid-111' },
    });
    expect(fold([...base, notHost]).fact).toMatchObject({ agents: 0, guests: 2 });
  });

  it('ignores a leave with no join before it when the participant has a newer join (DESIGN section 6: stale)', () => {
    const user = guest(1);
    // The join of 09:50 never reached us; Zoom redelivers the old 10:05 leave, and the participant joined again at 10:06.
    const { spans, fact } = fold([
      ev('session.started', '10:00'),
      ev('participant.left', '10:05', { who: user, reason: 'old leave' }),
      ev('participant.joined', '10:06', { who: user }),
      ev('participant.left', '10:20', { who: user, reason: 'left' }),
      ev('session.ended', '10:30'),
    ]);
    expect(spans.map((s) => [s.joined_at, s.left_at, s.leave_reason])).toEqual([[t('10:06'), t('10:20'), 'left']]);
    expect(fact.participant_seconds).toBe(14 * 60);
  });

  it('pairs a late-arriving leave with the join before it, not with a later join', () => {
    const user = guest(1);
    const { spans } = fold([
      ev('participant.joined', '10:00', { who: user }),
      ev('participant.joined', '10:06', { who: user }),
      ev('participant.left', '10:05', { who: user, received_at: t('10:07') }),
    ]);
    expect(spans.map((s) => [s.joined_at, s.left_at])).toEqual([
      [t('10:00'), t('10:05')],
      [t('10:06'), null],
    ]);
  });

  it('treats a leave and a rejoin in the same second as two spans, a join and leave in one second as one', () => {
    const user = guest(1);
    const rejoin = fold([
      ev('participant.joined', '10:00', { who: user }),
      ev('participant.left', '10:05', { who: user }),
      ev('participant.joined', '10:05', { who: user }),
      ev('session.ended', '10:10'),
    ]).spans;
    expect(rejoin.map((s) => [s.joined_at, s.left_at])).toEqual([
      [t('10:00'), t('10:05')],
      [t('10:05'), t('10:10')],
    ]);

    const blink = fold([
      ev('participant.joined', '10:05', { who: user }),
      ev('participant.left', '10:05', { who: user }),
    ]);
    expect(blink.spans.map((s) => [s.joined_at, s.left_at])).toEqual([[t('10:05'), t('10:05')]]);
    expect(blink.fact.peak_concurrent).toBe(1);
  });

  it('absorbs a repeated join while the participant is present', () => {
    const user = guest(1);
    const { spans } = fold([
      ev('participant.joined', '10:00', { who: user }),
      ev('participant.joined', '10:02', { who: user }),
      ev('participant.left', '10:05', { who: user }),
    ]);
    expect(spans.map((s) => [s.joined_at, s.left_at])).toEqual([[t('10:00'), t('10:05')]]);
  });

  it('peak_concurrent: 3 of 4 participants at once; a leave at the instant of a join does not overlap', () => {
    const { fact } = fold([
      ev('session.started', '10:00'),
      ev('participant.joined', '10:00', { who: host }),
      ev('participant.joined', '10:01', { who: guest(1) }),
      ev('participant.joined', '10:02', { who: guest(2) }),
      ev('participant.left', '10:03', { who: guest(1) }),
      ev('participant.joined', '10:03', { who: guest(3) }),
      ev('participant.left', '10:04', { who: guest(2) }),
      ev('participant.left', '10:05', { who: guest(3) }),
      ev('session.ended', '10:10'),
    ]);
    expect(fact.participants).toBe(4);
    expect(fact.peak_concurrent).toBe(3);
    expect(fact.participant_seconds).toBe(600 + 120 + 120 + 120);
  });

  it('peak_concurrent is 0 without participants', () => {
    expect(fold([ev('session.started', '10:00')]).fact.peak_concurrent).toBe(0);
  });
});

describe('foldSession: consent', () => {
  const decide = (type: 'consent.accepted' | 'consent.declined', clock: string, scope: ConsentScope | null) =>
    ev(type, clock, { scope, who: guest(1), tag: String(scope) });

  it('is unknown and the permissions null when never asked', () => {
    expect(fold(basicCall()).fact).toMatchObject({
      consent: 'unknown',
      camera_allowed: null,
      microphone_allowed: null,
      geolocation_allowed: null,
    });
  });

  it('takes the latest session-scope (or unscoped) decision', () => {
    expect(
      fold([decide('consent.declined', '10:00', 'session'), decide('consent.accepted', '10:01', null)]).fact.consent,
    ).toBe('accepted');
    expect(
      fold([decide('consent.accepted', '10:00', null), decide('consent.declined', '10:01', 'session')]).fact.consent,
    ).toBe('declined');
    expect(fold([decide('consent.accepted', '10:00', 'camera')]).fact.consent).toBe('unknown');
  });

  it('takes the latest decision per scope for camera, microphone and geolocation', () => {
    const { fact } = fold([
      decide('consent.accepted', '10:00', 'camera'),
      decide('consent.declined', '10:02', 'camera'),
      decide('consent.accepted', '10:01', 'microphone'),
      decide('consent.declined', '10:00', 'geolocation'),
    ]);
    expect(fact).toMatchObject({
      camera_allowed: false,
      microphone_allowed: true,
      geolocation_allowed: false,
      consent: 'unknown',
    });
  });

  it('lets a media-device decision answer for camera and microphone', () => {
    const { fact } = fold([
      decide('consent.declined', '10:00', 'camera'),
      decide('consent.accepted', '10:01', 'media'),
    ]);
    expect(fact).toMatchObject({ camera_allowed: true, microphone_allowed: true, geolocation_allowed: null });
  });
});

describe('foldSession: recording', () => {
  it('counts a paused recording: 10:00-10:05 and 10:07-10:10 is 480 s', () => {
    const { fact } = fold([
      ev('session.started', '09:59'),
      ev('recording.started', '10:00:00'),
      ev('recording.paused', '10:05'),
      ev('recording.resumed', '10:07'),
      ev('recording.stopped', '10:10'),
      ev('session.ended', '10:30'),
    ]);
    expect(fact.recordings).toBe(1);
    expect(fact.recording_seconds).toBe(480);
  });

  it('closes a recording still open at session.ended, and does not count it while the session is open', () => {
    const events = [ev('session.started', '10:00'), ev('recording.started', '10:10')];
    expect(fold(events).fact.recording_seconds).toBe(0);
    expect(fold([...events, ev('session.ended', '10:25')]).fact.recording_seconds).toBe(900);
  });

  it('sums recording.completed files and bytes; a late one changes only what it should', () => {
    const call = [
      ...basicCall(),
      ev('recording.started', '10:01'),
      ev('recording.stopped', '10:11'),
      ev('recording.completed', '10:31', { count: 2, bytes: 1000, received_at: t('10:40') }),
    ];
    const before = fold(call).fact;
    expect(before).toMatchObject({ recordings: 1, recording_seconds: 600, recording_files: 2, recording_bytes: 1000 });

    const late = ev('recording.completed', '10:45', {
      count: 1,
      bytes: 500,
      tag: 'transcript-file',
      received_at: t('11:00'),
    });
    const after = fold([...call, late]).fact;
    expect(after).toEqual({
      ...before,
      recording_files: 3,
      recording_bytes: 1500,
      events: before.events + 1,
      last_event_at: t('10:45'),
      updated_at: t('11:00'),
    });
  });
});

describe('foldSession: totals a long cannot hold', () => {
  const factType = loadSchema('SessionFact').type;

  // Shrunk by the poison property (test/processors/sessionize.property.test.ts): each count fits
  // a long, their sum (2^53 - 1) does not, and the fact could not be written to facts.v1.
  it.each([
    ['recording_files', 'recording.completed', { count: AVRO_LONG_MAX }, { count: 1 }],
    ['recording_bytes', 'recording.completed', { bytes: AVRO_LONG_MAX }, { bytes: AVRO_LONG_MAX }],
    ['products_added', 'ticket.product_added', { count: AVRO_LONG_MAX }, { count: 2 }],
    ['products_removed', 'ticket.product_removed', { count: AVRO_LONG_MAX }, { count: 3 }],
  ] as const)('holds %s at the largest long when its events add up past it', (column, type, first, second) => {
    const { fact } = fold([
      ev('session.created', '10:00'),
      ev(type, '10:01', { ...first, tag: '1' }),
      ev(type, '10:02', { ...second, tag: '2' }),
    ]);
    expect(fact[column]).toBe(AVRO_LONG_MAX);
    expect(factType.isValid(fact)).toBe(true);
  });

  it('holds a negative total at the smallest long', () => {
    const { fact } = fold([
      ev('recording.completed', '10:01', { bytes: -AVRO_LONG_MAX, tag: '1' }),
      ev('recording.completed', '10:02', { bytes: -5, tag: '2' }),
    ]);
    expect(fact.recording_bytes).toBe(-AVRO_LONG_MAX);
    expect(factType.isValid(fact)).toBe(true);
  });
});

describe('foldSession: sharing, hold, audio/video', () => {
  it('pairs sharing per participant and counts sharing.started', () => {
    const { fact } = fold([
      ev('session.started', '10:00'),
      ev('sharing.started', '10:01', { who: host }),
      ev('sharing.started', '10:02', { who: guest(1) }),
      ev('sharing.ended', '10:03', { who: host }),
      ev('sharing.ended', '10:06', { who: guest(1) }),
      ev('sharing.started', '10:08', { who: host }),
      ev('session.ended', '10:10'),
    ]);
    expect(fact.shares).toBe(3);
    expect(fact.sharing_seconds).toBe(120 + 240 + 120);
  });

  it('pairs hold like recording; audio/video only from a request to its termination (one never terminated claims no time)', () => {
    const { fact } = fold([
      ev('session.started', '10:00'),
      ev('hold.started', '10:01'),
      ev('hold.ended', '10:02'),
      ev('hold.started', '10:04'),
      ev('hold.ended', '10:04:30'),
      ev('av.started', '10:00'),
      ev('av.ended', '10:05'),
      ev('av.started', '10:06'),
      ev('session.ended', '10:10'),
    ]);
    expect(fact.hold_seconds).toBe(90);
    expect(fact.av_seconds).toBe(300);
  });
});

describe('foldSession: wrap-up, counts, survey, end reason', () => {
  it('wrap_up_seconds runs from an operator leaving to concluding, summed; null when none', () => {
    const key = 'mluvii:7293902';
    const op1 = { key: 'op1', role: 'agent' as const };
    const op2 = { key: 'op2', role: 'agent' as const };
    const { fact } = fold([
      ev('session.started', '08:58:58', { session_key: key }),
      ev('participant.joined', '08:59:18', { session_key: key, who: op1 }),
      ev('participant.joined', '09:00:00', { session_key: key, who: op2 }),
      ev('session.ended', '09:13:07', { session_key: key, reason: 'GuestLeft' }),
      ev('participant.left', '09:13:07', { session_key: key, who: op1 }),
      ev('participant.concluded', '09:15:50', { session_key: key, who: op1 }),
      ev('participant.concluded', '09:14:00', { session_key: key, who: op2 }),
    ]);
    expect(fact.wrap_up_seconds).toBe(163);
    expect(fact.end_reason).toBe('GuestLeft');
    expect(fold(basicCall()).fact.wrap_up_seconds).toBeNull();
  });

  it('counts captures, OCR scans, files, messages, forwards, alerts and unknown events', () => {
    const { fact } = fold([
      ev('media.captured', '10:00'),
      ev('media.captured', '10:01'),
      ev('media.ocr', '10:02'),
      ev('file.shared', '10:03'),
      ev('message.sent', '10:04'),
      ev('message.sent', '10:05'),
      ev('message.sent', '10:06'),
      ev('session.forwarded', '10:07'),
      ev('quality.alert', '10:08', { tag: 'cpu' }),
      ev('quality.alert', '10:08', { tag: 'network' }),
      ev('provider.other', '10:09'),
    ]);
    expect(fact).toMatchObject({
      media_captures: 2,
      ocr_scans: 1,
      files_shared: 1,
      messages: 3,
      forwards: 1,
      alerts: 2,
      unknown_events: 1,
      events: 11,
    });
  });

  it('survey_score is the mean answer, null without answers', () => {
    const { fact } = fold([
      ev('survey.answered', '10:00', { score: 3, tag: 'a' }),
      ev('survey.answered', '10:00', { score: 2, tag: 'b' }),
    ]);
    expect(fact.survey_score).toBe(2.5);
    expect(fold(basicCall()).fact.survey_score).toBeNull();
  });

  it("end_reason is session.ended's reason, else the last leave's", () => {
    expect(fold(basicCall()).fact.end_reason).toBe('host ended');
    expect(
      fold([...basicCall().slice(0, -1), ev('session.ended', '10:30', { reason: 'timeout' })]).fact.end_reason,
    ).toBe('timeout');
    expect(fold([ev('session.started', '10:00')]).fact.end_reason).toBeNull();
  });
});

describe('foldSession: lineage and order', () => {
  it('counts distinct events and takes first/last occurred_at and the latest received_at', () => {
    const { fact } = fold(basicCall());
    expect(fact).toMatchObject({
      events: 7,
      unknown_events: 0,
      first_event_at: t('09:59'),
      last_event_at: t('10:30'),
      updated_at: t('10:30') + 1_000_000,
    });
  });

  it('gives the same fact and spans for shuffled and duplicated events', () => {
    const events = [
      ...basicCall(),
      ev('recording.started', '10:01'),
      ev('recording.paused', '10:02'),
      ev('consent.accepted', '10:00', { who: guest(1) }),
    ];
    const mixed = [
      events[9]!,
      events[6]!,
      events[3]!,
      events[3]!,
      events[0]!,
      events[8]!,
      events[2]!,
      events[7]!,
      events[5]!,
      events[1]!,
      events[6]!,
      events[4]!,
    ];
    expect(fold(mixed)).toEqual(fold(events));
    expect(fold(mixed).fact.events).toBe(events.length);
  });

  it('does not move updated_at for a redelivery received later', () => {
    const events = basicCall();
    const redelivery = { ...events[4]!, ingest_id: 'ing-retry', received_at: t('12:00') };
    expect(fold([...events, redelivery])).toEqual(fold(events));
    expect(fold([redelivery, ...events])).toEqual(fold(events));
  });

  // Shrunk by the poison property (test/processors/sessionize.property.test.ts): a type named like
  // a member of Object.prototype took that member as its precedence, compared as NaN, and the
  // fold order (and so the fact) depended on the order the events came in.
  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])(
    'orders a type named %j among the types it does not list',
    (name) => {
      const odd = name as CanonicalType;
      expect(precedence(odd)).toBe(precedence('message.sent'));
      const at = t('10:00');
      const events = [
        ev('ticket.cancelled', at, { event_id: '' }),
        ev('session.created', at, { event_id: 'd' }),
        ev(odd, at, { event_id: 'constructor' }),
      ];
      const orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
      ].map((p) => distinctInFoldOrder(p.map((i) => events[i]!)).map((e) => e.event_id));
      for (const order of orders) expect(order).toEqual(['d', 'constructor', '']);
    },
  );

  it('does not change its input', () => {
    const events = basicCall().reverse();
    const copy = structuredClone(events);
    fold(events);
    expect(events).toEqual(copy);
  });
});

// ---------------------------------------------------------------------------------------
// Properties: a fact is a pure function of the SET of events.

const GENERATED_TYPES: CanonicalType[] = [
  'session.created',
  'session.started',
  'session.ended',
  'session.forwarded',
  'session.updated',
  'participant.joined',
  'participant.joined',
  'participant.left',
  'participant.left',
  'participant.concluded',
  'participant.invited',
  'consent.accepted',
  'consent.declined',
  'recording.started',
  'recording.paused',
  'recording.resumed',
  'recording.stopped',
  'recording.completed',
  'sharing.started',
  'sharing.ended',
  'hold.started',
  'hold.ended',
  'av.started',
  'av.ended',
  'media.captured',
  'media.ocr',
  'file.shared',
  'message.sent',
  'survey.answered',
  'quality.alert',
  'ticket.created',
  'ticket.state_changed',
  'ticket.closed',
  'ticket.cancelled',
  'provider.other',
];

const SESSION_KEYS = ['zoom:p', 'apizee:p', 'mluvii:p', 'jifeline:p'];

const eventArb = (sessionKey: string) =>
  fc
    .record({
      type: fc.constantFrom(...GENERATED_TYPES),
      // A narrow range of whole seconds: ties are common, as with Apizee.
      second: fc.integer({ min: 0, max: 40 }),
      delay: fc.integer({ min: 0, max: 5_000_000 }),
      who: fc.option(
        fc.record({
          key: fc.constantFrom('a', 'b', 'c', 'd'),
          role: fc.option(fc.constantFrom<Role>('host', 'agent', 'guest', 'chatbot')),
        }),
      ),
      reason: fc.option(fc.constantFrom('left', 'ended', 'timeout')),
      state: fc.option(fc.constantFrom('open', 'inprogress', 'done', 'closed', 'cancelled', 'expired')),
      scope: fc.option(fc.constantFrom<ConsentScope>('session', 'camera', 'microphone', 'geolocation', 'media')),
      count: fc.option(fc.integer({ min: 0, max: 5 })),
      bytes: fc.option(fc.integer({ min: 0, max: 1_000_000 })),
      score: fc.option(fc.integer({ min: 1, max: 3 })),
      channel: fc.option(fc.constantFrom('video' as const, 'chat' as const)),
      account: fc.option(fc.constantFrom('acc-1', 'acc-2')),
    })
    .map((g): Omit<SessionEvent, 'event_id'> => {
      const occurredAt = DAY + g.second * 1_000_000;
      return {
        ingest_id: `ing-${g.second}-${g.delay}`,
        provider: sessionKey.split(':')[0]!,
        account_id: g.account,
        session_key: sessionKey,
        session_id: 'p',
        session_name: null,
        channel: g.channel,
        type: g.type,
        provider_type: g.type,
        provider_event_id: null,
        occurred_at: occurredAt,
        received_at: occurredAt + g.delay,
        participant: g.who === null ? null : { key: g.who.key, role: g.who.role, provider_user_id: null },
        reason: g.reason,
        state: g.state,
        scope: g.scope,
        bytes: g.bytes,
        count: g.count,
        score: g.score,
        attributes: {},
      };
    });

/** A generated session: distinct events, each with its own event_id. */
const sessionArb = fc
  .constantFrom(...SESSION_KEYS)
  .chain((key) => fc.array(eventArb(key), { minLength: 1, maxLength: 40 }))
  .map((events) => events.map((e, i): SessionEvent => ({ event_id: `e${i}`, ...e })));

/** The session's events with some repeated, in any order. */
const deliveredArb = sessionArb.chain((events) =>
  fc.array(fc.integer({ min: 0, max: events.length - 1 }), { maxLength: 20 }).chain((repeats) => {
    const all = [...events, ...repeats.map((i) => events[i]!)];
    return fc.tuple(fc.constant(events), fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length }));
  }),
);

const OPTIONS = { idleHorizonMicros: 20_000_000, nowMicros: DAY + 45_000_000 };

describe('foldSession: properties', () => {
  it('gives deep-equal fact and spans for any permutation and repetition of the events', () => {
    fc.assert(
      fc.property(deliveredArb, ([events, delivered]) => {
        expect(foldSession(delivered, OPTIONS)).toEqual(foldSession(events, OPTIONS));
        expect(foldSession(delivered)).toEqual(foldSession(events));
      }),
      { numRuns: 300 },
    );
  });

  it('ignores redeliveries received later', () => {
    fc.assert(
      fc.property(
        sessionArb.chain((events) =>
          fc.tuple(fc.constant(events), fc.subarray(events), fc.integer({ min: 1, max: 1e9 })),
        ),
        ([events, redelivered, later]) => {
          const again = redelivered.map((e) => ({
            ...e,
            ingest_id: `retry-${e.ingest_id}`,
            received_at: e.received_at + later,
          }));
          expect(foldSession([...again, ...events], OPTIONS)).toEqual(foldSession(events, OPTIONS));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps the numbers coherent', () => {
    fc.assert(
      fc.property(sessionArb, (events) => {
        const { fact, spans } = foldSession(events, OPTIONS);
        expect(fact.events).toBe(new Set(events.map((e) => e.event_id)).size);
        expect(fact.agents + fact.guests).toBeLessThanOrEqual(fact.participants);
        expect(fact.peak_concurrent).toBeLessThanOrEqual(new Set(spans.map((s) => s.participant_key)).size);
        expect(fact.participant_seconds).toBeGreaterThanOrEqual(0);
        for (const span of spans) {
          if (span.left_at !== null) expect(span.left_at).toBeGreaterThanOrEqual(span.joined_at);
          else expect(fact.ended_at).toBeNull();
        }
        for (const column of ['recording_seconds', 'sharing_seconds', 'hold_seconds', 'av_seconds'] as const) {
          expect(fact[column]).toBeGreaterThanOrEqual(0);
        }
        if (fact.duration_seconds !== null) expect(fact.duration_seconds).toBeGreaterThanOrEqual(0);
        expect(fact.first_event_at).toBeLessThanOrEqual(fact.last_event_at);
      }),
      { numRuns: 300 },
    );
  });
});
