/**
 * Apizee and mluvii end to end: the built CLI as a real process, each provider's planned session
 * (ingest/demo/apizee.ts, ingest/demo/mluvii.ts) posted over HTTP with its credentials, shuffled and
 * twice, read back from the Parquet dataset the way an analyst would, with no personal value in
 * any of its files (the bodies are in the restricted raw archive). And `sessionflow demo`
 * against the running service, as a newcomer would run it.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apizeeHeaders, plannedApizeeSession, type PlannedFacts } from '../../ingest/demo/apizee.js';
import { mluviiHeaders, plannedMluviiSession } from '../../ingest/demo/mluvii.js';
import { nowMicros, type Micros } from '../../lib/time.js';
import { eventually, runCli, startService, type Service } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';
import { queryDataset as query, shuffled } from '../helpers/data.js';

const SECRETS = {
  APIZEE_WEBHOOK_SECRET: 'e2e-apizee-shared-secret-5Kq8',
  MLUVII_WEBHOOK_USER: 'mluvii-e2e',
  MLUVII_WEBHOOK_PASSWORD: 'e2e-mluvii-password-Vb31',
};
const WAIT_MS = 45_000;

interface Planned {
  sessionKey: string;
  deliveries: Array<{ event: string; body: string }>;
  expected: PlannedFacts;
  times: Partial<Record<'created_at' | 'started_at' | 'ended_at' | 'first_event_at' | 'last_event_at', Micros | null>>;
  personal: string[];
}

interface Case {
  provider: 'apizee' | 'mluvii';
  plan(start: Micros): Planned;
  headers: Record<string, string>;
  seed: number;
  /** An attribute the adapter keeps: proves the scan reads the attributes map too. */
  attribute: string;
}

const CASES: Case[] = [
  {
    provider: 'apizee',
    plan: plannedApizeeSession,
    headers: apizeeHeaders(SECRETS.APIZEE_WEBHOOK_SECRET),
    seed: 7,
    attribute: 'conversation_id',
  },
  {
    provider: 'mluvii',
    plan: plannedMluviiSession,
    headers: mluviiHeaders(SECRETS.MLUVII_WEBHOOK_USER, SECRETS.MLUVII_WEBHOOK_PASSWORD),
    seed: 2024,
    attribute: 'activity_type',
  },
];

const hex = (bytes: Uint8Array | string): string => Buffer.from(bytes as Uint8Array).toString('hex');

