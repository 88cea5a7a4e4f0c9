/**
 * Poison over HTTP: correctly authenticated deliveries that once stopped the pipeline for good
 * (a time in the year 2500, 9999 or 2255, a size past what an Avro long holds), and bodies full
 * of what breaks parsers, sent through the real ingest of `sessionflow run`. Each is acked and
 * becomes a dead letter or events; a normal session after them still gets its fact, the process
 * never exits, and `sessionflow audit` balances with the poison counted.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apizeeHeaders } from '../../ingest/demo/apizee.js';
import { mluviiHeaders } from '../../ingest/demo/mluvii.js';
import { plannedZoomSession, zoomHeaders } from '../../ingest/demo/zoom.js';
import { projectRoot } from '../../lib/paths.js';
import { nowMicros } from '../../lib/time.js';
import { queryDataset as query } from '../helpers/data.js';
import { eventually, runCli, startService, type Service } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

const SECRETS = {
  ZOOM_WEBHOOK_SECRET_TOKEN: 'e2e-poison-zoom-secret',
  APIZEE_WEBHOOK_SECRET: 'e2e-poison-apizee-secret-7Hq2',
  MLUVII_WEBHOOK_USER: 'mluvii-poison',
  MLUVII_WEBHOOK_PASSWORD: 'e2e-poison-mluvii-password-Zr4',
};
const HEADERS = {
  zoom: (body: string) => zoomHeaders(SECRETS.ZOOM_WEBHOOK_SECRET_TOKEN, body),
  apizee: () => apizeeHeaders(SECRETS.APIZEE_WEBHOOK_SECRET),
  mluvii: () => mluviiHeaders(SECRETS.MLUVII_WEBHOOK_USER, SECRETS.MLUVII_WEBHOOK_PASSWORD),
};
type Provider = keyof typeof HEADERS;

const fixture = (provider: Provider, name: string) =>
  JSON.parse(readFileSync(join(projectRoot(), 'test/fixtures', provider, `${name}.json`), 'utf8')) as Record<
    string,
    any
  >;

/** The poison, each a delivery its provider could really send, with what it must become. */
function poison(): Array<{ name: string; provider: Provider; body: string; codes: string[]; field?: string }> {
  const started = fixture('zoom', 'session.started');
  delete started.payload.object.start_time; // so the event's time is event_ts
  const recording = fixture('zoom', 'session.recording_completed');
  recording.payload.object.session_id = 'poison-bytes==';
  recording.payload.object.recording_files[0].file_size = 1e300;
  const mluvii = fixture('mluvii', 'SessionStarted');
  const apizee = fixture('apizee', 'consent.accepted');
  const strange = fixture('zoom', 'session.user_joined');
  strange.payload.object.session_id = 'poison-strings==';
  strange.payload.object.user.id = 'user\u0000\ud800';
  strange.payload.object.user.name = '\udfff\u0000';
  strange.payload.object.session_name = 'x'.repeat(100_000);
  return [
    {
      name: 'Zoom event_ts in the year 2500',
      provider: 'zoom',
      body: JSON.stringify({ ...started, event_ts: Date.UTC(2500, 0, 1) }),
      codes: ['FIELD_INVALID'],
      field: 'event_ts',
    },
    {
      name: 'mluvii time in the year 9999',
      provider: 'mluvii',
      body: JSON.stringify({
        ...mluvii,
        data: { ...mluvii.data, id: 990001, started: '9999-12-31T23:59:59.999999+02:00' },
      }),
      codes: ['FIELD_INVALID'],
      field: 'data.started',
    },
    {
      name: 'Apizee time 9e12',
      provider: 'apizee',
      body: JSON.stringify({ ...apizee, objectId: 990002, time: 9e12 }),
      codes: ['FIELD_INVALID'],
      field: 'time',
    },
    {
      name: 'Zoom file_size past a long',
      provider: 'zoom',
      body: JSON.stringify(recording),
      codes: ['EVENT_INVALID', 'FIELD_INVALID'],
    },
    {
      name: 'a prototype key',
      provider: 'apizee',
      body: `{"__proto__": {"polluted": 1}, ${JSON.stringify({ ...apizee, objectId: 990003 }).slice(1)}`,
      codes: [],
    },
    {
      name: 'NUL bytes, lone surrogates and a 100 kB name',
      provider: 'zoom',
      body: JSON.stringify(strange),
      codes: [],
    },
  ];
}

