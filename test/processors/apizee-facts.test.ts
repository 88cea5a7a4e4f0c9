/**
 * The fold (processors/sessionize/) on what the Apizee adapter really emits: one ticket's
 * session built from the golden fixtures, delivered shuffled and twice.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RawWebhook, SessionEvent } from '../../lib/canonical.js';
import { participantKey } from '../../lib/ids.js';
import { apizeeAdapter } from '../../processors/adapters/apizee/index.js';
import { foldSession } from '../../processors/sessionize/index.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/apizee/', import.meta.url));
const CTX = { piiKey: 'test-pii-key' };
const T0 = 1749580800; // ticket.new of the fixtures, Unix seconds
const at = (seconds: number): number => (T0 + seconds) * 1_000_000;
const RECEIVED_AT = at(2000);

const fixture = (type: string): Record<string, any> =>
  JSON.parse(readFileSync(join(FIXTURES, `${type}.json`), 'utf8')) as Record<string, any>;

/** The documented survey example names another requestor; in this session Jane answers it. */
function janesSurvey(): Record<string, any> {
  const body = fixture('survey.answered');
  body.props.requestor = fixture('session.established').props.requestor;
  return body;
}

/** created, invitation, session started, agent and requestor join, consents, capture, OCR, leaves, survey, completed, closed. */
const SESSION_BODIES: ReadonlyArray<Record<string, any>> = [
  fixture('ticket.new'),
  fixture('ticket.invitationSent'),
  fixture('consent.accepted'),
  fixture('ticket.sessionStarted'),
  fixture('session.agentContacted'),
  fixture('session.established'),
  fixture('mediaDevice.allowed'),
  fixture('geo.ansAllowed'),
  fixture('media.pictureTaken'),
  fixture('media.OCRDone'),
  fixture('session.userLeft'),
  fixture('session.agentLeft'),
  janesSurvey(),
  fixture('ticket.completed'),
  fixture('ticket.closed'),
];

function normalizeAll(bodies: ReadonlyArray<Record<string, any>>, delivery = 0): SessionEvent[] {
  return bodies.flatMap((body, i) => {
    const raw: RawWebhook = {
      ingest_id: `delivery-${delivery}-${String(i).padStart(2, '0')}`,
      provider: 'apizee',
      received_at: RECEIVED_AT + delivery * 60_000_000 + i,
      source: 'webhook',
      dedup_key: String(body.objectId),
      headers: {},
      content_type: 'application/json',
      body: Buffer.from(JSON.stringify(body)),
    };
    const { events, failures } = apizeeAdapter.normalize(raw, CTX);
    expect(failures).toEqual([]);
    return events;
  });
}