describe('Apizee and mluvii, end to end over HTTP', () => {
  let dir: ReturnType<typeof tempDir>;
  let service: Service | undefined;
  beforeEach(() => {
    dir = tempDir('sessionflow-e2e-providers-');
  });
  afterEach(async () => {
    if (service && service.proc.exitCode === null) await service.kill9();
    service = undefined;
    dir.remove();
  });

  it.each(CASES)(
    '$provider: a session shuffled and sent twice gives exactly the planned facts, one row per event, no personal data, every delivery archived',
    async ({ provider, plan, headers, seed, attribute }) => {
      service = await startService(dir.path, SECRETS);
      const session = plan(nowMicros() - 3 * 3600e6);
      // The scan below means something only if the bodies really carry these values.
      for (const value of session.personal)
        expect(
          session.deliveries.some((d) => d.body.includes(value)),
          value,
        ).toBe(true);

      const deliveries = shuffled([...session.deliveries, ...session.deliveries], seed);
      for (const delivery of deliveries) {
        const response = await fetch(`${service.url}/webhooks/${provider}`, {
          method: 'POST',
          headers,
          body: delivery.body,
        });
        expect(response.status, `${delivery.event}: ${await response.clone().text()}`).toBe(200);
      }

      const key = session.sessionKey;
      const timeColumns = Object.keys(session.times);
      const fact = await eventually(
        async () => {
          const micros = timeColumns.map((c) => `epoch_us(${c}) as ${c}_us`).join(', ');
          const rows = await query(
            dir.path,
            `select *, ${micros} from session_facts where session_key = '${key}' and events = ${session.expected.events}`,
          );
          return rows[0];
        },
        WAIT_MS,
        `the fact of ${key}`,
      );
      expect(Object.fromEntries(Object.keys(session.expected).map((k) => [k, fact[k]]))).toEqual(session.expected);
      expect(Object.fromEntries(timeColumns.map((c) => [c, fact[`${c}_us`]]))).toEqual(session.times);

      // The raw archive is its own topic: it may trail the facts. Every delivery, redeliveries
      // included, byte for byte; no credential among the archived headers. (Append-only tables
      // are compacted: for an instant a reader may list a compacted file beside its inputs and
      // see rows twice, export.ts. Poll until the archive is exactly what was sent.)
      const sent = deliveries.map((d) => hex(d.body)).sort();
      let archived: string[] = [];
      const raw = await eventually(
        async () => {
          const rows = await query(
            dir.path,
            `select body, cast(headers as varchar) as headers from raw_webhooks where provider = '${provider}'`,
            { restricted: true },
          );
          archived = rows.map((r) => hex(r.body as Uint8Array)).sort();
          return archived.length === sent.length && archived.every((b, i) => b === sent[i]) ? rows : undefined;
        },
        WAIT_MS,
        'every delivery in raw_webhooks',
      ).catch((err: Error) => {
        expect(archived, err.message).toEqual(sent);
        throw err;
      });
      const basic = headers.authorization?.replace(/^Basic /, '');
      const credentials = [
        SECRETS.APIZEE_WEBHOOK_SECRET,
        SECRETS.MLUVII_WEBHOOK_PASSWORD,
        'x-webhook-secret',
        'authorization',
        ...(basic ? [basic] : []),
      ];
      const archivedHeaders = raw.map((r) => String(r.headers)).join('\n');
      expect(archivedHeaders).toContain('content-type');
      expect(credentials.filter((c) => archivedHeaders.includes(c))).toEqual([]);

      // Twice delivered, once stored: one canonical row per event, none a dead letter. A batch's
      // partitions are written one after the other: the events' file may trail the fact's.
      const one = { n: session.expected.events, ids: session.expected.events };
      let events: Record<string, unknown> | undefined;
      await eventually(
        async () => {
          [events] = await query(
            dir.path,
            `select count(*) as n, count(distinct event_id) as ids from session_events where session_key = '${key}'`,
          );
          return events!.n === one.n && events!.ids === one.ids ? events : undefined;
        },
        WAIT_MS,
        'one row per event in session_events',
      ).catch((err: Error) => {
        expect(events, err.message).toEqual(one);
        throw err;
      });
      expect(await query(dir.path, `select ingest_id, error_code, field_path from dead_letters`)).toEqual([]);

      // No name, e-mail, phone, position, OCR text or feedback in any column of the events, facts or spans.
      const lines = await query(
        dir.path,
        `select cast(e as varchar) as line from session_events e where provider = '${provider}'
         union all select cast(f as varchar) from session_facts f where provider = '${provider}'
         union all select cast(p as varchar) from participant_sessions p where provider = '${provider}'`,
      );
      expect(lines.length).toBeGreaterThan(session.expected.events);
      const text = lines
        .map((l) => String(l.line))
        .join('\n')
        .toLowerCase();
      expect(text).toContain(key.toLowerCase());
      expect(text).toContain(attribute);
      expect(session.personal.filter((value) => text.includes(value.toLowerCase()))).toEqual([]);

      // Nor does any file of the dataset BI reads, whatever its table: each Parquet file under
      // DATA_DIR/parquet read whole (they are ZSTD: a byte search would find nothing either way).
      // The bodies that hold these values are in the raw archive apart, DATA_DIR/restricted.
      const files = readdirSync(join(dir.path, 'parquet'), { recursive: true, encoding: 'utf8' }).filter((f) =>
        f.endsWith('.parquet'),
      );
      expect(files.some((f) => f.startsWith('raw_webhooks'))).toBe(false);
      const list = files.map((f) => `'${join(dir.path, 'parquet', f)}'`).join(', ');
      const everything = await query(
        dir.path,
        `select cast(t as varchar) as line from read_parquet([${list}], union_by_name = true, hive_partitioning = false) t`,
      );
      const dataset = everything
        .map((l) => String(l.line))
        .join('\n')
        .toLowerCase();
      expect(dataset).toContain(key.toLowerCase());
      expect(session.personal.filter((value) => dataset.includes(value.toLowerCase()))).toEqual([]);
      await expect(query(dir.path, 'select count(*) from raw_webhooks')).rejects.toThrow(/raw_webhooks does not exist/);
      expect(statSync(join(dir.path, 'restricted')).mode & 0o777).toBe(0o700);
    },
    120_000,
  );

  it('mluvii bodies with no id and no time: an operator going AWAY → ONLINE → AWAY is three events, a retry of one none', async () => {
    service = await startService(dir.path, SECRETS);
    const headers = mluviiHeaders(SECRETS.MLUVII_WEBHOOK_USER, SECRETS.MLUVII_WEBHOOK_PASSWORD);
    const status = (value: string) =>
      JSON.stringify({
        eventType: 'UserStatusChanged',
        data: { userId: 2710, status: value, availabilityStatus: value, availabilityStatusReason: null },
      });
    // The first AWAY retried at once (mluvii sends it again when our answer did not reach it).
    for (const body of [status('AWAY'), status('AWAY'), status('ONLINE'), status('AWAY')]) {
      expect((await fetch(`${service.url}/webhooks/mluvii`, { method: 'POST', headers, body })).status).toBe(200);
    }
    const rows = await eventually(
      async () => {
        const found = await query(
          dir.path,
          `select state from session_events where provider_type = 'UserStatusChanged' order by occurred_at, received_at`,
        );
        return found.length >= 3 ? found : undefined;
      },
      WAIT_MS,
      'the status changes in session_events',
    );
    expect(rows.map((r) => r.state)).toEqual(['AWAY', 'ONLINE', 'AWAY']);
  }, 120_000);

  it('`sessionflow demo --provider all` sends sessions of all three providers with the development secrets; their facts appear', async () => {
    service = await startService(dir.path); // development: makes the secrets and keeps them in DATA_DIR
    const demo = await runCli(
      ['demo', '--provider', 'all', '--sessions', '1', '--url', service.url],
      { DATA_DIR: dir.path },
      dir.path,
    );
    expect(demo.code, demo.stderr).toBe(0);
    const keys = [...demo.stdout.matchAll(/^\s+((?:zoom|apizee|mluvii):\S+) started /gm)].map((m) => m[1]!);
    expect(keys.map((k) => k.split(':')[0]).sort()).toEqual(['apizee', 'mluvii', 'zoom']);
    expect(demo.stdout).toContain('npx sessionflow sql "select');

    const final: Record<string, string> = { zoom: 'ended', apizee: 'closed', mluvii: 'ended' };
    const facts = await eventually(
      async () => {
        const rows = await query(
          dir.path,
          `select provider, session_key, status from session_facts where session_key in (${keys.map((k) => `'${k}'`).join(', ')})`,
        );
        return rows.length === 3 && rows.every((r) => r.status === final[r.provider as string]) ? rows : undefined;
      },
      WAIT_MS,
      'the facts of the three demo sessions',
    );
    expect(facts.map((f) => f.provider).sort()).toEqual(['apizee', 'mluvii', 'zoom']);
  }, 120_000);

  it('`sessionflow demo` says which secret is missing, and sends nothing', async () => {
    const demo = await runCli(
      ['demo', '--provider', 'all', '--url', 'http://127.0.0.1:9'],
      { DATA_DIR: dir.path, ZOOM_WEBHOOK_SECRET_TOKEN: 'set' },
      dir.path,
    );
    expect(demo.code).toBe(2);
    expect(demo.stderr).toContain('APIZEE_WEBHOOK_SECRET');
    expect(demo.stderr).toContain('MLUVII_WEBHOOK_USER and MLUVII_WEBHOOK_PASSWORD');
    expect(demo.stderr).not.toContain('ZOOM_WEBHOOK_SECRET_TOKEN');
    expect(demo.stderr).toContain('dev-secrets.json');
    expect(demo.stdout).toBe('');
  });
});
