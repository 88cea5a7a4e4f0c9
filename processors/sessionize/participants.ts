/**
 * Who took part and when: roles, participant spans (the participant_sessions rows), and the
 * numbers the fact takes from them.
 */
import type { ParticipantSpan, Role, SessionEvent } from '../../lib/canonical.js';
import type { Micros } from '../../lib/time.js';
import { groupBy } from './order.js';
import { walkToggles } from './toggles.js';

/** Host/agent over guest: the more specific role wins when events disagree. */
const ROLE_RANK: Record<Role, number> = { host: 5, agent: 4, chatbot: 3, system: 2, guest: 1 };

/**
 * Being invited is not taking part (the invitee may never come), and neither is being named on
 * a ticket (an Apizee supervisor who changes a priority never joins).
 */
function isTakingPart(event: SessionEvent): boolean {
  return !(
    event.type.startsWith('invitation.') ||
    event.type.startsWith('participant.invite') ||
    event.type.startsWith('ticket.')
  );
}

/**
 * The participants the session's events name as host after the fact. Zoom's user events carry no
 * host flag: the host is named by `host_id` (the host's session-scoped user id, on callout and
 * some session events) and by `is_host` on an AI interpreter summary, which names its user by
 * `participant_uuid`. Any event of the session may bring it, in any order: a fold of the whole
 * session gives the host its role whenever the evidence arrived.
 */
function namedHosts(events: readonly SessionEvent[]): { userIds: Set<string>; uuids: Set<string> } {
  const userIds = new Set<string>();
  const uuids = new Set<string>();
  for (const { attributes } of events) {
    if (attributes.host_id) userIds.add(attributes.host_id);
    if (attributes.is_host === 'true' && attributes.participant_uuid) uuids.add(attributes.participant_uuid);
  }
  return { userIds, uuids };
}

/**
 * The role of each participant: the most specific non-null role any event gives it, or host
 * when the session's events name it the host (namedHosts).
 */
export function resolveRoles(events: readonly SessionEvent[]): Map<string, Role | null> {
  const roles = new Map<string, Role | null>();
  const hosts = namedHosts(events);
  for (const { participant, attributes } of events) {
    if (participant === null) continue;
    const seen = roles.get(participant.key) ?? null;
    const named =
      (participant.provider_user_id !== null && hosts.userIds.has(participant.provider_user_id)) ||
      (attributes.participant_uuid !== undefined && hosts.uuids.has(attributes.participant_uuid));
    const role = named ? 'host' : participant.role;
    if (!roles.has(participant.key) || (role !== null && (seen === null || ROLE_RANK[role] > ROLE_RANK[seen]))) {
      roles.set(participant.key, role ?? seen);
    }
  }
  return roles;
}

export interface Headcount {
  participants: number;
  agents: number;
  guests: number;
}

/** Distinct participant keys of the events (invitations and ticket bookkeeping aside), all and by role. */
export function headcount(events: readonly SessionEvent[], roles: ReadonlyMap<string, Role | null>): Headcount {
  const keys = new Set<string>();
  for (const event of events) {
    if (event.participant !== null && isTakingPart(event)) keys.add(event.participant.key);
  }
  let agents = 0;
  let guests = 0;
  for (const key of keys) {
    const role = roles.get(key) ?? null;
    if (role === 'host' || role === 'agent') agents++;
    else if (role === 'guest') guests++;
  }
  return { participants: keys.size, agents, guests };
}

/** A join or leave of one participant, as the spans will use it. */
interface Presence {
  kind: 'join' | 'leave';
  event: SessionEvent;
}

export interface Attendance {
  /** Per participant key (in key order): its joins and the leaves that count, in fold order. */
  presence: Map<string, Presence[]>;
  /** The leaves that count (not stale), in fold order. */
  leaves: SessionEvent[];
}

/**
 * Pairs each participant's joins and leaves. A leave that closes nothing is the start of the
 * story when the participant has no join at all (it left before we heard it join: the span
 * starts at started_at); otherwise it is stale and ignored (Zoom redelivers old leaves; a leave
 * older than the latest join, or a second leave after the participant already left, adds nothing). A join while the
 * participant is already present adds nothing either. `participant.concluded` closes a join
 * still open: mluvii sends SessionOperatorConcluded instead of SessionOperatorLeft to every
 * operator but one (one forwarded away concludes without having "left").
 */
