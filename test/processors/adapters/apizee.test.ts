import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { CANONICAL_TYPES, type RawWebhook, type SessionEvent } from '../../../lib/canonical.js';
import { participantKey } from '../../../lib/ids.js';
import { adapterFor } from '../../../processors/adapters/index.js';
import { apizeeAdapter, APIZEE_EVENT_TYPES, APIZEE_RETIRED_TYPES } from '../../../processors/adapters/apizee/index.js';
import { blankToNull, idText } from '../../../lib/json-values.js';
import {
  fallbackIdentifier,
  foreignObjectType,
  lookupType,
  personIdentifier,
  surveyScore,
} from '../../../processors/adapters/apizee/quirks.js';
import { apizeeSchemaJson, APIZEE_SCHEMA_NAMES } from '../../../processors/adapters/apizee/schemas.js';
import { undocumentedFields } from '../../helpers/avro.js';

// Fixtures: one ticket's timeline (ticket 361, conversation 548) built from the reference's
// per-type props examples; media.OCRDone is the reference's example payload verbatim. Only
// eventCode 41 (media.OCRDone) is documented: the other codes are placeholders.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures/apizee');
const REFERENCE = process.env.APIZEE_EVENTS_REFERENCE ?? resolve(ROOT, '../shared/providers/apizee-session-events.md');
const CTX = { piiKey: 'test-pii-key' };
const INGEST_ID = '01JXK2V8R6N4M2P0Q8S6T4W2Y0';
const RECEIVED_AT = 1749585600000000; // 2025-06-10T20:00:00Z

function raw(body: string | Buffer, over: Partial<RawWebhook> = {}): RawWebhook {
  return {
    ingest_id: INGEST_ID,
    provider: 'apizee',
    received_at: RECEIVED_AT,
    source: 'webhook',
    dedup_key: null,
    headers: {},
    content_type: 'application/json',
    body: Buffer.isBuffer(body) ? body : Buffer.from(body),
    ...over,
  };
}

const files = readdirSync(FIXTURES).sort();
const goldenTypes = files
  .filter((f) => !f.startsWith('failure.') && f.endsWith('.json') && !f.endsWith('.expected.json'))
  .map((f) => f.slice(0, -'.json'.length));
const failureNames = files
  .filter((f) => f.startsWith('failure.') && f.endsWith('.expected.json'))
  .map((f) => f.slice(0, -'.expected.json'.length));
const fixtureBody = (type: string): string => readFileSync(join(FIXTURES, `${type}.json`), 'utf8');
const fixture = (type: string): Record<string, any> => JSON.parse(fixtureBody(type)) as Record<string, any>;
const readJson = <T>(name: string): T => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as T;
const normalize = (body: unknown) =>
  apizeeAdapter.normalize(raw(typeof body === 'string' ? body : JSON.stringify(body)), CTX);
const sessionEventType = avro.Type.forSchema(JSON.parse(readFileSync(join(ROOT, 'schemas/SessionEvent.avsc'), 'utf8')));

describe('apizee adapter: golden fixtures', () => {
  it.each(goldenTypes)('%s', (type) => {
    const result = apizeeAdapter.normalize(raw(fixtureBody(type)), CTX);
    expect(result).toStrictEqual({ events: readJson<SessionEvent[]>(`${type}.expected.json`), failures: [] });
    for (const event of result.events) expect(sessionEventType.isValid(event)).toBe(true);
  });
});

