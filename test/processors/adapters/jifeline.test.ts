import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { CANONICAL_TYPES, type RawWebhook, type SessionEvent } from '../../../lib/canonical.js';
import { jifelineAdapter, JIFELINE_EVENT_TYPES } from '../../../processors/adapters/jifeline/index.js';
import { blankToNull } from '../../../lib/json-values.js';
import {
  canonicalEventId,
  productIds,
  ticketNumber,
  ticketState,
  typeKey,
  ulidMicros,
} from '../../../processors/adapters/jifeline/quirks.js';
import { jifelineSchemaJson, JIFELINE_SCHEMA_NAMES } from '../../../processors/adapters/jifeline/schemas.js';
import { JIFELINE_TICKET_STATES } from '../../../processors/adapters/jifeline/table.js';
import { undocumentedFields } from '../../helpers/avro.js';
import { JIFELINE_SUBSCRIBED_TYPES } from '../../../ingest/pull/jifeline.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures/jifeline');
const REFERENCE =
  process.env.JIFELINE_EVENTS_REFERENCE ?? resolve(ROOT, '../shared/providers/jifeline-partner-events.md');
const CTX = { piiKey: 'test-pii-key' };
const INGEST_ID = '01HWZ5Q6T3J8M2N4P6R8S0V2X4';
const RECEIVED_AT = 1714665600000000; // 2024-05-02T16:00:00Z

function raw(body: string | Buffer | object, over: Partial<RawWebhook> = {}): RawWebhook {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return {
    ingest_id: INGEST_ID,
    provider: 'jifeline',
    received_at: RECEIVED_AT,
    source: 'poll',
    dedup_key: null,
    headers: {},
    content_type: 'application/json',
    body: bytes,
    ...over,
  };
}

const files = readdirSync(FIXTURES).sort();
const bodies = files
  .filter((f) => !f.startsWith('failure.') && f.endsWith('.json') && !f.endsWith('.expected.json'))
  .map((f) => f.slice(0, -'.json'.length));
const restTypes = bodies.filter((name) => name.startsWith('tickets.'));
/** Bodies that are neither a golden type nor a failure: read by the tests that name them. */
const OTHER_BODIES = ['ticket-number-text', 'websocket-without-ticket'];
const failureNames = files
  .filter((f) => f.startsWith('failure.') && f.endsWith('.expected.json'))
  .map((f) => f.slice(0, -'.expected.json'.length));
const fixtureText = (name: string): string => readFileSync(join(FIXTURES, `${name}.json`), 'utf8');
const readJson = <T>(name: string): T => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as T;
const sessionEventType = avro.Type.forSchema(JSON.parse(readFileSync(join(ROOT, 'schemas/SessionEvent.avsc'), 'utf8')));

interface RestEvent {
  id: string;
  type: string;
  occurred_at: string;
  payload: Record<string, unknown>;
}
const rest = (type: string): RestEvent => JSON.parse(fixtureText(type)) as RestEvent;
const frame = (event: RestEvent, message: unknown = event.payload) => ({
  action: 'event-received',
  event_id: event.id,
  event_type: event.type,
  message,
});
const normalize = (body: string | object, over: Partial<RawWebhook> = {}) =>
  jifelineAdapter.normalize(raw(body, over), CTX);

describe('jifeline adapter: golden fixtures', () => {
  it.each(bodies.filter((name) => !OTHER_BODIES.includes(name)))('%s', (name) => {
    const result = normalize(fixtureText(name));
    expect(result).toStrictEqual({ events: readJson<SessionEvent[]>(`${name}.expected.json`), failures: [] });
    for (const event of result.events) expect(sessionEventType.isValid(event)).toBe(true);
  });
});

describe('jifeline adapter: coverage', () => {
  it('maps every table type to a canonical type and has a REST fixture for it, and no fixture without a mapping', () => {
    for (const mapping of JIFELINE_EVENT_TYPES.values()) expect(CANONICAL_TYPES).toContain(mapping.canonical);
    expect([...JIFELINE_EVENT_TYPES.keys()].sort()).toEqual(restTypes);
  });

  it.skipIf(!existsSync(REFERENCE))('maps every event type the reference names', () => {
    const named = new Set(
      [...readFileSync(REFERENCE, 'utf8').matchAll(/\btickets\.ticket\.[a-z_]+/g)].map((m) => m[0]),
    );
    expect(named.size).toBeGreaterThan(0);
    for (const type of named) expect(JIFELINE_EVENT_TYPES.has(type), `mapping for ${type}`).toBe(true);
  });
});