export function attendance(events: readonly SessionEvent[]): Attendance {
  const moves = events.filter(
    (e) =>
      e.participant !== null &&
      (e.type === 'participant.joined' || e.type === 'participant.left' || e.type === 'participant.concluded'),
  );
  const presence = new Map<string, Presence[]>();
  const counted = new Set<SessionEvent>();
  for (const [key, own] of groupBy(moves, (e) => e.participant!.key)) {
    const kept: Presence[] = [];
    // A leave older than the participant's latest join is stale (DESIGN section 6): a leave that
    // closes nothing starts the story only for a participant we never heard join at all.
    const joinedEver = own.some((e) => e.type === 'participant.joined');
    for (const { event, effect } of walkToggles(own, (e) => (e.type === 'participant.joined' ? 'open' : 'close'))) {
      if (effect === 'opened') kept.push({ kind: 'join', event });
      else if (
        effect === 'closed' ||
        (effect === 'stray' && !joinedEver && kept.length === 0 && event.type === 'participant.left')
      ) {
        kept.push({ kind: 'leave', event });
        counted.add(event);
      }
    }
    presence.set(key, kept);
  }
  return { presence, leaves: moves.filter((e) => counted.has(e)) };
}

function seconds(micros: number): number {
  return micros / 1e6;
}

/**
 * The participant spans. A join pairs with the participant's next leave; a join never left
 * closes at ended_at (left_at null while the session is open); a leave with no join before
 * it starts at started_at (or at the leave itself if started_at is later or unknown).
 */
export function spansOf(
  sessionKey: string,
  { presence }: Attendance,
  roles: ReadonlyMap<string, Role | null>,
  startedAt: Micros | null,
  endedAt: Micros | null,
): ParticipantSpan[] {
  const spans: ParticipantSpan[] = [];
  for (const [key, moves] of presence) {
    const span = (joinedAt: Micros, leave: SessionEvent | null): ParticipantSpan => {
      const leftAt = leave !== null ? leave.occurred_at : endedAt === null ? null : Math.max(endedAt, joinedAt);
      return {
        session_key: sessionKey,
        participant_key: key,
        role: roles.get(key) ?? null,
        joined_at: joinedAt,
        left_at: leftAt,
        duration_seconds: leftAt === null ? null : seconds(leftAt - joinedAt),
        leave_reason: leave?.reason ?? null,
      };
    };
    let joinedAt: Micros | null = null;
    for (const { kind, event } of moves) {
      if (kind === 'join') {
        joinedAt = event.occurred_at;
      } else if (joinedAt !== null) {
        spans.push(span(joinedAt, event));
        joinedAt = null;
      } else {
        const at = event.occurred_at;
        spans.push(span(startedAt !== null && startedAt < at ? startedAt : at, event));
      }
    }
    if (joinedAt !== null) spans.push(span(joinedAt, null));
  }
  // Stable: within one instant and participant, the order the walk produced.
  return spans.sort(
    (a, b) =>
      a.joined_at - b.joined_at ||
      (a.participant_key < b.participant_key ? -1 : a.participant_key > b.participant_key ? 1 : 0),
  );
}

/**
 * Most spans overlapping at one instant. Spans are half-open: a leave at the same instant
 * as a join does not overlap it. A span still open counts until the end of time; a
 * zero-length span still means someone was there.
 */
export function peakConcurrent(spans: readonly ParticipantSpan[]): number {
  const points: Array<[Micros, number]> = [];
  for (const { joined_at, left_at } of spans) {
    if (left_at !== null && left_at <= joined_at) continue;
    points.push([joined_at, 1]);
    if (left_at !== null) points.push([left_at, -1]);
  }
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let present = 0;
  let peak = spans.length > 0 ? 1 : 0;
  for (const [, delta] of points) {
    present += delta;
    peak = Math.max(peak, present);
  }
  return peak;
}

/** Sum of the closed spans, in microseconds. */
export function participantMicros(spans: readonly ParticipantSpan[]): number {
  let total = 0;
  for (const { joined_at, left_at } of spans) if (left_at !== null) total += left_at - joined_at;
  return total;
}