describe('apizee adapter: coverage of the reference', () => {
  it('maps every table type to a canonical type, has a fixture for each, and no fixture without a mapping', () => {
    for (const mapping of APIZEE_EVENT_TYPES.values()) expect(CANONICAL_TYPES).toContain(mapping.canonical);
    expect([...APIZEE_EVENT_TYPES.keys(), ...APIZEE_RETIRED_TYPES.keys()].sort()).toEqual(goldenTypes);
  });

  it.skipIf(!existsSync(REFERENCE))(
    'has a mapping (or a retirement) and a fixture for every type of the reference table',
    () => {
      const text = readFileSync(REFERENCE, 'utf8');
      const rows = [...text.matchAll(/<tr><td>(<del>)?([A-Za-z]+\.[A-Za-z]+)(?:<\/del>)?<\/td>/g)].map((m) => ({
        type: m[2] ?? '',
        struck: m[1] !== undefined,
      }));
      expect(rows.length).toBeGreaterThanOrEqual(30);
      for (const { type, struck } of rows) {
        expect(struck ? APIZEE_RETIRED_TYPES.has(type) : APIZEE_EVENT_TYPES.has(type), `mapping for ${type}`).toBe(
          true,
        );
        expect(goldenTypes, `fixture for ${type}`).toContain(type);
      }
      expect(new Set(rows.map((r) => r.type))).toEqual(
        new Set([...APIZEE_EVENT_TYPES.keys(), ...APIZEE_RETIRED_TYPES.keys()]),
      );
      expect(text).toContain('"eventType": "media.OCRDone"'); // the example payload, fixture media.OCRDone.json
    },
  );
});

describe('apizee adapter: types it does not map', () => {
  it('keeps an unknown event as one provider.other on its ticket, nothing personal read', () => {
    const body = {
      event: 'create',
      time: 1749581500,
      object: 'conversationevent',
      objectId: 1290,
      props: {
        eventType: 'chat.messageSent',
        eventCode: 60,
        conversationId: 548,
        ticketId: 361,
        text: 'my plate is AB-123-CD',
      },
    };
    const { events, failures } = normalize(body);
    expect(failures).toEqual([]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'provider.other',
      provider_type: 'chat.messageSent',
      session_key: 'apizee:361',
      provider_event_id: '1290',
      occurred_at: 1749581500000000,
      participant: null,
      attributes: { conversation_id: '548', event_code: '60' },
    });
    expect(JSON.stringify(events)).not.toContain('AB-123-CD');
  });

  it('keeps a webhook about another object, and prototype names, as provider.other', () => {
    const ticket = normalize({
      event: 'update',
      time: 1749581500,
      object: 'ticket',
      objectId: 361,
      props: { state: 'closed' },
    }).events;
    expect(ticket.map((e) => [e.type, e.provider_type, e.session_key])).toEqual([
      ['provider.other', 'ticket.update', null],
    ]);
    for (const eventType of ['constructor', '__proto__', 'toString']) {
      const { events, failures } = normalize({ time: 1749581500, objectId: 1, props: { eventType, ticketId: 361 } });
      expect(failures).toEqual([]);
      expect(events.map((e) => [e.type, e.provider_type, e.session_key])).toEqual([
        ['provider.other', eventType, 'apizee:361'],
      ]);
    }
  });

  it('reads a type sent in another case as the documented one, keeping what was sent', () => {
    const body = fixture('ticket.invitationNotclicked');
    body.props.eventType = 'ticket.invitationNotClicked';
    const [event] = normalize(body).events;
    expect(event).toMatchObject({ type: 'invitation.not_clicked', provider_type: 'ticket.invitationNotClicked' });
  });
});

describe('apizee adapter: failures', () => {
  it.each(failureNames)('%s', (name) => {
    const bodyFile = files.includes(`${name}.json`) ? `${name}.json` : `${name}.txt`;
    const result = apizeeAdapter.normalize(raw(readFileSync(join(FIXTURES, bodyFile))), CTX);
    expect(result.events).toEqual([]);
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject(readJson<object>(`${name}.expected.json`));
    expect(result.failures[0]?.message).toMatch(/\S/);
  });

  it('never quotes a field value in a failure message', () => {
    const body = fixture('session.established');
    body.props.requestor.email = { address: 'jane.doe@issues.llc' };
    const [failure] = normalize(body).failures;
    expect(failure?.field_path).toBe('props.requestor.email');
    expect(failure?.message).not.toContain('jane');
  });
});

/** Keys whose values are personal data (or free text) in the Apizee reference. */
const PERSONAL = new Set(['email', 'phone', 'firstname', 'lastname', 'lat', 'lng', 'text', 'feedback', 'fr', 'en']);

