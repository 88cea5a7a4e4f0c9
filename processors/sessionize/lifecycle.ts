/**
 * Identity and life cycle of a session: what it is, when it was created, started and ended,
 * and its status (DESIGN section 6).
 */
import type { SessionEvent, SessionFact, SessionStatus } from '../../lib/canonical.js';
import type { Micros } from '../../lib/time.js';

export type Identity = Pick<SessionFact, 'session_key' | 'provider' | 'account_id' | 'session_id' | 'channel' | 'name'>;

/** What a session is when no event says: Zoom sessions are video, Apizee and Jifeline tickets. */
function defaultChannel(provider: string, sessionKey: string): string | null {
  if (provider === 'zoom') return 'video';
  if (provider === 'apizee' || provider === 'jifeline') return 'ticket';
  if (provider === 'mluvii' && sessionKey.startsWith('mluvii:email:')) return 'email';
  return null;
}

function firstOf<T>(events: readonly SessionEvent[], pick: (e: SessionEvent) => T | null): T | null {
  for (const event of events) {
    const value = pick(event);
    if (value !== null) return value;
  }
  return null;
}

/** Each field: the first non-null value in fold order. */
export function identityOf(events: readonly SessionEvent[]): Identity {
  const sessionKey = firstOf(events, (e) => e.session_key);
  const first = events[0];
  if (sessionKey === null || first === undefined) {
    throw new RangeError('foldSession needs at least one event with a session_key');
  }
  return {
    session_key: sessionKey,
    provider: first.provider,
    account_id: firstOf(events, (e) => e.account_id),
    session_id: firstOf(events, (e) => e.session_id),
    channel: firstOf(events, (e) => e.channel) ?? defaultChannel(first.provider, sessionKey),
    name: firstOf(events, (e) => e.session_name),
  };
}

/** Ticket states after which no more work happens (apizee-tickets.md; Jifeline: closed, cancelled). */
const TERMINAL_STATES = new Map<string, SessionStatus>([
  ['done', 'ended'],
  ['closed', 'closed'],
  ['cancelled', 'cancelled'],
  ['canceled', 'cancelled'],
  ['rejected', 'cancelled'],
  ['declined', 'cancelled'],
  ['expired', 'cancelled'],
]);

export interface TicketEnd {
  /** The status the terminal state means. */
  status: SessionStatus;
  /** When the ticket entered the terminal state it is in (the first of a run of terminal events). */
  at: Micros;
}

/**
 * The ticket's terminal state, if its latest state is one: ticket.state_changed with a
 * terminal `state`, ticket.closed, ticket.cancelled. A ticket reopened afterwards is not
 * terminal.
 */
export function ticketEnd(events: readonly SessionEvent[]): TicketEnd | null {
  let end = null as TicketEnd | null;
  for (const event of events) {
    let status: SessionStatus | null | undefined;
    if (event.type === 'ticket.closed') status = 'closed';
    else if (event.type === 'ticket.cancelled') status = 'cancelled';
    else if (event.type === 'ticket.state_changed' && event.state !== null) {
      status = TERMINAL_STATES.get(event.state.toLowerCase()) ?? null;
    }
    if (status === undefined) continue;
    end = status === null ? null : { status, at: end?.at ?? event.occurred_at };
  }
  return end;
}

export type Lifecycle = Pick<SessionFact, 'created_at' | 'started_at' | 'ended_at' | 'status'>;

function firstTime(events: readonly SessionEvent[], types: readonly string[]): Micros | null {
  return events.find((e) => types.includes(e.type))?.occurred_at ?? null;
}

/**
 * created_at: first session.created or ticket.created (never after started_at). started_at: session.started, else the
 * first join, else created_at. ended_at: the latest session.ended; without one, once the
 * ticket is terminal, the last leave that counts (Jifeline without leaves: the terminal
 * event's time). status: the terminal ticket state, else ended with ended_at, else abandoned
 * past the idle horizon, else open.
 */
export function lifecycleOf(
  events: readonly SessionEvent[],
  leaves: readonly SessionEvent[],
  provider: string,
  options: { idleHorizonMicros?: number; nowMicros?: number },
): Lifecycle {
  const created = firstTime(events, ['session.created', 'ticket.created']);
  const startedAt = firstTime(events, ['session.started']) ?? firstTime(events, ['participant.joined']) ?? created;
  // A session cannot start before it exists: mluvii's SessionCreated carries no time and is
  // stamped when received, which can be after SessionStarted.
  const createdAt = created !== null && startedAt !== null ? Math.min(created, startedAt) : created;

  const ticket = ticketEnd(events);
  let endedAt: Micros | null = null;
  for (const event of events)
    if (event.type === 'session.ended') endedAt = Math.max(endedAt ?? event.occurred_at, event.occurred_at);
  if (endedAt === null && ticket !== null) {
    const lastLeave = leaves.reduce<Micros | null>((max, e) => Math.max(max ?? e.occurred_at, e.occurred_at), null);
    endedAt = lastLeave ?? (provider === 'jifeline' ? ticket.at : null);
  }

  let status: SessionStatus;
  if (ticket !== null) status = ticket.status;
  else if (endedAt !== null) status = 'ended';
  else {
    const lastEventAt = events[events.length - 1]?.occurred_at;
    const { idleHorizonMicros: horizon, nowMicros: now } = options;
    const idle = horizon !== undefined && now !== undefined && lastEventAt !== undefined && now - lastEventAt > horizon;
    status = idle ? 'abandoned' : 'open';
  }
  return { created_at: createdAt, started_at: startedAt, ended_at: endedAt, status };
}
