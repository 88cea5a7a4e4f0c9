import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CANONICAL_TYPES, type RawWebhook, type SessionEvent } from '../../../lib/canonical.js';
import { ADAPTERS } from '../../../processors/adapters/index.js';
import { mluviiAdapter, MLUVII_EVENT_TYPES } from '../../../processors/adapters/mluvii/index.js';
import { escapeControlCharsInStrings } from '../../../lib/lenient-json.js';
import {
  avOperatorId,
  clientRole,
  parseMluviiTime,
  settingTenantId,
} from '../../../processors/adapters/mluvii/quirks.js';
import { mluviiSchemaJson, MLUVII_SCHEMA_NAMES } from '../../../processors/adapters/mluvii/schemas.js';
import { mluviiContentKey } from '../../../lib/mluvii-keys.js';
import { undocumentedFields } from '../../helpers/avro.js';
import { TIME_RANGE } from '../../../lib/time.js';
import { foldSession } from '../../../processors/sessionize/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures/mluvii');
const REFERENCE = process.env.MLUVII_WEBHOOK_REFERENCE ?? resolve(ROOT, '../shared/providers/mluvii-webhooks.md');
const CTX = { piiKey: 'test-pii-key' };
const INGEST_ID = '01HWZ5Q6T3J8M2N4P6R8S0V2X4';
const RECEIVED_AT = 1714665600000000; // 2024-05-02T16:00:00Z

