/**
 * A small, realistic dataset for the report tests, made by the real warehouse in a fresh
 * DATA_DIR: Zoom sessions as the webhooks Zoom sends (the demo generator) read by the Zoom
 * adapter, and mluvii and Apizee sessions as canonical events (like test/processors/warehouse).
 * Times are relative to today (UTC), since the reports read the last N days.
 *
 * | session | UTC date   | provider | status    | duration | consent  | other                                   |
 * |---------|------------|----------|-----------|----------|----------|-----------------------------------------|
 * | Z1      | today-1    | zoom     | ended     | 1200 s   | unknown  | recorded 600 s, 2 files, 52,123,000 B   |
 * | Z2      | today-3    | zoom     | ended     | 1200 s   | unknown  | recorded as Z1                          |
 * | Z3      | today-20   | zoom     | ended     | 1200 s   | unknown  | recorded as Z1 (in 30 days, not in 7)   |
 * | Z4      | today-60   | zoom     | ended     | 1200 s   | unknown  | recorded as Z1 (in no period)           |
 * | Zab     | today-2    | zoom     | abandoned |          | unknown  | 3 joined, silent since                  |
 * | Zopen   | today      | zoom     | open      |          | unknown  | 3 joined                                |
 * | M1      | today-1    | mluvii   | ended     | 600 s    | accepted | survey 3                                |
 * | M4      | today-1    | mluvii   | ended     | 1500 s   | unknown  | survey 2                                |
 * | M2      | today-2    | mluvii   | ended     | 900 s    | declined | survey 1                                |
 * | M3      | today-4    | mluvii   | ended     | 300 s    | unknown  |                                         |
 * | A1      | today-1    | apizee   | closed    | 720 s    | accepted | camera yes, mic no, location yes; recorded 300 s, 1 file, 1,000,000 B; survey 2 |
 * | A2      | today-5    | apizee   | ended     | 605 s    | accepted | camera and mic no (media); survey 2 and 3 |
 *
 * Dead letters: zoom normalize BODY_NOT_JSON x2 and FIELD_MISSING x1 (today-1), mluvii
 * normalize FIELD_MISSING x1 (today-1) and x1 (today-40, in no period).
 */
import type { CanonicalType, DeadLetter, RawWebhook, Role, SessionEvent } from '../../lib/canonical.js';
import { createLogger } from '../../lib/logger.js';
import { nowMicros, utcDate, type Micros } from '../../lib/time.js';
import { plannedZoomSession } from '../../ingest/demo/zoom.js';
import { deadLetterOf } from '../../processors/dead-letters.js';
import { normalizeRaw } from '../../processors/normalize.js';
import { createWarehouse } from '../../processors/warehouse/writer.js';

const SEC = 1_000_000;
const DAY = 86_400 * SEC;
const HOUR = 3600 * SEC;
const PII_KEY = 'report-test-key';

export interface Built {
  /** The UTC date `n` days before today, YYYY-MM-DD. */
  day(n: number): string;
  /** Rows written per table (what any reader of the Parquet files must find). */
  rows: {
    session_facts: number;
    participant_sessions: number;
    session_events: number;
    raw_webhooks: number;
    dead_letters: number;
  };
}