describe('jifeline adapter: one event, two shapes', () => {
  it.each(restTypes)('%s: the websocket frame (message = payload) gives the same events as the REST object', (type) => {
    const fromRest = normalize(fixtureText(type));
    const fromSocket = normalize(frame(rest(type)), {
      ingest_id: '01HX0000000000000000000000',
      received_at: RECEIVED_AT + 1,
    });
    expect(fromSocket.failures).toEqual([]);
    expect(fromSocket.events.map((e) => ({ ...e, ingest_id: INGEST_ID, received_at: RECEIVED_AT }))).toEqual(
      fromRest.events,
    );
  });

  it.each(restTypes)('%s: a frame whose message is the whole event is read the same', (type) => {
    expect(normalize(frame(rest(type), rest(type)))).toEqual(normalize(fixtureText(type)));
  });

  it('keeps the event_id when occurred_at and the ULID time disagree (the REST example: 2019 occurred_at, 2024 ULID)', () => {
    const event = { ...rest('tickets.ticket.created'), occurred_at: '2019-08-24T14:15:22Z' };
    const [fromRest] = normalize(event).events;
    const [fromSocket] = normalize(frame(event)).events;
    expect(fromRest?.occurred_at).toBe(Date.UTC(2019, 7, 24, 14, 15, 22) * 1000);
    expect(fromSocket?.occurred_at).toBe(ulidMicros(event.id));
    expect(fromSocket?.event_id).toBe(fromRest?.event_id);
  });

  it('reads a lower-case ULID as the same event', () => {
    const event = rest('tickets.ticket.closed');
    const [lower] = normalize({ ...event, id: event.id.toLowerCase() }).events;
    expect(lower).toEqual(normalize(event).events[0]);
  });
});

describe('jifeline adapter: types it does not map', () => {
  it('keeps an unknown ticket event as one provider.other of its ticket', () => {
    const event = { ...rest('tickets.ticket.created'), type: 'tickets.ticket.vehicle_changed' };
    const { events, failures } = normalize(event);
    expect(failures).toEqual([]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'provider.other',
      provider_type: 'tickets.ticket.vehicle_changed',
      session_key: 'jifeline:4f0c2a52-8d7e-4b59-9a0e-6b1f6f0d2c11',
      session_name: '72456234',
      channel: 'ticket',
      provider_event_id: event.id,
      occurred_at: Date.UTC(2024, 4, 2, 8) * 1000,
      attributes: {},
    });
    expect(JSON.stringify(events)).not.toContain('Novakova');
  });

  it('keeps an unknown event without a ticket, and treats prototype names as unknown', () => {
    for (const type of ['connectors.connector.updated', 'constructor', '__proto__']) {
      const { events, failures } = normalize({
        id: '01HWW4N2R0K7M2Q9V4X8B3N6P1',
        type,
        occurred_at: '2024-05-02T08:00:00Z',
        payload: { connector: { id: 'c1' } },
      });
      expect(failures).toEqual([]);
      expect(events.map((e) => [e.type, e.provider_type, e.session_key, e.channel])).toEqual([
        ['provider.other', type, null, null],
      ]);
    }
  });

  it.each([
    ['tickets.ticket.product-added', 'ticket.product_added'],
    ['Tickets.Ticket.Canceled', 'ticket.cancelled'],
    ['tickets.ticket.stateChanged', 'ticket.state_changed'],
  ] as const)('reads the spelling %s as %s and keeps it as provider_type', (type, canonical) => {
    const base = rest(
      canonical === 'ticket.product_added' ? 'tickets.ticket.product_added' : 'tickets.ticket.state_changed',
    );
    const [event] = normalize({ ...base, type }).events;
    expect(event).toMatchObject({ type: canonical, provider_type: type });
  });
});