function raw(body: string | Buffer | object, over: Partial<RawWebhook> = {}): RawWebhook {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return {
    ingest_id: INGEST_ID,
    provider: 'mluvii',
    received_at: RECEIVED_AT,
    source: 'webhook',
    dedup_key: null,
    headers: {},
    content_type: 'application/json',
    body: bytes,
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
/** A fixture as an object (the WelcomeMessage example breaks a string across lines: see escapeControlCharsInStrings). */
const fixture = (type: string) =>
  JSON.parse(escapeControlCharsInStrings(fixtureBody(type))) as { eventType: string; data: Record<string, unknown> };
const normalize = (body: string | object, over: Partial<RawWebhook> = {}) =>
  mluviiAdapter.normalize(raw(body, over), CTX);
const readJson = <T>(name: string): T => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as T;
const sessionEventType = avro.Type.forSchema(JSON.parse(readFileSync(join(ROOT, 'schemas/SessionEvent.avsc'), 'utf8')));
const micros = (iso: string, fraction = 0) => Date.parse(iso) * 1000 + fraction;

describe('mluvii adapter: golden fixtures (the documented examples)', () => {
  it.each(goldenTypes)('%s', (type) => {
    const result = normalize(fixtureBody(type));
    expect(result).toStrictEqual({ events: readJson<SessionEvent[]>(`${type}.expected.json`), failures: [] });
    for (const event of result.events) expect(sessionEventType.isValid(event)).toBe(true);
  });
});

describe('mluvii facts: what counts as a message', () => {
  it('counts chat messages only: a HeroCard is a form sent, a transcript e-mailed or a link preview is no message', () => {
    const events = [
      'SessionActivityWelcomeMessage',
      'SessionActivityHeroCard',
      'SessionActivityChatToMail',
      'SessionActivityPreviewUrl',
    ]
      .flatMap((type) => normalize(fixture(type)).events)
      .map((e) => ({ ...e, session_key: 'mluvii:1', session_id: '1' }));
    const { fact } = foldSession(events, { idleHorizonMicros: undefined, nowMicros: RECEIVED_AT });
    expect(fact).toMatchObject({ messages: 1, unknown_events: 0 });
    expect(events.map((e) => e.type)).toEqual(['message.sent', 'form.sent', 'session.updated', 'session.updated']);
  });
});

describe('mluvii facts: sharing and audio/video claim no time mluvii does not give', () => {
  const at = (seconds: number) => new Date(Date.UTC(2024, 4, 6, 10, 0, seconds)).toISOString().replace('Z', '+00:00');
  const session = 7383872;
  const started = {
    eventType: 'SessionStarted',
    data: { id: session, tenantId: 62, channel: 'Chat', source: 'Default', started: at(0) },
  };
  const ended = {
    eventType: 'SessionEnded',
    data: { id: session, tenantId: 62, channel: 'Chat', source: 'Default', started: at(0), ended: at(600) },
  };
  const av = (eventType: string, seconds: number, state?: string) => ({
    eventType,
    data: { sessionId: session, operatorId: 2710, time: at(seconds), ...(state && { state }) },
  });
  const factOf = (...bodies: object[]) =>
    foldSession(
      bodies.flatMap((b, i) => normalize(b, { ingest_id: `ing-${i}` }).events),
      { idleHorizonMicros: undefined, nowMicros: RECEIVED_AT },
    ).fact;

  it('counts a SharedScreen as a share of no length: 100 s into a 600 s session is not 500 s of sharing', () => {
    const shared = {
      ...fixture('SessionActivitySharedScreen'),
      data: { ...fixture('SessionActivitySharedScreen').data, sessionId: session, time: at(100) },
    };
    expect(factOf(started, shared, ended)).toMatchObject({ shares: 1, sharing_seconds: 0, duration_seconds: 600 });
  });

  it('counts A/V time from a request to its termination only: not a refused request, not one never terminated', () => {
    expect(
      factOf(started, av('SessionActivityAvRequest', 100), av('SessionActivityAvTerminated', 220), ended),
    ).toMatchObject({ av_seconds: 120 });
    expect(factOf(started, av('SessionActivityAvRequest', 100), ended)).toMatchObject({ av_seconds: 0 });
    expect(factOf(started, av('SessionActivityAvRequest', 100, 'RejectedUser'), ended)).toMatchObject({
      av_seconds: 0,
    });
    expect(
      factOf(
        started,
        av('SessionActivityAvRequest', 100, 'RejectedNoMic'),
        av('SessionActivityAvTerminated', 130),
        ended,
      ),
    ).toMatchObject({ av_seconds: 0 });
  });
});

describe('mluvii adapter: coverage of the reference', () => {
  it('maps every table type to canonical types and has a fixture for it, and no fixture without a mapping', () => {
    for (const mapping of MLUVII_EVENT_TYPES.values())
      for (const type of mapping.canonical) expect(CANONICAL_TYPES).toContain(type);
    expect([...MLUVII_EVENT_TYPES.keys()].sort()).toEqual(goldenTypes);
  });

  it.skipIf(!existsSync(REFERENCE))(
    'has a mapping and a fixture, equal to the documented example, for every eventType of the reference',
    () => {
      const examples = [...readFileSync(REFERENCE, 'utf8').matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
      const documented = examples.map((example) => /"eventType": "(\w+)"/.exec(example)?.[1] ?? '');
      expect(documented.length).toBeGreaterThanOrEqual(39);
      examples.forEach((example, i) => {
        const type = documented[i]!;
        expect(MLUVII_EVENT_TYPES.has(type), `mapping for ${type}`).toBe(true);
        expect(fixtureBody(type).trim(), `fixture for ${type}`).toBe(example.trim());
      });
      expect(new Set(documented)).toEqual(new Set(MLUVII_EVENT_TYPES.keys()));
    },
  );
});

describe('mluvii adapter: types it does not map', () => {
  it('keeps an unknown activity as one provider.other in its session, with its activityId', () => {
    const { events, failures } = normalize({
      eventType: 'SessionActivityTranslation',
      data: {
        sessionId: 7383730,
        activityId: 50898999,
        time: '2024-05-06T15:05:29:719899+02:00',
        text: 'Dobrý den',
        tenantId: 62,
      },
    });
    expect(failures).toEqual([]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'provider.other',
      provider_type: 'SessionActivityTranslation',
      session_key: 'mluvii:7383730',
      provider_event_id: '50898999',
      account_id: '62',
      occurred_at: micros('2024-05-06T13:05:29Z', 719899),
      participant: null,
      attributes: {},
    });
    expect(JSON.stringify(events)).not.toContain('Dobrý');
  });

  it('reads the session of unknown session and e-mail events from data.id, and none from other ids', () => {
    const keyOf = (eventType: string, data: object) =>
      normalize({ eventType, data }).events.map((e) => [e.type, e.session_key, e.channel]);
    expect(keyOf('SessionRated', { id: 7, tenantId: 62 })).toEqual([['provider.other', 'mluvii:7', null]]);
    expect(keyOf('EmailThreadClosed', { id: 8, tenantId: 62 })).toEqual([
      ['provider.other', 'mluvii:email:8', 'email'],
    ]);
    expect(keyOf('ContactMerged', { id: 9 })).toEqual([['provider.other', null, null]]);
  });

  it('keeps an unknown event without data or time, and treats prototype names as unknown', () => {
    for (const eventType of ['TenantDeleted', 'constructor', '__proto__', 'toString']) {
      const { events, failures } = normalize({ eventType });
      expect(failures).toEqual([]);
      expect(events.map((e) => [e.type, e.provider_type, e.session_key, e.occurred_at])).toEqual([
        ['provider.other', eventType, null, RECEIVED_AT],
      ]);
    }
  });
});

describe('mluvii adapter: failures', () => {
  it.each(failureNames)('%s', (name) => {
    const bodyFile = files.includes(`${name}.json`) ? `${name}.json` : `${name}.txt`;
    const result = mluviiAdapter.normalize(raw(readFileSync(join(FIXTURES, bodyFile))), CTX);
    expect(result.events).toEqual([]);
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject(readJson<object>(`${name}.expected.json`));
    expect(result.failures[0]?.message).toMatch(/\S/);
  });

  it('never quotes a field value in a failure message', () => {
    const body = fixture('SessionActivityHeroCard');
    body.data.heroCard = 'Zbyněk Hostaš, zbynek@example.com';
    body.data.time = 'Zbyněk Hostaš';
    for (const failure of [
      normalize(body).failures[0],
      normalize({ ...body, data: { ...body.data, heroCard: null } }).failures[0],
    ]) {
      expect(failure?.field_path).toMatch(/^data\./);
      expect(failure?.message).not.toContain('Zbyn');
    }
  });
});

/** Keys whose values are personal data or free text in the mluvii reference; under `params`, every value. */
const PERSONAL = new Set([
  'text',
  'label',
  'toOperatorFullName',
  'toGroupName',
  'toPhoneNumber',
  'note',
  'title',
  'imageUrl',
  'originalUrl',
  'downloadUrl',
  'chatbotMessageContent',
  'chatbotHeroCardSubmissionValue',
  'value',
]);

function personalValues(value: unknown, key = '', parent = '', out: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const v of value) personalValues(v, key, parent, out);
  } else if (typeof value === 'object' && value !== null)
    for (const [k, v] of Object.entries(value)) personalValues(v, k, key === 'params' ? 'params' : key, out);
  else if (
    (PERSONAL.has(key) || parent === 'params' || (parent === 'file' && key === 'name')) &&
    typeof value === 'string' &&
    value.trim() !== ''
  )
    out.push(value);
  return out;
}

