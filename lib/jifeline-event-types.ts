/**
 * The Jifeline Partner API event types sessionflow reads, as the adapter's typeKey spells them.
 * One list for both layers: the websocket listener subscribes to exactly these
 * (ingest/pull/jifeline.ts), and the adapter's table maps each of them and no other
 * (processors/adapters/jifeline/table.ts; the compiler refuses a table that misses one).
 *
 * The reference (shared/providers/jifeline-partner-events.md) names `tickets.ticket.created` and
 * says events cover "the addition or removal of products to a ticket, the closure of a ticket,
 * the cancellation of a ticket, and more"; the other names follow the same
 * `tickets.ticket.<what>` pattern. A type not listed is still read from the REST feed (as
 * provider.other), so nothing is lost if Jifeline spells one differently.
 */
export const JIFELINE_EVENT_TYPE_NAMES = [
  'tickets.ticket.created',
  'tickets.ticket.state_changed',
  'tickets.ticket.closed',
  'tickets.ticket.cancelled',
  'tickets.ticket.product_added',
  'tickets.ticket.product_removed',
] as const;

export type JifelineEventType = (typeof JIFELINE_EVENT_TYPE_NAMES)[number];
