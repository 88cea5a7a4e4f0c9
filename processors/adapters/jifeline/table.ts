/**
 * The explicit map from Jifeline Partner API event types (shared/providers/jifeline-partner-events.md,
 * `GET /v2/system/events` and the websocket's `event-received`) to canonical types (DESIGN
 * section 5). The types are those of lib/jifeline-event-types.ts, which the websocket subscribes
 * to; the table maps each of them. A type not in this table (after typeKey) becomes
 * provider.other, so nothing is lost if Jifeline spells one differently: a replay after a table
 * change maps it.
 */
import type { CanonicalType } from '../../../lib/canonical.js';
import { JIFELINE_EVENT_TYPE_NAMES, type JifelineEventType } from '../../../lib/jifeline-event-types.js';

/** How the details of an event are read; each family has one schema in schemas/providers/jifeline/. */
export type JifelineFamily = 'ticket' | 'product';

/** File names (without .avsc) under schemas/providers/jifeline/. */
export const JIFELINE_SCHEMA_OF = {
  ticket: 'TicketEvent',
  product: 'TicketProductEvent',
} as const satisfies Record<JifelineFamily, string>;

/** Where the canonical `state` comes from: a fixed state the type implies, the payload's ticket.state, or nowhere. */
export type StateSource = { fixed: string } | { fromPayload: 'required' | 'optional' };

export interface JifelineMapping {
  readonly canonical: CanonicalType;
  readonly family: JifelineFamily;
  readonly state: StateSource;
}

const row = (canonical: CanonicalType, family: JifelineFamily, state: StateSource): JifelineMapping => ({
  canonical,
  family,
  state,
});

/** The documented ticket states (shared/providers/README.md, Jifeline quirks). */
export const JIFELINE_TICKET_STATES = [
  'prepared',
  'pending',
  'in_progress',
  'outsourced',
  'closed',
  'cancelled',
] as const;

const TABLE: { readonly [type in JifelineEventType]: JifelineMapping } = {
  // A ticket is created in state prepared (no customer channel yet) or pending; the payload may say which.
  'tickets.ticket.created': row('ticket.created', 'ticket', { fromPayload: 'optional' }),
  'tickets.ticket.state_changed': row('ticket.state_changed', 'ticket', { fromPayload: 'required' }),
  'tickets.ticket.closed': row('ticket.closed', 'ticket', { fixed: 'closed' }),
  'tickets.ticket.cancelled': row('ticket.cancelled', 'ticket', { fixed: 'cancelled' }),
  'tickets.ticket.product_added': row('ticket.product_added', 'product', { fromPayload: 'optional' }),
  'tickets.ticket.product_removed': row('ticket.product_removed', 'product', { fromPayload: 'optional' }),
};

/**
 * Jifeline event type (as typeKey spells it) → mapping, in the order of the list. A Map, so
 * "constructor" is an unknown type, not a prototype hit.
 */
export const JIFELINE_EVENT_TYPES: ReadonlyMap<string, JifelineMapping> = new Map(
  JIFELINE_EVENT_TYPE_NAMES.map((type) => [type, TABLE[type]]),
);