function personalValues(value: unknown, key = '', out: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const v of value) personalValues(v, key, out);
  } else if (typeof value === 'object' && value !== null)
    for (const [k, v] of Object.entries(value)) personalValues(v, k, out);
  else if (PERSONAL.has(key) && (typeof value === 'string' || typeof value === 'number') && String(value).trim() !== '')
    out.push(String(value));
  return out;
}

describe('apizee adapter: personal data', () => {
  it.each(goldenTypes)('%s: no name, e-mail, phone, coordinate, OCR text or feedback reaches the events', (type) => {
    const text = JSON.stringify(normalize(fixtureBody(type)).events);
    for (const secret of personalValues(fixture(type)))
      expect(text, `${type} leaks ${secret.slice(0, 3)}…`).not.toContain(secret);
    expect(text).not.toMatch(
      /@|apizee\.com|issues\.llc|flegoff|\+33|0605040302|48\.65|3\.365|captured by OCR|feedback"/i,
    );
  });

  it('the fixtures do carry personal data, so the check above checks something', () => {
    const all = goldenTypes.flatMap((type) => personalValues(fixture(type)));
    expect(all).toEqual(
      expect.arrayContaining([
        'john.doe@apizee.com',
        '+3316565454',
        'Jane',
        '0605040302',
        'contact@flegoff.fr',
        'Le Goff',
        String(48.650032799999998),
        String(-3.3655395000000001),
        'text captured by OCR',
        'Ceci est un feedback',
      ]),
    );
  });
});

describe('apizee adapter: identity', () => {
  it.each(goldenTypes)('%s: the same body gives the same event_ids whenever and however often it arrives', (type) => {
    const first = normalize(fixtureBody(type)).events.map((e) => e.event_id);
    const again = apizeeAdapter
      .normalize(
        raw(fixtureBody(type), {
          ingest_id: '01JXK30000000000000000000',
          received_at: RECEIVED_AT + 3_600_000_000,
          source: 'replay',
        }),
        CTX,
      )
      .events.map((e) => e.event_id);
    expect(again).toEqual(first);
    expect(new Set(first).size).toBe(first.length);
  });

  it('tells apart two events of the same type in the same second by their objectId', () => {
    const a = fixture('media.pictureTaken');
    const b = { ...a, objectId: a.objectId + 1, props: { ...a.props, mediaId: 342433 } };
    const [x, y] = [normalize(a).events[0], normalize(b).events[0]];
    expect(x?.occurred_at).toBe(y?.occurred_at);
    expect(x?.event_id).not.toBe(y?.event_id);
    expect([x?.provider_event_id, y?.provider_event_id]).toEqual(['1220', '1221']);
  });

  it('keys a person by the keyed hash of the e-mail (any case), the id when sent, else the ticket and role', () => {
    const agentKey = participantKey(CTX.piiKey, 'apizee', 'john.doe@apizee.com');
    expect(normalize(fixtureBody('session.agentLeft')).events[0]?.participant).toEqual({
      key: agentKey,
      role: 'agent',
      provider_user_id: null,
    });
    const shouted = fixture('session.agentLeft');
    shouted.props.agent.email = ' John.Doe@Apizee.COM ';
    expect(normalize(shouted).events[0]?.participant?.key).toBe(agentKey);

    const withId = fixture('session.established');
    withId.props.requestor.id = 90210;
    expect(normalize(withId).events[0]?.participant).toEqual({
      key: participantKey(CTX.piiKey, 'apizee', '90210'),
      role: 'guest',
      provider_user_id: '90210',
    });

    const nobody = fixture('session.established');
    nobody.props.requestor = { email: '', phone: '', firstname: '', lastname: '' };
    expect(normalize(nobody).events[0]?.participant?.key).toBe(
      participantKey(CTX.piiKey, 'apizee', 'ticket:361:requestor'),
    );
  });

  it('scores survey answers and leaves an unknown answer without a score', () => {
    const body = fixture('survey.answered');
    body.props.surveyAnswer.questions.push({ id: 15, answer: 'Very satisfied' }, { id: 16, answer: 'Bof' });
    expect(normalize(body).events.map((e) => [e.score, e.attributes.question_id])).toEqual([
      [1, '12'],
      [2, '14'],
      [3, '15'],
      [null, '16'],
    ]);
    body.props.surveyAnswer = { questions: [], feedback: '' };
    expect(
      normalize(body).events.map((e) => [e.type, e.score, e.attributes.questions, e.attributes.feedback_given]),
    ).toEqual([['survey.answered', null, '0', 'false']]);
  });
});

