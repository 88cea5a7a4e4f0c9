/**
 * SESSION_NAMES: Zoom's session_name is free text the app chose and may name a person. Under
 * `hash` (the default) it becomes a pseudonym keyed with PII_KEY, under `keep` it stays, under
 * `drop` it is null; event_id is the same under all three. Jifeline's session_name is the ticket
 * number, an id and not free text: untouched.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RawWebhook, SessionEvent } from '../../lib/canonical.js';
import { SESSION_NAME_MODES, sessionNameKey } from '../../lib/ids.js';
import { normalizeRaw } from '../../processors/normalize.js';
import { foldSession } from '../../processors/sessionize/index.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const PII_KEY = 'test-pii-key-0123456789';
const NAME = 'Support call with Jana Novak';

const fixture = (provider: string, name: string) =>
  JSON.parse(readFileSync(join(FIXTURES, provider, `${name}.json`), 'utf8')) as Record<string, any>;

function raw(provider: string, body: object, n = 1): RawWebhook {
  return {
    ingest_id: `01HX000000000000000000000${n}`,
    provider,
    received_at: 1714665600000000 + n,
    source: provider === 'jifeline' ? 'poll' : 'webhook',
    dedup_key: null,
    headers: {},
    content_type: 'application/json',
    body: Buffer.from(JSON.stringify(body)),
  };
}

/** A Zoom fixture with the app's session name set to `name` (null: none), its session id to `sessionId`. */
function zoom(type: string, name: string | null = NAME, sessionId?: string): RawWebhook {
  const body = fixture('zoom', type);
  if (name === null) delete body.payload.object.session_name;
  else body.payload.object.session_name = name;
  if (sessionId !== undefined) body.payload.object.session_id = sessionId;
  return raw('zoom', body);
}

function eventsOf(delivery: RawWebhook, options?: Parameters<typeof normalizeRaw>[2]): SessionEvent[] {
  const { events, failures } = normalizeRaw(delivery, PII_KEY, options);
  expect(failures).toEqual([]);
  expect(events.length).toBeGreaterThan(0);
  return events;
}

const names = (events: SessionEvent[]) => [...new Set(events.map((e) => e.session_name))];

describe('SESSION_NAMES on Zoom session names', () => {
  it('hash, the default: a pseudonym keyed with PII_KEY, the text nowhere in the events', () => {
    for (const events of [eventsOf(zoom('session.alert')), eventsOf(zoom('session.alert'), { sessionNames: 'hash' })]) {
      expect(names(events)).toEqual([sessionNameKey(PII_KEY, 'zoom', NAME)]);
      expect(events[0]!.session_name).toMatch(/^name:[0-9a-f]{32}$/);
      expect(JSON.stringify(events)).not.toContain('Jana Novak');
    }
  });

  it('hash: equal names give equal pseudonyms across sessions and event types; another name or another PII_KEY another', () => {
    const a = eventsOf(zoom('session.started', NAME, 'first=='))[0]!;
    const b = eventsOf(zoom('session.user_joined', NAME, 'second=='))[0]!;
    expect(a.session_key).not.toBe(b.session_key);
    expect(a.session_name).toBe(b.session_name);
    expect(eventsOf(zoom('session.started', 'Support call with Petr Dvorak'))[0]!.session_name).not.toBe(
      a.session_name,
    );
    expect(normalizeRaw(zoom('session.started'), 'another-pii-key-0123456789').events[0]!.session_name).not.toBe(
      a.session_name,
    );
  });

  it('keep: the name as the app sent it, which the default does not store', () => {
    expect(names(eventsOf(zoom('session.alert'), { sessionNames: 'keep' }))).toEqual([NAME]);
    expect(names(eventsOf(zoom('session.alert')))).not.toContain(NAME);
  });

  it('drop: null', () => {
    expect(names(eventsOf(zoom('session.alert'), { sessionNames: 'drop' }))).toEqual([null]);
  });

  it('changes nothing else: event_id and every other field are the same under all three', () => {
    for (const type of ['session.started', 'session.user_joined', 'session.alert', 'session.recording_completed']) {
      const [hash, keep, drop] = SESSION_NAME_MODES.map((sessionNames) => eventsOf(zoom(type), { sessionNames }));
      expect([hash, keep, drop].map((events) => events![0]!.session_name)).toEqual([
        sessionNameKey(PII_KEY, 'zoom', NAME),
        NAME,
        null,
      ]);
      expect(keep!.map((e) => e.event_id)).toEqual(hash!.map((e) => e.event_id));
      expect(drop!.map((e) => e.event_id)).toEqual(hash!.map((e) => e.event_id));
      const rest = (events: SessionEvent[]) => events.map((e) => ({ ...e, session_name: undefined }));
      expect(rest(keep!)).toEqual(rest(hash!));
      expect(rest(drop!)).toEqual(rest(hash!));
    }
  });

  it('applies to event types the table does not map (provider.other) too', () => {
    const body = {
      event: 'session.webinar_converted',
      event_ts: 1714658405412,
      payload: { account_id: 'acc', object: { session_id: 'other==', session_name: NAME } },
    };
    const [hashed] = eventsOf(raw('zoom', body));
    expect(hashed).toMatchObject({ type: 'provider.other', session_name: sessionNameKey(PII_KEY, 'zoom', NAME) });
    expect(eventsOf(raw('zoom', body), { sessionNames: 'keep' })[0]!.session_name).toBe(NAME);
    expect(eventsOf(raw('zoom', body), { sessionNames: 'drop' })[0]!.session_name).toBeNull();
  });

  it('leaves a blank or absent name null under every setting', () => {
    for (const sessionNames of SESSION_NAME_MODES) {
      expect(names(eventsOf(zoom('session.started', '  '), { sessionNames }))).toEqual([null]);
      expect(names(eventsOf(zoom('session.started', null), { sessionNames }))).toEqual([null]);
    }
  });

  it("a session's fact carries what its events carry: the pseudonym by default", () => {
    const events = ['session.started', 'session.user_joined', 'session.ended'].flatMap((type) => eventsOf(zoom(type)));
    expect(foldSession(events).fact.name).toBe(sessionNameKey(PII_KEY, 'zoom', NAME));
    const kept = ['session.started', 'session.ended'].flatMap((type) => eventsOf(zoom(type), { sessionNames: 'keep' }));
    expect(foldSession(kept).fact.name).toBe(NAME);
  });
});

describe('SESSION_NAMES on other providers', () => {
  it("leaves Jifeline's ticket number as it is under the setting that changes Zoom's names", () => {
    const zoomName = { hash: sessionNameKey(PII_KEY, 'zoom', NAME), keep: NAME, drop: null };
    for (const sessionNames of SESSION_NAME_MODES) {
      expect(names(eventsOf(raw('jifeline', fixture('jifeline', 'tickets.ticket.created')), { sessionNames }))).toEqual(
        ['72456234'],
      );
      expect(names(eventsOf(zoom('session.started'), { sessionNames }))).toEqual([zoomName[sessionNames]]);
    }
  });
});
