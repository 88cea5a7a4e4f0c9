/**
 * `sessionflow erase` end to end (DESIGN section 9): the built CLI against a running service.
 * One person, with a known e-mail and phone number, takes part in a Zoom, an Apizee and a mluvii
 * session beside sessions of other people; each provider's bodies spell them their own way (the
 * mluvii body escapes the e-mail as .NET's serializer does). After the erase, what a user would
 * check: no table returns a row for them, their sessions are folded again without them, the
 * other people's facts are unchanged, a redelivery is dropped and counted, audit balances, and a
 * byte search of every file under DATA_DIR (the service stopped, so DuckDB has checkpointed)
 * finds neither value in any spelling.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apizeeHeaders, plannedApizeeSession } from '../../ingest/demo/apizee.js';
import { mluviiHeaders, plannedMluviiSession } from '../../ingest/demo/mluvii.js';
import { plannedZoomSession, zoomHeaders } from '../../ingest/demo/zoom.js';
import { nowMicros } from '../../lib/time.js';
import { queryDataset as query } from '../helpers/data.js';
import { eventually, runCli, startService, type Service } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

const ENV = {
  PII_KEY: 'e2e-erase-pii-key-5d1f0c7a9b3e',
  ZOOM_WEBHOOK_SECRET_TOKEN: 'e2e-erase-zoom-secret',
  APIZEE_WEBHOOK_SECRET: 'e2e-erase-apizee-secret',
  MLUVII_WEBHOOK_USER: 'mluvii-erase',
  MLUVII_WEBHOOK_PASSWORD: 'e2e-erase-mluvii-password',
};
const WAIT_MS = 60_000;
const EMAIL = 'erase.me+gdpr@example.eu';
const PHONE = '+420 777 123 456';
/** The spellings a byte search looks for: as typed, digits only, national, and the JSON escapes bodies use. */
const NEEDLES = [
  EMAIL,
  'erase.me\\u002Bgdpr\\u0040example.eu',
  'erase.me\\u002bgdpr\\u0040example.eu',
  'erase.me+gdpr\\u0040example.eu',
  PHONE,
  '+420777123456',
  '420777123456',
  '777 123 456',
  '777123456',
];
/** The Zoom guest who is the person (ingest/demo/zoom.ts: g1). */
const ZOOM_USER = '16779264';

type Delivery = { provider: 'zoom' | 'apizee' | 'mluvii'; body: string };

function headersFor(delivery: Delivery): Record<string, string> {
  if (delivery.provider === 'zoom') return zoomHeaders(ENV.ZOOM_WEBHOOK_SECRET_TOKEN, delivery.body);
  if (delivery.provider === 'apizee') return apizeeHeaders(ENV.APIZEE_WEBHOOK_SECRET);
  return mluviiHeaders(ENV.MLUVII_WEBHOOK_USER, ENV.MLUVII_WEBHOOK_PASSWORD);
}

/** The sessions: for each provider one with the person in it, one without. */
function plan() {
  const start = nowMicros() - 3 * 3600e6;
  const zoom = plannedZoomSession(start);
  const zoomOther = plannedZoomSession(start + 60e6);
  // The app sets user_key itself: this one uses the guest's e-mail, and Zoom adds the phone of a dial-in.
  const zoomBodies = zoom.deliveries.map((d) => {
    const body = JSON.parse(d.body) as { payload: { object: { user?: Record<string, unknown> } } };
    const user = body.payload.object.user;
    if (user?.id === ZOOM_USER) Object.assign(user, { user_key: EMAIL, phone_number: PHONE });
    return JSON.stringify(body);
  });
  const apizee = plannedApizeeSession(start);
  const apizeeOther = plannedApizeeSession(start + 60e6);
  const [, apizeeEmail, apizeePhone] = /"requestor":\{"email":"([^"]+)","phone":"([^"]+)"/.exec(
    apizee.deliveries.map((d) => d.body).join('\n'),
  )!;
  const apizeeBodies = apizee.deliveries.map((d) =>
    d.body.replaceAll(apizeeEmail!, EMAIL).replaceAll(apizeePhone!, '777123456'),
  );
  const mluvii = plannedMluviiSession(start);
  const mluviiOther = plannedMluviiSession(start + 60e6);
  const all = mluvii.deliveries.map((d) => d.body).join('\n');
  const mluviiEmail = /"oo1_guest_email":"([^"]+)"/.exec(all)![1]!;
  const mluviiPhone = /"oo1_guest_phone":"([^"]+)"/.exec(all)![1]!;
  const mluviiBodies = mluvii.deliveries.map((d) =>
    d.body.replaceAll(mluviiEmail, 'erase.me\\u002Bgdpr\\u0040example.eu').replaceAll(mluviiPhone, PHONE),
  );
  const person: Delivery[] = [
    ...zoomBodies.map((body) => ({ provider: 'zoom' as const, body })),
    ...apizeeBodies.map((body) => ({ provider: 'apizee' as const, body })),
    ...mluviiBodies.map((body) => ({ provider: 'mluvii' as const, body })),
  ];
  const others: Delivery[] = [
    ...zoomOther.deliveries.map((d) => ({ provider: 'zoom' as const, body: d.body })),
    ...apizeeOther.deliveries.map((d) => ({ provider: 'apizee' as const, body: d.body })),
    ...mluviiOther.deliveries.map((d) => ({ provider: 'mluvii' as const, body: d.body })),
  ];
  return {
    person,
    others,
    zoom: { sessionId: zoom.sessionId, expected: zoom.expected },
    zoomOther: { sessionId: zoomOther.sessionId, expected: zoomOther.expected },
    apizee: { key: apizee.sessionKey, events: apizee.expected.events },
    apizeeOther: { key: apizeeOther.sessionKey, events: apizeeOther.expected.events },
    mluvii: { key: mluvii.sessionKey, events: mluvii.expected.events },
    mluviiOther: { key: mluviiOther.sessionKey, events: mluviiOther.expected.events },
  };
}