describe('jifeline adapter: what the reference leaves open', () => {
  it('reads a ticket_number sent as a string as the number it spells', () => {
    const result = normalize(fixtureText('ticket-number-text'));
    expect(result.failures).toEqual([]);
    expect(result.events.map((e) => [e.type, e.session_name, e.attributes.ticket_number])).toEqual([
      ['ticket.created', '72456234', '72456234'],
    ]);
    const asNumber = JSON.parse(fixtureText('ticket-number-text')) as { payload: { ticket: Record<string, unknown> } };
    asNumber.payload.ticket.ticket_number = 72456234;
    expect(normalize(asNumber).events).toEqual(result.events);
  });

  it('takes a frame without the ticket as "an event happened": no event, no dead letter (the poll brings it)', () => {
    expect(normalize(fixtureText('websocket-without-ticket'))).toEqual({ events: [], failures: [] });
    // Shaped as the reference shows every frame (`message: {}`), for every type the table maps.
    for (const type of JIFELINE_EVENT_TYPES.keys()) {
      expect(
        normalize({ action: 'event-received', event_id: '01HWW7EFMGV2X7Z3B8D4F1H6J9', event_type: type, message: {} }),
        type,
      ).toEqual({ events: [], failures: [] });
    }
    // A type the table does not know stays provider.other.
    expect(
      normalize({
        action: 'event-received',
        event_id: '01HWW7EFMGV2X7Z3B8D4F1H6J9',
        event_type: 'tickets.ticket.renamed',
        message: {},
      }).events.map((e) => e.type),
    ).toEqual(['provider.other']);
  });

  it('subscribes the websocket to exactly the types of the table', () => {
    expect(JIFELINE_SUBSCRIBED_TYPES).toEqual([...JIFELINE_EVENT_TYPES.keys()]);
  });
});

describe('jifeline adapter: failures', () => {
  it.each(failureNames)('%s', (name) => {
    const bodyFile = files.includes(`${name}.json`) ? `${name}.json` : `${name}.txt`;
    const result = normalize(readFileSync(join(FIXTURES, bodyFile)));
    const expected = readJson<{ code: string; field_path: string | null; provider_type: string | null }>(
      `${name}.expected.json`,
    );
    expect(result.events).toEqual([]);
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject(expected);
    expect(result.failures[0]?.message).toMatch(/\S/);
  });

  it('never quotes a field value in a failure message', () => {
    const [failure] = normalize({ ...rest('tickets.ticket.closed'), occurred_at: 'Jana Novakova at noon' }).failures;
    expect(failure?.field_path).toBe('occurred_at');
    expect(failure?.message).not.toContain('Jana');
  });
});

const PERSONAL = new Set(['name', 'email', 'phone', 'vin']);

function personalValues(value: unknown, key = '', out: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const v of value) personalValues(v, key, out);
  } else if (typeof value === 'object' && value !== null)
    for (const [k, v] of Object.entries(value)) personalValues(v, k, out);
  else if (PERSONAL.has(key) && typeof value === 'string' && value.trim() !== '') out.push(value);
  return out;
}

describe('jifeline adapter: personal data', () => {
  it.each(bodies)('%s: no customer name, e-mail or customer id reaches the events', (name) => {
    const body = JSON.parse(fixtureText(name)) as unknown;
    const text = JSON.stringify(normalize(fixtureText(name)).events);
    for (const secret of personalValues(body))
      expect(text, `${name} leaks ${secret.slice(0, 3)}…`).not.toContain(secret);
    expect(text).not.toMatch(/@example\.com|160c0c4b-9966|7d2e9a41-5c3b/);
  });

  it('the fixtures do carry personal data, so the check above checks something', () => {
    const all = bodies.flatMap((name) => personalValues(JSON.parse(fixtureText(name))));
    expect(all).toEqual(expect.arrayContaining(['Autoservis Jana Novakova', 'karel.svoboda@example.com']));
  });
});

describe('jifeline adapter: identity', () => {
  it.each(bodies)('%s: the same body gives the same event_ids whenever and however often it arrives', (name) => {
    const first = normalize(fixtureText(name)).events.map((e) => e.event_id);
    const again = normalize(fixtureText(name), {
      ingest_id: '01HX0000000000000000000000',
      received_at: RECEIVED_AT + 3_600_000_000,
      source: 'replay',
    }).events.map((e) => e.event_id);
    expect(again).toEqual(first);
  });

  it('gives every golden event its own event_id', () => {
    const ids = restTypes.flatMap((type) => normalize(fixtureText(type)).events.map((e) => e.event_id));
    expect(new Set(ids).size).toBe(restTypes.length);
  });

  it('is the adapter of provider jifeline', () => expect(jifelineAdapter.provider).toBe('jifeline'));
});

describe('jifeline adapter: schemas', () => {
  it.each(JIFELINE_SCHEMA_NAMES)('%s.avsc parses and documents every field', (name) => {
    const schema = jifelineSchemaJson(name);
    expect(() => avro.Type.forSchema(schema)).not.toThrow();
    expect(undocumentedFields(schema, name)).toEqual([]);
  });
});

