import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { CANONICAL_TYPES, type RawWebhook, type SessionEvent } from '../../../lib/canonical.js';
import { adapterFor, ADAPTERS } from '../../../processors/adapters/index.js';
import { zoomAdapter, ZOOM_EVENT_TYPES } from '../../../processors/adapters/zoom/index.js';
import { blankToNull } from '../../../lib/json-values.js';
import {
  alertIssues,
  calloutFailureReason,
  fileBytes,
  leaveReasonWithoutName,
  roleOf,
} from '../../../processors/adapters/zoom/quirks.js';
import { zoomSchemaJson, ZOOM_SCHEMA_NAMES } from '../../../processors/adapters/zoom/schemas.js';
import { undocumentedFields } from '../../helpers/avro.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures/zoom');
const REFERENCE = process.env.ZOOM_WEBHOOK_REFERENCE ?? resolve(ROOT, '../shared/providers/zoom-video-sdk-webhooks.md');
const CTX = { piiKey: 'test-pii-key' };
const INGEST_ID = '01HWZ5Q6T3J8M2N4P6R8S0V2X4';
const RECEIVED_AT = 1714665600000000; // 2024-05-02T16:00:00Z

function raw(body: string | Buffer, over: Partial<RawWebhook> = {}): RawWebhook {
  return {
    ingest_id: INGEST_ID,
    provider: 'zoom',
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
  .filter((f) => f.startsWith('session.') && f.endsWith('.json') && !f.endsWith('.expected.json'))
  .map((f) => f.slice(0, -'.json'.length));
const failureNames = files
  .filter((f) => f.startsWith('failure.') && f.endsWith('.expected.json'))
  .map((f) => f.slice(0, -'.expected.json'.length));
const fixtureBody = (type: string): string => readFileSync(join(FIXTURES, `${type}.json`), 'utf8');
const readJson = <T>(name: string): T => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as T;
const sessionEventType = avro.Type.forSchema(JSON.parse(readFileSync(join(ROOT, 'schemas/SessionEvent.avsc'), 'utf8')));

describe('zoom adapter: golden fixtures', () => {
  it.each(goldenTypes)('%s', (type) => {
    const result = zoomAdapter.normalize(raw(fixtureBody(type)), CTX);
    expect(result).toStrictEqual({ events: readJson<SessionEvent[]>(`${type}.expected.json`), failures: [] });
    for (const event of result.events) expect(sessionEventType.isValid(event)).toBe(true);
  });
});

describe('zoom adapter: hosts', () => {
  it('makes a user the host when ZOOM_HOST_PATTERN matches its user_key or name; a guest otherwise', () => {
    const joined = fixtureBody('session.user_joined'); // user_key customer-90210, name Jana Novakova
    const role = (pattern?: RegExp) =>
      zoomAdapter.normalize(raw(joined), { ...CTX, ...(pattern && { zoomHostPattern: pattern }) }).events[0]!
        .participant!.role;
    expect(role()).toBe('guest');
    expect(role(/^customer-/i)).toBe('host');
    expect(role(/novakova/i)).toBe('host');
    expect(role(/^agent-/i)).toBe('guest');
  });
});

describe('zoom adapter: coverage of the reference', () => {
  it('maps every table type to a canonical type and has a fixture for it, and no fixture without a mapping', () => {
    for (const mapping of ZOOM_EVENT_TYPES.values()) expect(CANONICAL_TYPES).toContain(mapping.canonical);
    expect([...ZOOM_EVENT_TYPES.keys()].sort()).toEqual(goldenTypes);
  });

  it.skipIf(!existsSync(REFERENCE))(
    'has a mapping and a fixture for every "POST session.*" of the Zoom reference',
    () => {
      const documented = [...readFileSync(REFERENCE, 'utf8').matchAll(/^POST (session\.\S+)\s*$/gm)].map(
        (m) => m[1] ?? '',
      );
      expect(documented.length).toBeGreaterThanOrEqual(36);
      for (const type of documented) {
        expect(ZOOM_EVENT_TYPES.has(type), `mapping for ${type}`).toBe(true);
        expect(goldenTypes, `fixture for ${type}`).toContain(type);
      }
      expect(new Set(documented)).toEqual(new Set(ZOOM_EVENT_TYPES.keys()));
    },
  );
});

describe('zoom adapter: types it does not map', () => {
  it('keeps an unknown event as one provider.other', () => {
    const body = {
      event: 'session.webinar_converted',
      event_ts: 1714658405412,
      payload: {
        account_id: 'nHb1dSvLQqyLxKZ3d2Rq7A',
        object: {
          session_id: 'Jx0pVd0jQ7a5mKq9YQ3m2w==',
          session_name: 'Remote diagnosis 4711',
          host_email: 'petr@example.com',
        },
      },
    };
    const { events, failures } = zoomAdapter.normalize(raw(JSON.stringify(body)), CTX);
    expect(failures).toEqual([]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'provider.other',
      provider_type: 'session.webinar_converted',
      session_key: 'zoom:Jx0pVd0jQ7a5mKq9YQ3m2w==',
      account_id: 'nHb1dSvLQqyLxKZ3d2Rq7A',
      occurred_at: 1714658405412000,
      participant: null,
      attributes: {},
    });
    expect(JSON.stringify(events)).not.toContain('petr@example.com');
  });

  it('keeps an unknown event without a session, and treats prototype names as unknown', () => {
    for (const event of ['account.settings_updated', 'constructor', '__proto__']) {
      const { events, failures } = zoomAdapter.normalize(
        raw(JSON.stringify({ event, event_ts: 1714658405412, payload: { account_id: 'a1', object: { id: 7 } } })),
        CTX,
      );
      expect(failures).toEqual([]);
      expect(events.map((e) => [e.type, e.provider_type, e.session_key])).toEqual([['provider.other', event, null]]);
    }
  });

  it('returns nothing at all for endpoint.url_validation (ingest answers it)', () => {
    const body = {
      event: 'endpoint.url_validation',
      event_ts: 1714658405412,
      payload: { plainToken: 'qgg8vlvZRS6UYooatFL8Aw' },
    };
    expect(zoomAdapter.normalize(raw(JSON.stringify(body)), CTX)).toEqual({ events: [], failures: [] });
  });
});

describe('zoom adapter: failures', () => {
  it.each(failureNames)('%s', (name) => {
    const bodyFile = files.includes(`${name}.json`) ? `${name}.json` : `${name}.txt`;
    const result = zoomAdapter.normalize(raw(readFileSync(join(FIXTURES, bodyFile))), CTX);
    const expected = readJson<{ code: string; field_path: string | null; provider_type: string | null }>(
      `${name}.expected.json`,
    );
    expect(result.events).toEqual([]);
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject(expected);
    expect(result.failures[0]?.message).toMatch(/\S/);
  });

  // Shrunk by the poison property (test/processors/adapters/poison.property.test.ts): a file_size
  // of 1e308 became bytes 1e308, which no Avro long holds, and the encode in normalize threw.
  it.each([
    ['participant_video_files', 0, 1e308, 'payload.object.participant_video_files.0.file_size'],
    ['recording_files', 1, 2 ** 53 + 2, 'payload.object.recording_files.1.file_size'],
    ['participant_audio_files', 0, 2 ** 53 - 1, 'payload.object.participant_audio_files.0.file_size'],
    ['recording_files', 0, 1e21, 'payload.object.recording_files.0.file_size'],
  ] as const)('dead-letters %s[%i].file_size %d, naming the field', (list, index, size, path) => {
    const body = JSON.parse(fixtureBody('session.recording_completed')) as {
      payload: { object: Record<string, Array<{ file_size?: number }>> };
    };
    body.payload.object[list]![index]!.file_size = size;
    const result = zoomAdapter.normalize(raw(JSON.stringify(body)), CTX);
    expect(result.events).toEqual([]);
    expect(result.failures).toMatchObject([
      { code: 'FIELD_INVALID', field_path: path, provider_type: 'session.recording_completed' },
    ]);
  });

  it('dead-letters files whose sizes add up past 2^53 bytes', () => {
    const body = JSON.parse(fixtureBody('session.recording_completed')) as {
      payload: { object: { recording_files: Array<{ file_size?: number }> } };
    };
    body.payload.object.recording_files = Array.from({ length: 20 }, () => ({ file_type: 'MP4', file_size: 9e14 }));
    const result = zoomAdapter.normalize(raw(JSON.stringify(body)), CTX);
    expect(result.events).toEqual([]);
    expect(result.failures).toMatchObject([{ code: 'FIELD_INVALID', field_path: 'payload.object.recording_files' }]);
    expect(
      sessionEventType.isValid(zoomAdapter.normalize(raw(fixtureBody('session.recording_completed')), CTX).events[0]),
    ).toBe(true);
  });

  it('never quotes a field value in a failure message', () => {
    const body = JSON.parse(fixtureBody('session.user_joined')) as {
      payload: { object: { user: { join_time: string } } };
    };
    body.payload.object.user.join_time = 'Jana Novakova at noon';
    const [failure] = zoomAdapter.normalize(raw(JSON.stringify(body)), CTX).failures;
    expect(failure?.field_path).toBe('payload.object.user.join_time');
    expect(failure?.message).not.toContain('Jana');
  });
});

/** Keys whose values are personal data or secrets in the Zoom reference. */
const PERSONAL = new Set([
  'name',
  'phone_number',
  'from_number',
  'invitee_name',
  'inviter_name',
  'user_key',
  'device_ip',
  'operator',
  'download_token',
  'download_url',
  'stream_key',
  'stream_url',
  'backup_stream_url',
  'page_url',
  'file_name',
]);

function personalValues(value: unknown, key = '', out: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const v of value) personalValues(v, key, out);
  } else if (typeof value === 'object' && value !== null)
    for (const [k, v] of Object.entries(value)) personalValues(v, k, out);
  else if (PERSONAL.has(key) && (typeof value === 'string' || typeof value === 'number') && String(value).trim() !== '')
    out.push(String(value));
  return out;
}

