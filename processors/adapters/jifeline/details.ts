/**
 * What a Jifeline ticket event adds to the canonical envelope: state, count and non-personal
 * attributes. Events reach here already checked against their family's schema, so the shapes
 * below hold. The customer's name (PayloadCustomer.name: "Mechanics Inc.") is never read; the
 * customer id is kept only as its keyed pseudonym.
 */
import { participantKey } from '../../../lib/ids.js';
import { attrs } from '../event.js';
import type { NormalizeFailure } from '../types.js';
import { productIds, ticketNumber, ticketState } from './quirks.js';
import type { JifelineMapping } from './table.js';

type Opt<T> = T | null | undefined;

interface JifelineTicket {
  id: string;
  ticket_number?: Opt<number | string>;
  number?: Opt<number | string>;
  state?: Opt<string>;
  cancel_reason_id?: Opt<number>;
}

type ProductId = string | number;

/** An event that fits TicketEvent.avsc or TicketProductEvent.avsc. */
export interface JifelineTicketEvent {
  id: string;
  type: string;
  occurred_at?: Opt<string>;
  payload: {
    ticket: JifelineTicket;
    parent_ticket?: Opt<{ id: string; ticket_number?: Opt<number | string> }>;
    customer?: Opt<{ id: string }>;
    product?: Opt<{ id: ProductId }>;
    products?: Opt<Array<{ id: ProductId }>>;
    product_id?: Opt<ProductId>;
  };
}

export interface Detail {
  state: string | null;
  count: number | null;
  attributes: Record<string, string>;
}

export type DetailResult = { ok: true; detail: Detail } | { ok: false; failure: NormalizeFailure };

/** The customer (a garage: its id leads to its name, address and contacts) as a keyed pseudonym. */
function customerKey(piiKey: string, customerId: string): string {
  return participantKey(piiKey, 'jifeline', `customer:${customerId}`);
}

/** Reads state, count and attributes; `pathOf` names a field where the body as received has it. */
export function readDetails(
  event: JifelineTicketEvent,
  mapping: JifelineMapping,
  piiKey: string,
  pathOf: (path: string) => string,
): DetailResult {
  const { ticket, parent_ticket: parent, customer } = event.payload;
  let state: string | null;
  if ('fixed' in mapping.state) state = mapping.state.fixed;
  else {
    state = ticketState(ticket.state);
    if (state === null && mapping.state.fromPayload === 'required') {
      const path = pathOf('payload.ticket.state');
      return {
        ok: false,
        failure: {
          code: 'FIELD_MISSING',
          message: `a required field is missing: ${path}`,
          field_path: path,
          provider_type: event.type,
        },
      };
    }
  }
  const common = {
    ticket_number: ticketNumber(ticket),
    parent_ticket_id: parent?.id,
    parent_ticket_number: parent ? ticketNumber(parent) : null,
    customer_key: customer ? customerKey(piiKey, customer.id) : null,
    cancel_reason_id: ticket.cancel_reason_id,
  };
  if (mapping.family === 'ticket') return { ok: true, detail: { state, count: null, attributes: attrs(common) } };
  const products = productIds(event.payload);
  return {
    ok: true,
    detail: {
      state,
      count: products.length === 0 ? null : products.length,
      attributes: attrs({ ...common, product_ids: products.join(',') }),
    },
  };
}