describe('mluvii adapter: personal data', () => {
  it.each(goldenTypes)('%s: no name, text, form value, phone number, file name or URL reaches the events', (type) => {
    const secrets = personalValues(fixture(type));
    const text = JSON.stringify(normalize(fixtureBody(type)).events);
    for (const secret of secrets)
      expect(text, `${type} leaks ${secret.slice(0, 3)}…`).not.toContain(JSON.stringify(secret.trim()).slice(1, -1));
    expect(text).not.toMatch(/@|https?:|\+420/);
  });

  it('the fixtures do carry personal data, so the check above checks something', () => {
    const all = goldenTypes.flatMap((type) => personalValues(fixture(type)));
    expect(all).toEqual(
      expect.arrayContaining(['Zbyněk Hostaš', 'Štěpán Bazala', 'Ondřej Fogatoš', '147852369', 'Dobrý den']),
    );
  });

  it('keeps only that a forward went to a phone number, not the number', () => {
    const body = fixture('SessionActivitySessionForwarded');
    Object.assign(body.data, { toOperatorUserId: null, toOperatorFullName: null, toPhoneNumber: '+420 601 234 567' });
    const [event] = normalize(body).events;
    expect(event?.attributes.forward_target).toBe('phone');
    expect(JSON.stringify(event)).not.toMatch(/601|234 567/);
  });
});