describe('zoom adapter: personal data', () => {
  it.each(goldenTypes)('%s: no name, phone number, e-mail, token or URL reaches the events', (type) => {
    const secrets = personalValues(JSON.parse(fixtureBody(type)));
    const text = JSON.stringify(zoomAdapter.normalize(raw(fixtureBody(type)), CTX).events);
    for (const secret of secrets) expect(text, `${type} leaks ${secret.slice(0, 3)}…`).not.toContain(secret);
    expect(text).not.toMatch(/@example\.com|access_token|\+420/);
  });

  it('the fixtures do carry personal data, so the check above checks something', () => {
    const all = goldenTypes.flatMap((type) => personalValues(JSON.parse(fixtureBody(type))));
    expect(all).toEqual(
      expect.arrayContaining([
        'Jana Novakova',
        '+420 601 234 567',
        'Karel Svoboda',
        '420602345678',
        'petr.dvorak@example.com',
      ]),
    );
  });
});

describe('zoom adapter: identity', () => {
  it.each(goldenTypes)('%s: the same body gives the same event_ids whenever and however often it arrives', (type) => {
    const first = zoomAdapter.normalize(raw(fixtureBody(type)), CTX).events.map((e) => e.event_id);
    const again = zoomAdapter
      .normalize(
        raw(fixtureBody(type), {
          ingest_id: '01HX0000000000000000000000',
          received_at: RECEIVED_AT + 3_600_000_000,
          source: 'replay',
        }),
        CTX,
      )
      .events.map((e) => e.event_id);
    expect(again).toEqual(first);
    expect(new Set(first).size).toBe(first.length);
  });

  it('makes the user the host when the object names them as host_id', () => {
    const body = JSON.parse(fixtureBody('session.user_joined')) as { payload: { object: Record<string, unknown> } };
    body.payload.object.host_id = '16779264';
    const [event] = zoomAdapter.normalize(raw(JSON.stringify(body)), CTX).events;
    expect(event?.participant).toMatchObject({ role: 'host', provider_user_id: '16779264' });
    expect(event?.attributes.host_id).toBe('16779264');
  });

  it('falls back to event_ts when the payload time is blank', () => {
    const body = JSON.parse(fixtureBody('session.user_joined')) as {
      event_ts: number;
      payload: { object: { user: { join_time: string } } };
    };
    body.payload.object.user.join_time = '';
    expect(zoomAdapter.normalize(raw(JSON.stringify(body)), CTX).events[0]?.occurred_at).toBe(body.event_ts * 1000);
  });
});

