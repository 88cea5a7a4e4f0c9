/**
 * What happened in the session: consent, recording, sharing, hold, audio/video, after-call
 * work, content counts, survey, end reason.
 */
import { AVRO_LONG_MAX } from '../../lib/avro.js';
import type { CanonicalType, ConsentScope, SessionEvent, SessionFact } from '../../lib/canonical.js';
import type { Micros } from '../../lib/time.js';
import { groupBy } from './order.js';
import { toggleTotal } from './toggles.js';

export type Consent = Pick<SessionFact, 'consent' | 'camera_allowed' | 'microphone_allowed' | 'geolocation_allowed'>;

/**
 * The latest decision (fold order) per scope. A decision with no scope is about the session;
 * one about `media` (Apizee mediaDevice.allowed: camera and microphone together) answers for
 * both the camera and the microphone.
 */
export function consentOf(events: readonly SessionEvent[]): Consent {
  const latest = (scopes: ReadonlyArray<ConsentScope | null>): boolean | null => {
    let allowed: boolean | null = null;
    for (const e of events) {
      if ((e.type === 'consent.accepted' || e.type === 'consent.declined') && scopes.includes(e.scope)) {
        allowed = e.type === 'consent.accepted';
      }
    }
    return allowed;
  };
  const session = latest(['session', null]);
  return {
    consent: session === null ? 'unknown' : session ? 'accepted' : 'declined',
    camera_allowed: latest(['camera', 'media']),
    microphone_allowed: latest(['microphone', 'media']),
    geolocation_allowed: latest(['geolocation']),
  };
}

export interface MediaTime {
  recordings: number;
  recording_micros: number;
  recording_files: number;
  recording_bytes: number;
  shares: number;
  sharing_micros: number;
  hold_micros: number;
  av_micros: number;
}

const wholeSession = (): string => '';

/**
 * A total of events' counts or bytes as a long column holds it: each value fits a long, their
 * sum may not (two recording.completed of 2^52 files each), and a fact facts.v1 cannot take
 * would stop the warehouse. Past the largest long the total stays at it.
 */
export function longTotal(sum: number): number {
  return Math.min(AVRO_LONG_MAX, Math.max(-AVRO_LONG_MAX, sum));
}

/** Recording, sharing (per participant), hold and audio/video time; open intervals close at ended_at. */
export function mediaTimeOf(events: readonly SessionEvent[], endedAt: Micros | null): MediaTime {
  const recording = toggleTotal(
    events,
    {
      opens: ['recording.started', 'recording.resumed'],
      closes: ['recording.paused', 'recording.stopped'],
      counted: 'recording.started',
      keyOf: wholeSession,
    },
    endedAt,
  );
  const sharing = toggleTotal(
    events,
    {
      opens: ['sharing.started'],
      closes: ['sharing.ended'],
      counted: 'sharing.started',
      keyOf: (e) => e.participant?.key ?? '',
      // mluvii's SharedScreen is one moment: a share, with no length the provider gives.
      noLength: (e) => e.attributes.kind === 'moment',
    },
    endedAt,
  );
  const hold = toggleTotal(
    events,
    { opens: ['hold.started'], closes: ['hold.ended'], counted: 'hold.started', keyOf: wholeSession },
    endedAt,
  );
  // A/V time is a request the client took up to its termination: a refused request opens
  // nothing, and a request never terminated claims no time to the session end (mluvii sends
  // SessionActivityAvTerminated for every call that was held).
  const av = toggleTotal(
    events,
    {
      opens: ['av.started'],
      closes: ['av.ended'],
      counted: 'av.started',
      keyOf: wholeSession,
      noLength: (e) => e.state === 'RejectedUser' || e.state === 'RejectedNoMic',
    },
    null,
  );
  let files = 0;
  let bytes = 0;
  for (const e of events) {
    if (e.type !== 'recording.completed') continue;
    files += e.count ?? 0;
    bytes += e.bytes ?? 0;
  }
  return {
    recordings: recording.count,
    recording_micros: recording.micros,
    recording_files: longTotal(files),
    recording_bytes: longTotal(bytes),
    shares: sharing.count,
    sharing_micros: sharing.micros,
    hold_micros: hold.micros,
    av_micros: av.micros,
  };
}

/**
 * mluvii after-call work: from an operator's participant.left to that operator's next
 * participant.concluded, summed over operators; null when no such pair. (Operators who get
 * SessionOperatorConcluded without SessionOperatorLeft have no measured wrap-up.)
 */
export function wrapUpMicros(events: readonly SessionEvent[]): number | null {
  const relevant = events.filter(
    (e) => e.participant !== null && (e.type === 'participant.left' || e.type === 'participant.concluded'),
  );
  let total: number | null = null;
  for (const own of groupBy(relevant, (e) => e.participant!.key).values()) {
    let leftAt: Micros | null = null;
    for (const e of own) {
      if (e.type === 'participant.left') leftAt = e.occurred_at;
      else if (leftAt !== null) {
        total = (total ?? 0) + Math.max(0, e.occurred_at - leftAt);
        leftAt = null;
      }
    }
  }
  return total;
}

export type Counts = Pick<
  SessionFact,
  'media_captures' | 'ocr_scans' | 'files_shared' | 'messages' | 'forwards' | 'alerts' | 'unknown_events'
>;

/** The fact's plain counts: each the number of events of one type. */
export function countsOf(events: readonly SessionEvent[]): Counts {
  const count = (type: CanonicalType) => events.reduce((n, e) => (e.type === type ? n + 1 : n), 0);
  return {
    media_captures: count('media.captured'),
    ocr_scans: count('media.ocr'),
    files_shared: count('file.shared'),
    messages: count('message.sent'),
    forwards: count('session.forwarded'),
    alerts: count('quality.alert'),
    unknown_events: count('provider.other'),
  };
}

/**
 * What was done on a ticket: its distinct conversations (Apizee's attributes.conversation_id)
 * and the products added and removed (Jifeline; `count` products per event, 1 when not given).
 */
export function ticketWorkOf(
  events: readonly SessionEvent[],
): Pick<SessionFact, 'conversations' | 'products_added' | 'products_removed'> {
  const conversations = new Set<string>();
  let added = 0;
  let removed = 0;
  for (const e of events) {
    const conversation = e.attributes.conversation_id;
    if (conversation) conversations.add(conversation);
    if (e.type === 'ticket.product_added') added += e.count ?? 1;
    if (e.type === 'ticket.product_removed') removed += e.count ?? 1;
  }
  return { conversations: conversations.size, products_added: longTotal(added), products_removed: longTotal(removed) };
}

/** Mean of the survey answers (1..3); null without answers. */
export function surveyScore(events: readonly SessionEvent[]): number | null {
  let sum = 0;
  let n = 0;
  for (const e of events) {
    if (e.type === 'survey.answered' && e.score !== null) {
      sum += e.score;
      n++;
    }
  }
  return n === 0 ? null : sum / n;
}

/** The termination reason of the latest session.ended that gives one, else the reason of the last leave that counts. */
export function endReason(events: readonly SessionEvent[], leaves: readonly SessionEvent[]): string | null {
  let reason: string | null = null;
  for (const e of events) if (e.type === 'session.ended' && e.reason !== null) reason = e.reason;
  return reason ?? leaves[leaves.length - 1]?.reason ?? null;
}