describe('apizee adapter: registry and schemas', () => {
  it.skipIf(adapterFor('apizee') === undefined)(
    'is registered under its provider name (once wired in processors/adapters/index.ts)',
    () => {
      expect(adapterFor('apizee')).toBe(apizeeAdapter);
    },
  );

  it.each(APIZEE_SCHEMA_NAMES)('%s.avsc parses and documents every field', (name) => {
    const schema = apizeeSchemaJson(name);
    expect(() => avro.Type.forSchema(schema)).not.toThrow();
    expect(undocumentedFields(schema, name)).toEqual([]);
  });
});

describe('apizee quirks', () => {
  it.each([
    ['', null],
    ['  ', null],
    [null, null],
    [undefined, null],
    [' 0605040302 ', '0605040302'],
  ] as const)('blankToNull(%j) = %j', (input, expected) => expect(blankToNull(input)).toBe(expected));

  it.each([
    [361, '361'],
    ['361', '361'],
    [' 361 ', '361'],
    ['', null],
    [null, null],
    [undefined, null],
    [Number.NaN, null],
  ] as const)('idText(%j) = %j', (input, expected) => expect(idText(input)).toBe(expected));

  it.each([
    [{ email: 'john.doe@apizee.com', phone: '+3316565454' }, 'john.doe@apizee.com'],
    [{ email: ' Jane.Doe@Issues.LLC ', phone: '0605040302' }, 'jane.doe@issues.llc'],
    [{ email: '', phone: '06 05-04.03 (02)' }, '0605040302'],
    [{ id: 7, email: 'john.doe@apizee.com' }, '7'],
    [{ email: '', phone: '' }, null],
    [{}, null],
  ] as const)('personIdentifier(%j) = %j', (person, expected) => expect(personIdentifier(person)).toBe(expected));

  it('fallbackIdentifier names the ticket and the role', () =>
    expect(fallbackIdentifier('361', 'agent')).toBe('ticket:361:agent'));

  it.each([
    ['Not satisfied', 1],
    ['Satisfied', 2],
    ['Very satisfied', 3],
    ['very  Satisfied ', 3],
    ['NOT SATISFIED', 1],
    ['Très satisfait', null],
    ['', null],
    [null, null],
    ['3', null],
  ] as const)('surveyScore(%j) = %j', (answer, expected) => expect(surveyScore(answer)).toBe(expected));

  it.each([
    ['ticket.invitationNotclicked', 'not_clicked'],
    ['ticket.invitationNotClicked', 'not_clicked'],
    ['MEDIA.ocrdone', 'ocr'],
    ['media.OCRDone', 'ocr'],
    ['media.unknown', undefined],
  ] as const)('lookupType(%j) = %j', (type, expected) => {
    const table = new Map([
      ['ticket.invitationNotclicked', 'not_clicked'],
      ['media.OCRDone', 'ocr'],
    ]);
    expect(lookupType(table, type)).toBe(expected);
  });

  it.each([
    [{ event: 'create', object: 'conversationevent' }, null],
    [{ event: 'create' }, null],
    [{ event: 'update', object: 'ticket' }, 'ticket.update'],
    [{ object: 'ticket' }, 'ticket'],
    [{ event: 'update', object: ' ' }, null],
    [{ event: 'update', object: 42 }, null],
  ] as const)('foreignObjectType(%j) = %j', (body, expected) => expect(foreignObjectType(body)).toBe(expected));
});