/** Whether a text holds the person in any spelling (case aside). */
const namesPerson = (text: string) => NEEDLES.some((n) => text.toLowerCase().includes(n.toLowerCase()));

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

describe('sessionflow erase, end to end over HTTP', () => {
  let dir: ReturnType<typeof tempDir>;
  let service: Service | undefined;
  beforeEach(() => {
    dir = tempDir('sessionflow-e2e-erase-');
  });
  afterEach(async () => {
    if (service && service.proc.exitCode === null) await service.kill9();
    service = undefined;
    dir.remove();
  });

  it('erases one person from every table, every file and the log while the pipeline runs; others are unchanged; a redelivery stays out', async () => {
    service = await startService(dir.path, ENV);
    const p = plan();
    for (const needle of [EMAIL, 'erase.me\\u002Bgdpr\\u0040example.eu', PHONE, '777123456'])
      expect(
        p.person.some((d) => d.body.includes(needle)),
        needle,
      ).toBe(true);
    expect(p.others.some((d) => namesPerson(d.body))).toBe(false);
    const send = async (deliveries: Delivery[]) => {
      for (const delivery of deliveries) {
        const response = await fetch(`${service!.url}/webhooks/${delivery.provider}`, {
          method: 'POST',
          headers: headersFor(delivery),
          body: delivery.body,
        });
        expect(response.status, await response.clone().text()).toBe(200);
      }
    };
    await send([...p.person, ...p.others]);

    // Every session folded from all its deliveries, and every delivery archived.
    const zoomKeys = await eventually(
      async () => {
        const rows = await query(
          dir.path,
          `select session_id, session_key from session_facts where provider = 'zoom' and participants = 3 and alerts = 2 and recordings = 1`,
        );
        return rows.length === 2
          ? Object.fromEntries(rows.map((r) => [r.session_id, r.session_key as string]))
          : undefined;
      },
      WAIT_MS,
      'both Zoom facts',
    );
    const personSessions = [zoomKeys[p.zoom.sessionId]!, p.apizee.key, p.mluvii.key];
    const otherSessions = [zoomKeys[p.zoomOther.sessionId]!, p.apizeeOther.key, p.mluviiOther.key];
    const expectedEvents = [p.apizee, p.apizeeOther, p.mluvii, p.mluviiOther];
    await eventually(
      async () => {
        const rows = await query(
          dir.path,
          `select session_key, events from session_facts where session_key in (${expectedEvents.map((s) => `'${s.key}'`).join(', ')})`,
        );
        return rows.length === 4 &&
          expectedEvents.every((s) => rows.some((r) => r.session_key === s.key && r.events === s.events))
          ? rows
          : undefined;
      },
      WAIT_MS,
      'the Apizee and mluvii facts',
    );
    const sent = p.person.length + p.others.length;
    await eventually(
      async () => {
        const [row] = await query(dir.path, 'select count(*) as n from raw_webhooks', { restricted: true });
        return row!.n === sent ? row : undefined;
      },
      WAIT_MS,
      'every delivery archived',
    );

    // Who the person is in each session, as an analyst would find them.
    const keysOf = async () =>
      (
        await query(
          dir.path,
          `select distinct participant_key from session_events
           where (session_key = '${personSessions[0]}' and provider_user_id = '${ZOOM_USER}')
              or (session_key in ('${p.apizee.key}', '${p.mluvii.key}') and participant_role = 'guest')`,
        )
      ).map((r) => r.participant_key as string);
    const personKeys = await keysOf();
    expect(personKeys.length).toBeGreaterThanOrEqual(3);
    const inList = (keys: string[]) => keys.map((k) => `'${k}'`).join(', ');
    const factsOf = (keys: string[]) =>
      query(dir.path, `select * from session_facts where session_key in (${inList(keys)}) order by session_key`);
    const othersBefore = await factsOf(otherSessions);
    const personBefore = await factsOf(personSessions);

    // A request sealed with another PII_KEY is refused, and nothing changes.
    const wrongKey = await runCli(
      ['erase', '--email', EMAIL],
      { DATA_DIR: dir.path, ...ENV, PII_KEY: 'another-pii-key-0123456789' },
      dir.path,
      WAIT_MS,
    );
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(
      /refused: the erasure request cannot be carried out: the request cannot be opened with this PII_KEY/,
    );
    expect(await factsOf(personSessions)).toEqual(personBefore);

    const erase = await runCli(
      ['erase', '--email', 'Erase.Me+GDPR@example.eu', '--phone', '+420777123456'],
      { DATA_DIR: dir.path, ...ENV },
      dir.path,
      WAIT_MS,
    );
    expect(erase.code, erase.stderr).toBe(0);
    expect(erase.stdout).toMatch(/^erased; request \w+/);
    const count = (label: string) => Number(new RegExp(`${label}\\s+(\\d+)`).exec(erase.stdout)?.[1]);
    expect(count('deliveries removed from the raw archive')).toBeGreaterThan(0);
    expect(count('sessions folded again without them')).toBe(3);
    expect(count('embedded log records erased')).toBeGreaterThan(0);

    // No table returns a row for them; their sessions are folded without them; nobody else changed.
    for (const table of ['session_events', 'participant_sessions']) {
      expect(
        await query(dir.path, `select * from ${table} where participant_key in (${inList(personKeys)})`),
        table,
      ).toEqual([]);
    }
    const raw = await query(dir.path, 'select ingest_id, body from raw_webhooks', { restricted: true });
    expect(raw.filter((r) => namesPerson(Buffer.from(r.body as Uint8Array).toString('utf8')))).toEqual([]);
    const personAfter = await factsOf(personSessions);
    expect(personAfter.map((f) => f.session_key)).toEqual(personBefore.map((f) => f.session_key));
    expect(personAfter.map((f) => f.participants)).toEqual(personBefore.map((f) => Number(f.participants) - 1));
    expect(await factsOf(otherSessions)).toEqual(othersBefore);

    // The person's deliveries come again (a provider's retry): dropped on arrival and counted.
    const again = [
      p.person.find((d) => d.provider === 'zoom' && d.body.includes(EMAIL))!,
      p.person.find((d) => d.provider === 'apizee' && d.body.includes(EMAIL))!,
    ];
    await send(again);
    await eventually(
      async () => {
        const [row] = await query(dir.path, `select sum(deliveries) as n from erasures where reason = 'redelivery'`, {
          restricted: true,
        });
        return Number(row!.n) === again.length ? row : undefined;
      },
      WAIT_MS,
      'the redeliveries counted as refused',
    );
    expect(await keysOf()).toEqual([]);
    expect(
      (await query(dir.path, 'select ingest_id, body from raw_webhooks', { restricted: true })).filter((r) =>
        namesPerson(Buffer.from(r.body as Uint8Array).toString('utf8')),
      ),
    ).toEqual([]);

    // The erasure record: counts and keyed hashes, never the values.
    const record = await query(dir.path, `select * from erasures where reason = 'erase'`, { restricted: true });
    expect(record.map((r) => r.provider).sort()).toEqual(['apizee', 'mluvii', 'zoom']);
    expect(String(record[0]!.subjects)).toMatch(/^email:[0-9a-f]{32},phone:[0-9a-f]{32}$/);
    expect(namesPerson(JSON.stringify(record))).toBe(false);

    const audit = await runCli(['audit'], { DATA_DIR: dir.path, ...ENV }, dir.path);
    expect(audit.code, audit.stdout + audit.stderr).toBe(0);
    expect(audit.stdout).toMatch(
      /audit: OK, .*apart: [1-9]\d* erased, 0 expired, 2 redeliveries of erased data refused/,
    );

    // Stopped (DuckDB checkpoints and closes): nothing under DATA_DIR names them, in any spelling.
    expect(await service.stop()).toBe(0);
    const files = filesUnder(dir.path);
    expect(files.some((f) => f.endsWith('warehouse.duckdb'))).toBe(true);
    expect(files.some((f) => f.includes(join('log', 'topics')))).toBe(true);
    const found = files.flatMap((file) => {
      const bytes = readFileSync(file);
      return NEEDLES.filter((n) => bytes.includes(n) || bytes.includes(n.toUpperCase())).map(
        (n) => `${file.slice(dir.path.length)}: ${n}`,
      );
    });
    expect(found).toEqual([]);

    // With nothing running, the command starts the writer itself.
    const offline = await runCli(
      ['erase', '--session', otherSessions[0]!],
      { DATA_DIR: dir.path, ...ENV },
      dir.path,
      WAIT_MS,
    );
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.stderr).toContain('the pipeline is not running: starting the warehouse writer');
    expect(offline.stdout).toMatch(/sessions removed\s+1\n/);
    expect(offline.stdout).not.toContain('"level"');
    expect(await factsOf(otherSessions)).toEqual(othersBefore.filter((f) => f.session_key !== otherSessions[0]));
  }, 180_000);

  it('RAW_RETENTION_DAYS removes old bodies from the warehouse, the restricted dataset and the log, keeps events and facts, and logs it', async () => {
    // 0.0002 days is 17.28 s: the retention runs every 5 s (its shortest period).
    service = await startService(dir.path, { ...ENV, RAW_RETENTION_DAYS: '0.0002' });
    const start = nowMicros() - 3 * 3600e6;
    const apizee = plannedApizeeSession(start);
    const mluvii = plannedMluviiSession(start);
    const deliveries: Delivery[] = [
      ...apizee.deliveries.map((d) => ({ provider: 'apizee' as const, body: d.body })),
      ...mluvii.deliveries.map((d) => ({ provider: 'mluvii' as const, body: d.body })),
    ];
    const personal = [...apizee.personal, ...mluvii.personal].filter(
      (v) => v.includes('@') || /^\+?\d[\d ]{6,}$/.test(v),
    );
    expect(personal.length).toBeGreaterThanOrEqual(4);
    for (const delivery of deliveries) {
      const response = await fetch(`${service.url}/webhooks/${delivery.provider}`, {
        method: 'POST',
        headers: headersFor(delivery),
        body: delivery.body,
      });
      expect(response.status).toBe(200);
    }
    const sessions = [apizee, mluvii].map((s) => `'${s.sessionKey}'`).join(', ');
    const stored = await eventually(
      async () => {
        const [raw] = await query(dir.path, 'select count(*) as n from raw_webhooks', { restricted: true });
        const facts = await query(
          dir.path,
          `select session_key, events from session_facts where session_key in (${sessions}) order by session_key`,
        );
        return raw!.n === deliveries.length && facts.length === 2 ? facts : undefined;
      },
      WAIT_MS,
      'every delivery archived and both facts',
    );
    const events = await query(dir.path, 'select count(*) as n from session_events');

    // The bodies go once they are older than the retention; what was made of them stays.
    await eventually(
      async () => {
        const [raw] = await query(dir.path, 'select count(*) as n from raw_webhooks', { restricted: true });
        return raw!.n === 0 ? raw : undefined;
      },
      WAIT_MS,
      'the raw archive emptied by retention',
    );
    const [expired] = await query(dir.path, `select sum(deliveries) as n from erasures where reason = 'retention'`, {
      restricted: true,
    });
    expect(Number(expired!.n)).toBe(deliveries.length);
    expect(
      await query(
        dir.path,
        `select session_key, events from session_facts where session_key in (${sessions}) order by session_key`,
      ),
    ).toEqual(stored);
    expect(await query(dir.path, 'select count(*) as n from session_events')).toEqual(events);
    await eventually(
      async () =>
        service!.output().includes('raw retention: removed the bodies past RAW_RETENTION_DAYS') ? true : undefined,
      WAIT_MS,
      'the retention logged',
    );

    const audit = await runCli(['audit'], { DATA_DIR: dir.path, ...ENV }, dir.path);
    expect(audit.code, audit.stdout + audit.stderr).toBe(0);
    expect(audit.stdout).toContain(`apart: 0 erased, ${deliveries.length} expired`);

    // The log's raw records (consumed, and as old) are erased too: no file holds the bodies' e-mails and phones.
    await eventually(
      async () => (service!.output().match(/"logRecords":[1-9]/) ? true : undefined),
      WAIT_MS,
      'the log records expired',
    );
    expect(await service.stop()).toBe(0);
    const found = filesUnder(dir.path).flatMap((file) => {
      const bytes = readFileSync(file);
      return personal.filter((v) => bytes.includes(v)).map((v) => `${file.slice(dir.path.length)}: ${v}`);
    });
    expect(found).toEqual([]);
  }, 180_000);
});
