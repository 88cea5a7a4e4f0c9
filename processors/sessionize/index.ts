/**
 * The fold from one session's events to its fact and participant spans (DESIGN section 6).
 *
 * A pure function of the SET of events: they are de-duplicated by event_id and put in one
 * deterministic order (occurred_at, then type precedence, then event_id) before anything is
 * read from them, so late, out-of-order and repeated deliveries change nothing but what they
 * should.
 */
import { SESSION_FACT_FIELDS, type ParticipantSpan, type SessionEvent, type SessionFact } from '../../lib/canonical.js';
import { inFieldOrder } from '../../lib/record.js';
import type { Micros } from '../../lib/time.js';
import { consentOf, countsOf, endReason, mediaTimeOf, surveyScore, ticketWorkOf, wrapUpMicros } from './activity.js';
import { identityOf, lifecycleOf } from './lifecycle.js';
import { distinctInFoldOrder } from './order.js';
import { attendance, headcount, participantMicros, peakConcurrent, resolveRoles, spansOf } from './participants.js';

export interface FoldOptions {
  /** A session still open with no event for longer than this is `abandoned` (needs nowMicros). */
  idleHorizonMicros?: number;
  /** The clock the idle horizon is measured against; passed in so the fold stays pure. */
  nowMicros?: Micros;
}

export interface FoldResult {
  fact: SessionFact;
  spans: ParticipantSpan[];
}

const seconds = (micros: number): number => micros / 1e6;

/**
 * Folds all the events of one session (every one with the same non-null session_key) into its
 * fact and spans. Throws a RangeError when given no event: there is no session to describe.
 */
export function foldSession(events: readonly SessionEvent[], options: FoldOptions = {}): FoldResult {
  const ordered = distinctInFoldOrder(events);
  const identity = identityOf(ordered);
  const roles = resolveRoles(ordered);
  const present = attendance(ordered);
  const life = lifecycleOf(ordered, present.leaves, identity.provider, options);
  const spans = spansOf(identity.session_key, present, roles, life.started_at, life.ended_at);
  const media = mediaTimeOf(ordered, life.ended_at);
  const wrapUp = wrapUpMicros(ordered);

  const firstHostJoin = ordered.find((e) => {
    if (e.type !== 'participant.joined' || e.participant === null) return false;
    const role = roles.get(e.participant.key);
    return role === 'host' || role === 'agent';
  });
  const waitSeconds =
    firstHostJoin === undefined || life.started_at === null
      ? null
      : seconds(Math.max(0, firstHostJoin.occurred_at - life.started_at));

  let firstEventAt = Infinity;
  let lastEventAt = -Infinity;
  let updatedAt = -Infinity;
  for (const e of ordered) {
    firstEventAt = Math.min(firstEventAt, e.occurred_at);
    lastEventAt = Math.max(lastEventAt, e.occurred_at);
    updatedAt = Math.max(updatedAt, e.received_at);
  }

  const fact: SessionFact = {
    ...identity,
    ...life,
    duration_seconds:
      life.ended_at === null || life.started_at === null ? null : seconds(Math.max(0, life.ended_at - life.started_at)),
    wait_seconds: waitSeconds,
    ...headcount(ordered, roles),
    peak_concurrent: peakConcurrent(spans),
    participant_seconds: seconds(participantMicros(spans)),
    ...consentOf(ordered),
    recordings: media.recordings,
    recording_seconds: seconds(media.recording_micros),
    recording_files: media.recording_files,
    recording_bytes: media.recording_bytes,
    shares: media.shares,
    sharing_seconds: seconds(media.sharing_micros),
    hold_seconds: seconds(media.hold_micros),
    av_seconds: seconds(media.av_micros),
    wrap_up_seconds: wrapUp === null ? null : seconds(wrapUp),
    ...countsOf(ordered),
    survey_score: surveyScore(ordered),
    end_reason: endReason(ordered, present.leaves),
    events: ordered.length,
    first_event_at: firstEventAt,
    last_event_at: lastEventAt,
    updated_at: updatedAt,
    ...ticketWorkOf(ordered),
  };
  // In the column order of schemas/SessionFact.avsc, so facts read the same everywhere.
  return { fact: inFieldOrder(SESSION_FACT_FIELDS, fact), spans };
}