describe('jifeline quirks', () => {
  it.each([
    ['', null],
    ['  ', null],
    [null, null],
    [undefined, null],
    [' pending ', 'pending'],
  ] as const)('blankToNull(%j) = %j', (input, expected) => expect(blankToNull(input)).toBe(expected));

  it.each([
    ['tickets.ticket.created', 'tickets.ticket.created'],
    ['tickets.ticket.product-added', 'tickets.ticket.product_added'],
    ['Tickets.Ticket.Canceled', 'tickets.ticket.cancelled'],
    ['tickets.ticket.productRemoved', 'tickets.ticket.product_removed'],
    [' tickets.ticket.closed ', 'tickets.ticket.closed'],
  ] as const)('typeKey(%j) = %j', (type, expected) => expect(typeKey(type)).toBe(expected));

  it.each([
    ['in_progress', 'in_progress'],
    ['IN_PROGRESS', 'in_progress'],
    ['in-progress', 'in_progress'],
    ['In progress', 'in_progress'],
    ['inProgress', 'in_progress'],
    ['Canceled', 'cancelled'],
    ['on_hold', 'on_hold'],
    ['', null],
    [null, null],
  ] as const)('ticketState(%j) = %j', (state, expected) => expect(ticketState(state)).toBe(expected));

  it('keeps every documented state as it is', () => {
    for (const state of JIFELINE_TICKET_STATES) expect(ticketState(state)).toBe(state);
  });

  it.each([
    [{ number: 12456234, ticket_number: 72456234 }, '72456234'],
    [{ number: 12456234 }, '12456234'],
    [{ ticket_number: null }, null],
    [{}, null],
  ] as const)('ticketNumber(%j) = %j', (ticket, expected) => expect(ticketNumber(ticket)).toBe(expected));

  it.each([
    ['01HWTCTT509VV8X9XYGPTR5N8Q', '01HWTCTT509VV8X9XYGPTR5N8Q'],
    ['01hwtctt509vv8x9xygptr5n8q', '01HWTCTT509VV8X9XYGPTR5N8Q'],
    [' 01HWTCTT509VV8X9XYGPTR5N8Q ', '01HWTCTT509VV8X9XYGPTR5N8Q'],
    ['497f6eca-6276-4993-bfeb-53cbbbba6f08', '497f6eca-6276-4993-bfeb-53cbbbba6f08'],
  ] as const)('canonicalEventId(%j) = %j', (id, expected) => expect(canonicalEventId(id)).toBe(expected));

  it.each([
    ['01HWTCTT509VV8X9XYGPTR5N8Q', Date.UTC(2024, 4, 1, 15, 37, 8) * 1000],
    ['01hwtctt509vv8x9xygptr5n8q', Date.UTC(2024, 4, 1, 15, 37, 8) * 1000],
    ['42', undefined],
    // 26 Crockford characters whose time is past 2^48 - 1 ms: not a ULID (ulidx's isValid says yes, its decodeTime throws).
    ['ZZZZZZZZZZZZZZZZZZZZZZZZZZ', undefined],
    ['80000000000000000000000000', undefined],
    ['7ZZZZZZZZZZZZZZZZZZZZZZZZZ', (2 ** 48 - 1) * 1000],
  ] as const)('ulidMicros(%j) = %j', (id, expected) => expect(ulidMicros(id)).toBe(expected));

  it.each(['ZZZZZZZZZZZZZZZZZZZZZZZZZZ', 'zzzzzzzzzzzzzzzzzzzzzzzzzz'])(
    'keeps an overflowing id %j as sent, not as a ULID',
    (id) => {
      expect(canonicalEventId(id)).toBe(id);
    },
  );

  // Shrunk by the poison property (test/processors/adapters/poison.property.test.ts): this frame
  // made the adapter throw "Malformed ULID: timestamp too large".
  it('dead-letters a frame whose event_id overflows the ULID time instead of throwing', () => {
    const body = {
      action: 'event-received',
      event_id: 'ZZZZZZZZZZZZZZZZZZZZZZZZZZ',
      event_type: 'tickets.ticket.closed',
      message: { customer: '9999-12-31T23:59:59Z', parent_ticket: null },
    };
    const result = normalize(body);
    expect(result.events).toEqual([]);
    expect(result.failures).toMatchObject([{ code: 'FIELD_MISSING', field_path: 'message.occurred_at' }]);
  });

  it.each([
    [{ product: { id: 311 } }, ['311']],
    [{ products: [{ id: 311 }, { id: '312' }, { id: 311 }] }, ['311', '312']],
    [{ product_id: 'P-9' }, ['P-9']],
    [{ product: { id: ' ' }, products: [], product_id: null }, []],
    [{}, []],
  ] as const)('productIds(%j) = %j', (payload, expected) => expect(productIds(payload)).toEqual(expected));
});