describe('mluvii adapter: identity', () => {
  it.each(goldenTypes)('%s: the same body gives the same event_ids whenever and however often it arrives', (type) => {
    const first = normalize(fixtureBody(type)).events.map((e) => e.event_id);
    const again = normalize(fixtureBody(type), {
      ingest_id: '01HX0000000000000000000000',
      received_at: RECEIVED_AT + 3_600_000_000,
      source: 'replay',
    }).events.map((e) => e.event_id);
    expect(again).toEqual(first);
    expect(new Set(first).size).toBe(first.length);
  });

  it("a body with no time takes the ingest's dedup key: a retry (same key) is its event, a repeat (another key) is another", () => {
    const away = fixtureBody('UserStatusChanged');
    const id = (over: Partial<RawWebhook>) => normalize(away, over).events[0]!.event_id;
    const first = id({ dedup_key: 'a'.repeat(32) });
    expect(
      id({ dedup_key: 'a'.repeat(32), ingest_id: '01HX0000000000000000000000', received_at: RECEIVED_AT + 20_000_000 }),
    ).toBe(first);
    expect(id({ dedup_key: 'b'.repeat(32), received_at: RECEIVED_AT + 120_000_000 })).not.toBe(first);
  });

  it("a body with no time and no key that says anything of order (none, or its content's own) keeps its content's identity", () => {
    const body = fixtureBody('SessionCallParamsUpdated');
    const contentOnly = mluviiContentKey(
      'SessionCallParamsUpdated',
      fixture('SessionCallParamsUpdated').data,
      Buffer.from(body),
    );
    const expected = readJson<SessionEvent[]>('SessionCallParamsUpdated.expected.json')[0]!.event_id;
    expect(normalize(body, { dedup_key: contentOnly }).events[0]!.event_id).toBe(expected);
    expect(normalize(body, { dedup_key: null, received_at: RECEIVED_AT + 1 }).events[0]!.event_id).toBe(expected);
  });

  it('a body mluvii sends once per entity is one event whatever its key (SessionCreated, SessionRecordingPostProcessingCompleted)', () => {
    for (const type of ['SessionCreated', 'SessionRecordingPostProcessingCompleted']) {
      const ids = ['a', 'b'].map((k) => normalize(fixtureBody(type), { dedup_key: k.repeat(32) }).events[0]!.event_id);
      expect(ids[1], type).toBe(ids[0]);
      expect(MLUVII_EVENT_TYPES.get(type)!.once).toBe(true);
    }
    expect(
      [...MLUVII_EVENT_TYPES]
        .filter(([, m]) => m.once)
        .map(([t]) => t)
        .sort(),
    ).toEqual(['SessionCreated', 'SessionRecordingPostProcessingCompleted']);
  });

  it('tells apart bodies with no time that say different things', () => {
    const status = (s: string) =>
      normalize({ eventType: 'UserStatusChanged', data: { userId: 2710, status: s } }).events[0]!;
    expect(status('AWAY').event_id).not.toBe(status('ONLINE').event_id);
    expect(status('AWAY').attributes.occurred_at_source).toBe('received_at');
  });

  it('gives an operator one key across sessions, the client one key per session, and a chatbot its own', () => {
    const joined = (id: number) =>
      normalize({
        ...fixture('SessionOperatorJoined'),
        data: { ...fixture('SessionOperatorJoined').data, id, userId: 329 },
      }).events[0]!.participant!;
    expect(joined(1).key).toBe(joined(2).key);
    const guestIn = (sessionId: number) =>
      normalize({
        ...fixture('SessionActivityCobrowsingStarted'),
        data: { ...fixture('SessionActivityCobrowsingStarted').data, sessionId },
      }).events[0]!.participant!;
    expect(guestIn(1).key).not.toBe(guestIn(2).key);
    const chatbot = normalize(fixture('SessionActivityHeroCard')).events[0]!.participant!;
    expect(chatbot).toMatchObject({ role: 'chatbot', provider_user_id: '329' });
    expect(chatbot.key).not.toBe(joined(1).key);
  });

  it('reads the channel from the session type, keeping what mluvii sent', () => {
    const channel = (c: string) =>
      normalize({ ...fixture('SessionStarted'), data: { ...fixture('SessionStarted').data, channel: c } }).events[0]!;
    expect(['AV', 'Chat', 'Phone', 'chat'].map((c) => channel(c).channel)).toEqual(['video', 'chat', 'phone', 'chat']);
    expect(channel('Email')).toMatchObject({ channel: null, attributes: { mluvii_channel: 'Email' } });
  });
});

