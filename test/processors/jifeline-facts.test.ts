/**
 * A Jifeline ticket's facts, folded from the events the adapter reads from the golden fixtures
 * (created, state changed, product added, product removed, closed; another ticket cancelled).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RawWebhook, SessionEvent } from '../../lib/canonical.js';
import { jifelineAdapter } from '../../processors/adapters/jifeline/index.js';
import { foldSession } from '../../processors/sessionize/index.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/jifeline/', import.meta.url));
const HOUR = 3600e6;
const at = (iso: string): number => Date.parse(iso) * 1000;

interface RestEvent {
  id: string;
  type: string;
  occurred_at: string;
  payload: Record<string, unknown>;
}
const fixture = (type: string): RestEvent =>
  JSON.parse(readFileSync(join(FIXTURES, `${type}.json`), 'utf8')) as RestEvent;

let delivery = 0;
/** The canonical events of one delivery of a body, received an hour after it happened. */
function deliver(body: object, occurredAt: string): SessionEvent[] {
  delivery++;
  const raw: RawWebhook = {
    ingest_id: `01HX00000000000000000000${String(delivery).padStart(2, '0')}`,
    provider: 'jifeline',
    received_at: at(occurredAt) + HOUR + delivery,
    source: 'poll',
    dedup_key: null,
    headers: {},
    content_type: 'application/json',
    body: Buffer.from(JSON.stringify(body)),
  };
  const { events, failures } = jifelineAdapter.normalize(raw, { piiKey: 'test-pii-key' });
  expect(failures).toEqual([]);
  return events;
}

const rest = (type: string): SessionEvent[] => deliver(fixture(type), fixture(type).occurred_at);
const socket = (type: string): SessionEvent[] => {
  const e = fixture(type);
  return deliver({ action: 'event-received', event_id: e.id, event_type: e.type, message: e.payload }, e.occurred_at);
};

const TICKET = [
  'tickets.ticket.created',
  'tickets.ticket.state_changed',
  'tickets.ticket.product_added',
  'tickets.ticket.product_removed',
  'tickets.ticket.closed',
];

describe('jifeline ticket facts', () => {
  const events = TICKET.flatMap(rest);
  const { fact, spans } = foldSession(events);

  it('is one closed ticket with its identity', () => {
    expect(fact).toMatchObject({
      session_key: 'jifeline:4f0c2a52-8d7e-4b59-9a0e-6b1f6f0d2c11',
      provider: 'jifeline',
      session_id: '4f0c2a52-8d7e-4b59-9a0e-6b1f6f0d2c11',
      channel: 'ticket',
      name: '72456234',
      status: 'closed',
    });
  });

  it('measures time to close: created_at (= started_at, no one joins a ticket) to ended_at at tickets.ticket.closed', () => {
    expect(fact.created_at).toBe(at('2024-05-02T08:00:00Z'));
    expect(fact.started_at).toBe(fact.created_at);
    expect(fact.ended_at).toBe(at('2024-05-02T08:41:30Z'));
    expect(fact.duration_seconds).toBe(41 * 60 + 30);
    expect(fact.wait_seconds).toBeNull();
  });

  it('has no participants, and every event is known', () => {
    expect(spans).toEqual([]);
    expect(fact).toMatchObject({ participants: 0, agents: 0, guests: 0, events: 5, unknown_events: 0 });
    expect(fact.first_event_at).toBe(at('2024-05-02T08:00:00Z'));
    expect(fact.last_event_at).toBe(at('2024-05-02T08:41:30Z'));
  });

  it('is open until the close arrives, whatever order the rest came in', () => {
    const open = foldSession([...events.slice(0, 4)].reverse()).fact;
    expect(open).toMatchObject({
      status: 'open',
      ended_at: null,
      duration_seconds: null,
      created_at: at('2024-05-02T08:00:00Z'),
    });
  });

  it('gives the same fact when every event also came over the websocket, and for any arrival order', () => {
    const both = [...TICKET.flatMap(socket), ...events];
    const again = foldSession(both.reverse()).fact;
    expect({ ...again, updated_at: 0 }).toEqual({ ...fact, updated_at: 0 });
    expect(again.events).toBe(5);
  });

  it('counts a type it does not map as unknown, without changing the life cycle', () => {
    const other = deliver(
      {
        ...fixture('tickets.ticket.created'),
        id: '01HWW5XKR0A1B2C3D4E5F6G7H8',
        type: 'tickets.ticket.vehicle_changed',
        occurred_at: '2024-05-02T08:10:00Z',
      },
      '2024-05-02T08:10:00Z',
    );
    const withOther = foldSession([...events, ...other]).fact;
    expect(withOther).toMatchObject({
      events: 6,
      unknown_events: 1,
      status: 'closed',
      duration_seconds: fact.duration_seconds,
    });
  });
});

describe('jifeline cancelled ticket', () => {
  it('is cancelled, ended at the cancellation; its time to close runs from created_at', () => {
    const cancelled = fixture('tickets.ticket.cancelled');
    const ticket = (cancelled.payload as { ticket: { id: string; ticket_number: number } }).ticket;
    const created = deliver(
      {
        ...fixture('tickets.ticket.created'),
        id: '01HWW8G3R0Q2W4E6R8T0Y2V4J6',
        occurred_at: '2024-05-02T08:55:00Z',
        payload: { ticket: { ...ticket, state: 'pending' } },
      },
      '2024-05-02T08:55:00Z',
    );
    const { fact } = foldSession([...created, ...rest('tickets.ticket.cancelled')]);
    expect(fact).toMatchObject({
      status: 'cancelled',
      created_at: at('2024-05-02T08:55:00Z'),
      ended_at: at('2024-05-02T09:12:45Z'),
      duration_seconds: 17 * 60 + 45,
    });
  });

  it('is closed when it only reached the state through ticket.state_changed', () => {
    const closedState = deliver(
      {
        ...fixture('tickets.ticket.state_changed'),
        id: '01HWW6ZNE0M3N8R2T6W9C4D7F1',
        occurred_at: '2024-05-02T08:41:30Z',
        payload: { ticket: { id: '4f0c2a52-8d7e-4b59-9a0e-6b1f6f0d2c11', state: 'closed' } },
      },
      '2024-05-02T08:41:30Z',
    );
    const { fact } = foldSession([...rest('tickets.ticket.created'), ...closedState]);
    expect(fact).toMatchObject({
      status: 'closed',
      ended_at: at('2024-05-02T08:41:30Z'),
      duration_seconds: 41 * 60 + 30,
    });
  });
});

describe('jifeline products in the fact', () => {
  const events = TICKET.flatMap(rest);

  it('has them on the events: ids in attributes.product_ids, how many in count', () => {
    const products = events.filter((e) => e.type === 'ticket.product_added' || e.type === 'ticket.product_removed');
    expect(products.map((e) => [e.type, e.attributes.product_ids, e.count])).toEqual([
      ['ticket.product_added', '311', 1],
      ['ticket.product_removed', '311', 1],
    ]);
  });

  it('counts the products added and removed on the ticket', () => {
    const { fact } = foldSession(events);
    expect(fact).toMatchObject({ products_added: 1, products_removed: 1, conversations: 0 });
  });
});