export async function buildDataset(dataDir: string): Promise<Built> {
  const now = nowMicros();
  const today = now - (now % DAY);
  const day = (n: number) => utcDate(today - n * DAY);
  const raw: RawWebhook[] = [];
  const events: SessionEvent[] = [];
  const deadLetters: DeadLetter[] = [];

  /** Zoom: the webhooks of a planned session (the first `take` of them), through the Zoom adapter. */
  let ingest = 0;
  const zoom = (start: Micros, take?: number) => {
    for (const delivery of plannedZoomSession(start).deliveries.slice(0, take))
      zoomDelivery(delivery.body, JSON.parse(delivery.body).event_ts * 1000);
  };
  const zoomDelivery = (body: string, receivedAt: Micros) => {
    const envelope: RawWebhook = {
      ingest_id: `01REPORTTEST${String(++ingest).padStart(14, '0')}`,
      provider: 'zoom',
      received_at: receivedAt + SEC,
      source: 'webhook',
      dedup_key: null,
      headers: { 'content-type': 'application/json' },
      content_type: 'application/json',
      body: Buffer.from(body),
    };
    raw.push(envelope);
    const result = normalizeRaw(envelope, PII_KEY);
    events.push(...result.events);
    deadLetters.push(
      ...result.failures.map((f) => ({ ...deadLetterOf(envelope, f), failed_at: envelope.received_at + SEC })),
    );
  };
  zoom(today - 1 * DAY + 9 * HOUR); // Z1
  zoom(today - 3 * DAY + 14 * HOUR); // Z2
  zoom(today - 20 * DAY + 10 * HOUR); // Z3
  zoom(today - 60 * DAY + 10 * HOUR); // Z4
  zoom(today - 2 * DAY + 8 * HOUR, 4); // Zab: session.started and three joins
  zoom(Math.max(today, now - 600 * SEC), 4); // Zopen
  const badAt = today - 1 * DAY + 16 * HOUR;
  zoomDelivery('{"event":"session.started","payload":', badAt);
  zoomDelivery('not json at all', badAt + 60 * SEC);
  zoomDelivery(
    JSON.stringify({
      event: 'session.alert',
      event_ts: badAt / 1000,
      payload: { account_id: 'acc', object: { session_id: 'x==', issues: [] } },
    }),
    badAt + 120 * SEC,
  );

  /** mluvii and Apizee: canonical events, as their adapters would give them. */
  const session = (key: string, start: Micros) => {
    const [provider, id] = key.split(':') as [string, string];
    return (seconds: number, type: CanonicalType, extra: Partial<SessionEvent> & { who?: [string, Role] } = {}) => {
      const { who, ...rest } = extra;
      const at = start + seconds * SEC;
      events.push({
        event_id: `${key}|${type}|${who?.[0] ?? '-'}|${seconds}|${rest.scope ?? ''}`,
        ingest_id: `ing-${key}-${seconds}`,
        provider,
        account_id: 'acct-1',
        session_key: key,
        session_id: id,
        session_name: null,
        channel: provider === 'mluvii' ? 'chat' : null,
        type,
        provider_type: type,
        provider_event_id: null,
        occurred_at: at,
        received_at: at + 2 * SEC,
        participant: who ? { key: `${key}-${who[0]}`, role: who[1], provider_user_id: null } : null,
        reason: type === 'participant.left' ? 'left' : null,
        state: null,
        scope: null,
        bytes: null,
        count: null,
        score: null,
        attributes: {},
        ...rest,
      });
    };
  };
  const client: [string, Role] = ['client', 'guest'];
  const operator: [string, Role] = ['operator', 'agent'];
  const mluvii = (
    key: string,
    start: Micros,
    end: number,
    wait: number,
    more: (e: ReturnType<typeof session>) => void,
  ) => {
    const e = session(key, start);
    e(0, 'session.started');
    e(0, 'participant.joined', { who: client });
    e(wait, 'participant.joined', { who: operator });
    more(e);
    e(end, 'participant.left', { who: client });
    e(end, 'participant.left', { who: operator });
    e(end, 'session.ended');
  };
  mluvii('mluvii:1001', today - 1 * DAY + 11 * HOUR, 600, 30, (e) => {
    e(40, 'consent.accepted', { scope: 'session' });
    e(590, 'survey.answered', { score: 3 });
  });
  mluvii('mluvii:1004', today - 1 * DAY + 17 * HOUR, 1500, 45, (e) => e(1490, 'survey.answered', { score: 2 }));
  mluvii('mluvii:1002', today - 2 * DAY + 15 * HOUR, 900, 90, (e) => {
    e(100, 'consent.declined', { scope: 'session' });
    e(880, 'survey.answered', { score: 1 });
  });
  mluvii('mluvii:1003', today - 4 * DAY + 9 * HOUR, 300, 20, () => undefined);

  const requestor: [string, Role] = ['requestor', 'guest'];
  const a1 = session('apizee:5001', today - 1 * DAY + 13 * HOUR);
  a1(0, 'ticket.created');
  a1(10, 'participant.joined', { who: operator });
  a1(20, 'participant.joined', { who: requestor });
  a1(25, 'consent.accepted', { scope: 'session' });
  a1(26, 'consent.accepted', { scope: 'camera' });
  a1(27, 'consent.declined', { scope: 'microphone' });
  a1(28, 'consent.accepted', { scope: 'geolocation' });
  a1(60, 'recording.started');
  a1(360, 'recording.stopped');
  a1(400, 'recording.completed', { count: 1, bytes: 1_000_000 });
  a1(700, 'survey.answered', { score: 2 });
  a1(720, 'participant.left', { who: requestor });
  a1(730, 'participant.left', { who: operator });
  a1(740, 'ticket.closed');
  const a2 = session('apizee:5002', today - 5 * DAY + 10 * HOUR);
  a2(0, 'ticket.created');
  a2(5, 'participant.joined', { who: operator });
  a2(15, 'participant.joined', { who: requestor });
  a2(20, 'consent.accepted', { scope: 'session' });
  a2(21, 'consent.declined', { scope: 'media' });
  a2(500, 'survey.answered', { score: 2 });
  a2(510, 'survey.answered', { score: 3 });
  a2(600, 'participant.left', { who: requestor });
  a2(610, 'participant.left', { who: operator });
  a2(620, 'ticket.state_changed', { state: 'done' });

  const mluviiDead = (id: string, at: Micros): DeadLetter => ({
    ingest_id: id,
    provider: 'mluvii',
    stage: 'normalize',
    error_code: 'FIELD_MISSING',
    message: 'a required field is missing: sessionId',
    field_path: 'sessionId',
    provider_type: 'SessionStarted',
    received_at: at,
    failed_at: at + SEC,
  });
  deadLetters.push(
    mluviiDead('01REPORTMLUVII00000000000001', today - 1 * DAY + 12 * HOUR),
    mluviiDead('01REPORTMLUVII00000000000002', today - 40 * DAY),
  );

  const warehouse = await createWarehouse({
    dataDir,
    logger: createLogger('silent'),
    idleHorizonMicros: 24 * HOUR,
    clock: () => now,
  });
  try {
    await warehouse.applyBatch({ raw, events, deadLetters, offsets: [] });
    await warehouse.flush();
  } finally {
    await warehouse.close();
  }
  const sessions = new Set(events.map((e) => e.session_key));
  return {
    day,
    rows: {
      session_facts: sessions.size,
      participant_sessions: -1, // counted by the test from the warehouse's own answer
      session_events: new Set(events.map((e) => e.event_id)).size,
      raw_webhooks: raw.length,
      dead_letters: deadLetters.length,
    },
  };
}