describe('mluvii adapter: schemas', () => {
  it.each(MLUVII_SCHEMA_NAMES)('%s.avsc parses and documents every field', (name) => {
    const schema = mluviiSchemaJson(name);
    expect(() => avro.Type.forSchema(schema)).not.toThrow();
    expect(undocumentedFields(schema, name)).toEqual([]);
  });

  it.skipIf(!ADAPTERS.has('mluvii'))('is registered under its provider name', () => {
    expect(ADAPTERS.get('mluvii')).toBe(mluviiAdapter);
  });
});

describe('mluvii quirks', () => {
  it.each([
    ['2024-05-02T16:05:24.454661+02:00', micros('2024-05-02T14:05:24Z', 454661)],
    ['2024-05-02T08:58:58:888364+02:00', micros('2024-05-02T06:58:58Z', 888364)],
    ['2024-05-02T16:05:24,454661+02:00', micros('2024-05-02T14:05:24Z', 454661)],
    ['2024-05-09T14:40:38+02:00', micros('2024-05-09T12:40:38Z')],
    ['2024-05-02T14:05:24.454661Z', micros('2024-05-02T14:05:24Z', 454661)],
    ['2024-05-06T15:10:16.12969+02:00', micros('2024-05-06T13:10:16Z', 129690)],
    ['2024-05-02T16:05:24.4546619+02:00', micros('2024-05-02T14:05:24Z', 454661)],
    ['2024-05-02T08:35:24.000001-05:30', micros('2024-05-02T14:05:24Z', 1)],
  ])('parseMluviiTime(%j) = %d', (text, expected) => {
    expect(parseMluviiTime(text, 'data.time', 'X')).toEqual({ ok: true, micros: expected });
  });

  it.each([
    ['yesterday', 'FIELD_INVALID'],
    ['', 'FIELD_INVALID'],
    ['2024-05-02T16:05:24.454661', 'FIELD_INVALID'],
    ['2024-02-30T10:00:00Z', 'FIELD_INVALID'],
    ['2024-05-02 16:05:24+02:00', 'FIELD_INVALID'],
    [1714658724, 'FIELD_INVALID'],
    [null, 'FIELD_MISSING'],
    [undefined, 'FIELD_MISSING'],
  ])('parseMluviiTime(%j) fails with %s and the field path', (text, code) => {
    expect(parseMluviiTime(text, 'data.started', 'SessionStarted')).toMatchObject({
      ok: false,
      failure: { code, field_path: 'data.started', provider_type: 'SessionStarted' },
    });
  });

  it('reads any instant of the accepted range back from either shape, to the microsecond', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: TIME_RANGE.from, max: TIME_RANGE.until - 1 }),
        fc.integer({ min: -12 * 4, max: 14 * 4 }),
        fc.constantFrom('.', ':'),
        (at, quarters, sep) => {
          const offset = quarters * 15;
          const local = new Date(Math.floor(at / 1000) + offset * 60_000).toISOString().slice(0, 19);
          const two = (n: number) => String(n).padStart(2, '0');
          const zone = `${offset < 0 ? '-' : '+'}${two(Math.floor(Math.abs(offset) / 60))}:${two(Math.abs(offset) % 60)}`;
          const text = `${local}${sep}${String(at % 1_000_000).padStart(6, '0')}${zone}`;
          expect(parseMluviiTime(text, 'data.time', null)).toEqual({ ok: true, micros: at });
        },
      ),
    );
  });

  it.each([
    '1999-12-31T23:59:59.999999Z',
    '1999-12-31T23:59:59+00:00',
    '2100-01-01T02:00:00+02:00',
    '9999-12-31T23:59:59.999999+02:00',
  ])('refuses %s, outside the accepted range, naming the field', (text) => {
    const result = parseMluviiTime(text, 'data.started', 'SessionStarted');
    expect(result).toMatchObject({
      ok: false,
      failure: { code: 'FIELD_INVALID', field_path: 'data.started', provider_type: 'SessionStarted' },
    });
    expect(!result.ok && result.failure.message).toContain('outside the accepted range');
  });

  it.each([
    ['{"text": "a\nb"}', '{"text": "a\\u000ab"}'],
    ['{\n  "t": "x\ty"\n}', '{\n  "t": "x\\u0009y"\n}'],
    ['{"t": "quote \\" then\nnewline"}', '{"t": "quote \\" then\\u000anewline"}'],
    ['{"ok": "\\n"}', '{"ok": "\\n"}'],
  ])('escapeControlCharsInStrings(%j) = %j', (input, expected) => {
    expect(escapeControlCharsInStrings(input)).toBe(expected);
    expect(() => JSON.parse(escapeControlCharsInStrings(input))).not.toThrow();
  });

  it.each([
    [{ operatorId: 2710 }, 2710],
    [{ userId: 4555 }, 4555],
    [{ operatorId: 2710, userId: 4555 }, 2710],
    [{ operatorId: null, userId: null }, null],
    [{}, null],
  ])('avOperatorId(%j) = %j', (data, expected) => expect(avOperatorId(data)).toBe(expected));

  it.each([
    ['Guest', 'guest'],
    ['guest', 'guest'],
    ['User', 'agent'],
    ['user', 'agent'],
    ['Chatbot', 'chatbot'],
    [' CHATBOT ', 'chatbot'],
    ['Supervisor', null],
    [null, null],
  ] as const)('clientRole(%j) = %j', (client, expected) => expect(clientRole(client)).toBe(expected));

  it.each([
    [{ tenantId: 62 }, 62],
    [{ departmentId: 62 }, 62],
    [{ tenantId: 63, departmentId: 62 }, 63],
    [{ departmentId: null }, null],
  ])('settingTenantId(%j) = %j', (data, expected) => expect(settingTenantId(data)).toBe(expected));

  it('the AV activities name their operator however it is spelled', () => {
    const av = fixture('SessionActivityAvRequest');
    const byOperatorId = normalize(av).events[0]!.participant;
    const byUserId = normalize({
      ...av,
      data: { sessionId: av.data.sessionId, userId: av.data.operatorId, time: av.data.time },
    }).events[0]!.participant;
    expect(byUserId).toEqual(byOperatorId);
    expect(byOperatorId).toMatchObject({ role: 'agent', provider_user_id: '2710' });
  });
});