describe('zoom adapter: registry and schemas', () => {
  it('is registered under its provider name', () => {
    expect(adapterFor('zoom')).toBe(zoomAdapter);
    expect(ADAPTERS.get('zoom')).toBe(zoomAdapter);
    expect(adapterFor('teams')).toBeUndefined();
  });

  it.each(ZOOM_SCHEMA_NAMES)('%s.avsc parses and documents every field', (name) => {
    const schema = zoomSchemaJson(name);
    expect(() => avro.Type.forSchema(schema)).not.toThrow();
    expect(undocumentedFields(schema, name)).toEqual([]);
  });
});

describe('zoom quirks', () => {
  it.each([
    ['', null],
    ['  ', null],
    [null, null],
    [undefined, null],
    ['2024-05-02T14:03:00Z', '2024-05-02T14:03:00Z'],
  ] as const)('blankToNull(%j) = %j', (input, expected) => expect(blankToNull(input)).toBe(expected));

  it.each([
    ['Jana Novakova left the session.', 'Jana Novakova', 'left the session.'],
    ['Jana Novakova got disconnected from the session.', 'Jana Novakova', 'got disconnected from the session.'],
    ['Jana Novakova left the session.', null, 'left the session.'],
    ['Host ended the session.', 'Jana Novakova', 'Host ended the session.'],
    ['Removed by host.', 'Jana', 'Removed by host.'],
    ['Jana Novakova was removed (Jana Novakova)', 'Jana Novakova', '$name was removed ($name)'],
    ['', 'Jana Novakova', null],
    [null, 'Jana Novakova', null],
  ] as const)('leaveReasonWithoutName(%j, %j) = %j', (reason, name, expected) =>
    expect(leaveReasonWithoutName(reason, name)).toBe(expected),
  );

  it.each([
    [{ file_size: 48213450 }, 48213450],
    [{ file_size: 12.6 }, 13],
    [{}, 0],
    [{ file_size: null }, 0],
    [{ file_size: -1 }, 0],
  ] as const)('fileBytes(%j) = %j', (file, expected) => expect(fileBytes(file)).toBe(expected));

  it.each([
    [7, 'Timeout'],
    [0, 'Other_Failed_Reason'],
    [5, 'Call_Limit'],
    [6, 'Not_Registered'],
    [14, 'Proxy_Connect_Error'],
    [99, 'reason_type_99'],
    [null, null],
  ] as const)('calloutFailureReason(%j) = %j', (code, expected) => expect(calloutFailureReason(code)).toBe(expected));

  it.each([
    ['16778240', '16778240', 'host'],
    ['16779264', '16778240', 'guest'],
    ['16779264', null, 'guest'],
    ['16779264', '', 'guest'],
  ] as const)('roleOf(%j, %j) = %j', (user, host, expected) => expect(roleOf(user, host)).toBe(expected));

  it.each([
    [['Unstable audio quality'], ['Unstable audio quality']],
    [
      ['Unstable audio quality', '', 'Unstable audio quality', 'High CPU occupation'],
      ['Unstable audio quality', 'High CPU occupation'],
    ],
    [[''], []],
  ] as const)('alertIssues(%j) = %j', (issues, expected) => expect(alertIssues(issues)).toEqual(expected));
});
