/**
 * The events of recently touched sessions, as session_events holds them, so that a batch folds
 * its sessions without reading their earlier events back out of DuckDB (DESIGN section 7: the
 * warehouse is the single writer, so what it wrote is what the table holds). Bounded by an
 * estimate of the bytes the events take; the least recently touched sessions go first, and a
 * session not here is read from the table.
 *
 * Transactional with the warehouse's DuckDB transaction: what a batch stages is kept only once
 * that transaction has committed, and dropped if it rolls back.
 */
import type { SessionEvent } from '../../lib/canonical.js';

interface Entry {
  events: readonly SessionEvent[];
  bytes: number;
}

export class SessionCache {
  private readonly sessions = new Map<string, Entry>();
  private readonly staged = new Map<string, readonly SessionEvent[]>();
  private total = 0;

  constructor(readonly maxBytes: number) {}

  /** A session's stored events, or undefined when the table must be asked. */
  get(key: string): readonly SessionEvent[] | undefined {
    const entry = this.sessions.get(key);
    if (!entry) return undefined;
    this.sessions.delete(key); // most recently used last
    this.sessions.set(key, entry);
    return entry.events;
  }

  /** What the session holds once the transaction in hand commits. */
  stage(key: string, events: readonly SessionEvent[]): void {
    this.staged.set(key, events);
  }

  commit(): void {
    for (const [key, events] of this.staged) this.put(key, events);
    this.staged.clear();
  }

  /** Drops what is held of these sessions (an erasure removed some of their events): read from the table next time. */
  forget(keys: readonly string[]): void {
    for (const key of keys) {
      this.remove(key);
      this.staged.delete(key);
    }
  }

  rollback(): void {
    this.staged.clear();
  }

  private put(key: string, events: readonly SessionEvent[]): void {
    const previous = this.sessions.get(key);
    this.remove(key);
    // A batch stages the events the session had plus its new ones: count only those added.
    const grown = previous !== undefined && events.length >= previous.events.length && events[0] === previous.events[0];
    const bytes = grown
      ? events.slice(previous.events.length).reduce((sum, e) => sum + eventBytes(e), previous.bytes)
      : events.reduce((sum, e) => sum + eventBytes(e), 0);
    if (bytes > this.maxBytes / 4) return; // one huge session must not push out all the others
    this.sessions.set(key, { events, bytes });
    this.total += bytes;
    for (const [oldest, entry] of this.sessions) {
      if (this.total <= this.maxBytes) break;
      this.sessions.delete(oldest);
      this.total -= entry.bytes;
    }
  }

  private remove(key: string): void {
    const entry = this.sessions.get(key);
    if (!entry) return;
    this.sessions.delete(key);
    this.total -= entry.bytes;
  }
}

/** Roughly what an event takes on the heap: its strings (two bytes a character) and a fixed overhead for the objects. */
function eventBytes(event: SessionEvent): number {
  let chars = 0;
  for (const value of Object.values(event)) if (typeof value === 'string') chars += value.length;
  for (const [key, value] of Object.entries(event.attributes)) chars += key.length + value.length;
  if (event.participant) chars += event.participant.key.length + (event.participant.provider_user_id?.length ?? 0);
  return 400 + 2 * chars;
}