/** A deterministic shuffle (mulberry32), so a failure can be replayed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const AGENT = participantKey(CTX.piiKey, 'apizee', 'john.doe@apizee.com');
const REQUESTOR = participantKey(CTX.piiKey, 'apizee', 'jane.doe@issues.llc');

describe('foldSession on an Apizee ticket', () => {
  const once = normalizeAll(SESSION_BODIES);
  const reference = foldSession(once);

  it('gives the facts of the ticket session', () => {
    expect(reference.fact).toMatchObject({
      session_key: 'apizee:361',
      provider: 'apizee',
      account_id: null,
      session_id: '361',
      channel: 'ticket',
      name: null,
      created_at: at(0),
      started_at: at(380),
      ended_at: at(905),
      status: 'closed',
      duration_seconds: 525,
      wait_seconds: 0,
      participants: 2,
      agents: 1,
      guests: 1,
      peak_concurrent: 2,
      participant_seconds: 525 + 515,
      consent: 'accepted',
      camera_allowed: true,
      microphone_allowed: true,
      geolocation_allowed: true,
      recordings: 0,
      media_captures: 1,
      ocr_scans: 1,
      files_shared: 0,
      messages: 0,
      alerts: 0,
      survey_score: 1.5,
      end_reason: 'agentLeft',
      events: once.length,
      unknown_events: 0,
      first_event_at: at(0),
      last_event_at: at(1000),
      updated_at: RECEIVED_AT + SESSION_BODIES.length - 1,
      conversations: new Set(SESSION_BODIES.map((b) => b.props?.conversationId).filter((c) => c !== undefined)).size,
    });
    expect(reference.fact.conversations).toBeGreaterThan(0);
    expect(once).toHaveLength(20);
  });

  it('gives one span per person, agent and guest', () => {
    expect(reference.spans.map((s) => [s.participant_key, s.role, s.joined_at, s.left_at, s.leave_reason])).toEqual([
      [AGENT, 'agent', at(380), at(905), 'agentLeft'],
      [REQUESTOR, 'guest', at(385), at(900), 'userLeft'],
    ]);
  });

  it.each([1, 2, 3, 42, 2024])('gives the same facts shuffled and delivered twice (seed %i)', (seed) => {
    const twice = shuffled([...normalizeAll(SESSION_BODIES), ...normalizeAll(shuffled(SESSION_BODIES, seed), 1)], seed);
    expect(twice).toHaveLength(40);
    expect(foldSession(twice)).toEqual(reference);
  });

  it('keeps ended_at null and the ticket open until it reaches a terminal state', () => {
    const open = foldSession(
      normalizeAll(SESSION_BODIES.filter((b) => !['ticket.completed', 'ticket.closed'].includes(b.props.eventType))),
    ).fact;
    expect(open).toMatchObject({ ended_at: null, status: 'open', duration_seconds: null });
    const done = foldSession(normalizeAll(SESSION_BODIES.filter((b) => b.props.eventType !== 'ticket.closed'))).fact;
    expect(done).toMatchObject({ ended_at: at(905), status: 'ended' });
  });

  it('starts at the requestor joining when the agent never joins (only the list of the brief)', () => {
    const without = SESSION_BODIES.filter(
      (b) => !['ticket.sessionStarted', 'session.agentContacted'].includes(b.props.eventType),
    );
    const { fact, spans } = foldSession(normalizeAll(without));
    expect(fact).toMatchObject({
      started_at: at(385),
      ended_at: at(905),
      status: 'closed',
      wait_seconds: null,
      participants: 2,
      agents: 1,
      guests: 1,
    });
    // agentLeft with no join before it: the agent's span starts at started_at.
    expect(spans.find((s) => s.participant_key === AGENT)).toMatchObject({ joined_at: at(385), left_at: at(905) });
  });

  it('cancels a ticket whose invitation was declined, with no end time and nobody who took part', () => {
    const { fact } = foldSession(
      normalizeAll([fixture('ticket.new'), fixture('ticket.invitationSent'), fixture('ticket.invitationDeclined')]),
    );
    expect(fact).toMatchObject({ status: 'cancelled', ended_at: null, participants: 0, agents: 0, guests: 0 });
  });

  it('orders same-second events by objectId: the later decision wins even when it is the permission', () => {
    const declined = { ...fixture('mediaDevice.cameraDisallowed'), objectId: 1500, time: 1749599999 };
    const allowed = { ...fixture('mediaDevice.cameraAllowed'), objectId: 1501, time: 1749599999 };
    for (const order of [
      [declined, allowed],
      [allowed, declined],
    ]) {
      expect(foldSession(normalizeAll([...SESSION_BODIES, ...order])).fact.camera_allowed).toBe(true);
    }
    const laterRefusal = { ...declined, objectId: 1502 };
    expect(foldSession(normalizeAll([...SESSION_BODIES, allowed, laterRefusal])).fact.camera_allowed).toBe(false);
  });

  it('takes the latest decision per scope: camera off after media on', () => {
    const { fact } = foldSession(
      normalizeAll([...SESSION_BODIES, fixture('mediaDevice.cameraDisallowed'), fixture('geo.ansDisallowed')]),
    );
    expect(fact).toMatchObject({
      camera_allowed: false,
      microphone_allowed: true,
      geolocation_allowed: false,
      consent: 'accepted',
    });
  });
});