describe('poison over HTTP', () => {
  let dir: ReturnType<typeof tempDir>;
  let service: Service | undefined;
  beforeEach(() => {
    dir = tempDir('sessionflow-e2e-poison-');
  });
  afterEach(async () => {
    if (service && service.proc.exitCode === null) await service.kill9();
    service = undefined;
    dir.remove();
  });

  it('acks each poison delivery, dead-letters what cannot be read, keeps running, and audit balances', async () => {
    service = await startService(dir.path, SECRETS);
    const sent: Array<ReturnType<typeof poison>[number] & { ingestId: string }> = [];
    for (const delivery of poison()) {
      const response = await fetch(`${service.url}/webhooks/${delivery.provider}`, {
        method: 'POST',
        headers: HEADERS[delivery.provider](delivery.body),
        body: delivery.body,
      });
      expect(response.status, delivery.name).toBe(200);
      sent.push({ ...delivery, ingestId: ((await response.json()) as { ingest_id: string }).ingest_id });
    }

    // A normal session after the poison: its fact must appear, from the same running process.
    const session = plannedZoomSession(nowMicros() - 2 * 3600e6);
    for (const delivery of session.deliveries) {
      expect(
        (
          await fetch(`${service.url}/webhooks/zoom`, {
            method: 'POST',
            headers: HEADERS.zoom(delivery.body),
            body: delivery.body,
          })
        ).status,
      ).toBe(200);
    }
    const fact = await eventually(
      async () =>
        (
          await query(
            dir.path,
            `select * from session_facts where session_key = 'zoom:${session.sessionId}' and recording_files = 2`,
          )
        )[0],
      30_000,
      'the normal session fact',
    );
    expect(fact).toMatchObject(session.expected);

    // Each poison delivery is a dead letter with its code and field, or became events: never lost.
    const ids = sent.map((d) => `'${d.ingestId}'`).join(', ');
    const letters = await eventually(
      async () => {
        const rows = await query(
          dir.path,
          `select ingest_id, stage, error_code, field_path from dead_letters where ingest_id in (${ids})`,
        );
        return rows.length >= sent.filter((d) => d.codes.length > 0).length ? rows : undefined;
      },
      30_000,
      'the dead letters',
    );
    const withEvents = new Set(
      (await query(dir.path, `select distinct ingest_id from session_events where ingest_id in (${ids})`)).map(
        (r) => r.ingest_id,
      ),
    );
    for (const delivery of sent) {
      const letter = letters.find((l) => l.ingest_id === delivery.ingestId);
      if (delivery.codes.length > 0) {
        expect(letter, delivery.name).toBeDefined();
        expect(delivery.codes, delivery.name).toContain(letter!.error_code);
        if (delivery.field) expect(letter!.field_path, delivery.name).toBe(delivery.field);
      } else {
        expect(
          letter === undefined && withEvents.has(delivery.ingestId),
          `${delivery.name}: events, no dead letter`,
        ).toBe(true);
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(service.proc.exitCode).toBeNull();
    expect((await fetch(`${service.url}/health/ready`)).status).toBe(200);

    // The audit accounts for every archived delivery, poison included (it reads the dataset,
    // whose raw archive may trail the facts by a batch: run it until it balances, as its help says).
    const audit = await eventually(
      async () => {
        const result = await runCli(['audit', '--format', 'json'], { DATA_DIR: dir.path, ...SECRETS }, dir.path);
        const rows = result.stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as Record<string, string | number>);
        const total = rows.find((r) => r.provider === 'total')!;
        return result.code === 0 && Number(total.archived) === sent.length + session.deliveries.length
          ? rows
          : undefined;
      },
      30_000,
      'a balanced audit',
    );
    const total = audit.find((r) => r.provider === 'total')!;
    expect(Number(total.dead_lettered)).toBe(sent.filter((d) => d.codes.length > 0).length);
    expect(Number(total.unexplained)).toBe(0);
  }, 120_000);
});
