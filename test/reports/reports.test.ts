/**
 * Every report of sql/reports/ on the dataset of dataset.ts, by number; `sessionflow sql
 * --report`, the report list in --help, and the views files for outside tools.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listReports } from '../../processors/report/catalog.js';
import { sqlPath } from '../../lib/paths.js';
import { tempDir } from '../helpers/tmp.js';
import { buildDataset, type Built } from './dataset.js';
import { cli, date, rowsOf } from './support.js';

/** Each run of the built CLI takes a few seconds (node, DuckDB) and more on a busy machine. */
const CLI_TIMEOUT = 120_000;
const dir = tempDir('sessionflow-reports-');
let built: Built;
const report = (name: string, days?: number) =>
  rowsOf(
    dir.path,
    (days ? `SET VARIABLE days = ${days};\n` : '') + readFileSync(sqlPath('reports', `${name}.sql`), 'utf8'),
  );

beforeAll(async () => {
  built = await buildDataset(dir.path);
});
afterAll(() => dir.remove());

describe('sql/reports', () => {
  it('has the reports analysts ask for first, each a commented SELECT', () => {
    expect(listReports().map((r) => r.name)).toEqual([
      'consent',
      'dead_letters',
      'last_7_days',
      'participants',
      'recording',
      'sessions_per_day',
      'survey',
    ]);
    for (const r of listReports()) {
      expect(r.title, r.name).not.toBe(r.name);
      expect(r.question, r.name).toMatch(/\?/);
      expect(r.sql.replace(/^--.*$/gm, '').trim(), r.name).toMatch(/^(SELECT|WITH)\b/);
    }
  });

  it('last_7_days: durations, recordings and consent per provider and for all', async () => {
    type N = number | null;
    const row = (
      provider: string,
      sessions: number,
      finished: number,
      open: number,
      median: N,
      p90: N,
      hours: N,
      recorded: number,
      recordedPct: N,
      accepted: N,
      declined: N,
      unknown: N,
    ) => ({
      provider,
      sessions,
      finished,
      open_or_abandoned: open,
      median_minutes: median,
      p90_minutes: p90,
      total_hours: hours,
      recorded,
      recorded_pct: recordedPct,
      consent_accepted_pct: accepted,
      consent_declined_pct: declined,
      consent_unknown_pct: unknown,
    });
    expect(await report('last_7_days')).toEqual([
      // A1 720 s and A2 605 s; M1 600, M4 1500, M2 900, M3 300; Z1, Z2 1200 each, Zab and Zopen open.
      row('apizee', 2, 2, 0, 11, 11.8, 0.37, 1, 50, 100, 0, 0),
      row('mluvii', 4, 4, 0, 12.5, 22, 0.92, 0, 0, 25, 25, 50),
      row('zoom', 4, 2, 2, 20, 20, 0.67, 2, 50, 0, 0, 100),
      row('all providers', 10, 8, 2, 13.5, 21.5, 1.95, 3, 30, 30, 10, 60),
    ]);
    // A period without sessions: shares are null (no share of nothing), never NaN.
    expect(
      await rowsOf(
        dir.path,
        `SET VARIABLE from_date = DATE '2020-01-01';\nSET VARIABLE to_date = DATE '2020-01-31';\n` +
          readFileSync(sqlPath('reports', 'last_7_days.sql'), 'utf8'),
      ),
    ).toEqual([row('all providers', 0, 0, 0, null, null, null, 0, null, null, null, null)]);
    // --days moves it, as every report (it was the last 7 days whatever --days said): Z3 20 days ago comes in.
    expect((await report('last_7_days', 30)).map((r) => [r.provider, r.sessions])).toEqual([
      ['apizee', 2],
      ['mluvii', 4],
      ['zoom', 5],
      ['all providers', 11],
    ]);
  });

  it('sessions_per_day: counts by status, median and p90 minutes per UTC date and provider', async () => {
    const row = (
      n: number,
      provider: string,
      sessions: number,
      ended: number,
      closed: number,
      open: number,
      abandoned: number,
      median: number | null,
      p90: number | null,
      hours: number | null,
    ) => ({
      day: date(built.day(n)),
      provider,
      sessions,
      ended,
      closed_or_cancelled: closed,
      open,
      abandoned,
      median_minutes: median,
      p90_minutes: p90,
      total_hours: hours,
    });
    const last30 = [
      row(20, 'zoom', 1, 1, 0, 0, 0, 20, 20, 0.33),
      row(5, 'apizee', 1, 1, 0, 0, 0, 10.1, 10.1, 0.17),
      row(4, 'mluvii', 1, 1, 0, 0, 0, 5, 5, 0.08),
      row(3, 'zoom', 1, 1, 0, 0, 0, 20, 20, 0.33),
      row(2, 'mluvii', 1, 1, 0, 0, 0, 15, 15, 0.25),
      row(2, 'zoom', 1, 0, 0, 0, 1, null, null, null),
      row(1, 'apizee', 1, 0, 1, 0, 0, 12, 12, 0.2),
      row(1, 'mluvii', 2, 2, 0, 0, 0, 17.5, 23.5, 0.58), // 600 s and 1500 s
      row(1, 'zoom', 1, 1, 0, 0, 0, 20, 20, 0.33),
      row(0, 'zoom', 1, 0, 0, 1, 0, null, null, null),
    ];
    expect(await report('sessions_per_day')).toEqual(last30);
    expect(await report('sessions_per_day', 3)).toEqual(last30.slice(-6)); // today, yesterday and the day before;
    expect(await report('sessions_per_day', 90)).toHaveLength(11); // Z4, 60 days ago
  });

  it('participants: headcount, peak concurrency, rejoins and span length per provider', async () => {
    expect(await report('participants')).toEqual([
      {
        provider: 'apizee',
        sessions: 2,
        participants: 4,
        avg_participants: 2,
        agents: 2,
        guests: 2,
        avg_peak_concurrent: 2,
        max_peak_concurrent: 2,
        spans: 4,
        rejoins: 0,
        median_span_minutes: 10.9,
        participant_hours: 0.73,
      },
      {
        provider: 'mluvii',
        sessions: 4,
        participants: 8,
        avg_participants: 2,
        agents: 4,
        guests: 4,
        avg_peak_concurrent: 2,
        max_peak_concurrent: 2,
        spans: 8,
        rejoins: 0,
        median_span_minutes: 11.8,
        participant_hours: 1.78,
      },
      // Z1..Z3 (one guest drops and rejoins in each), Zab and Zopen (three joined, spans open).
      // Zoom's session.user_joined does not say who hosts: every Zoom participant is a guest.
      {
        provider: 'zoom',
        sessions: 5,
        participants: 15,
        avg_participants: 3,
        agents: 3,
        guests: 12,
        avg_peak_concurrent: 3,
        max_peak_concurrent: 3,
        spans: 18,
        rejoins: 3,
        median_span_minutes: 14.8,
        participant_hours: 2.64,
      },
    ]);
  });

  it('consent: session consent shares, and device permissions where asked', async () => {
    expect(await report('consent')).toEqual([
      // A1: camera yes, microphone no, location yes; A2: camera and microphone no (one media decision).
      {
        provider: 'apizee',
        sessions: 2,
        accepted_pct: 100,
        declined_pct: 0,
        unknown_pct: 0,
        camera_asked: 2,
        camera_allowed_pct: 50,
        microphone_asked: 2,
        microphone_allowed_pct: 0,
        geolocation_asked: 1,
        geolocation_allowed_pct: 100,
      },
      {
        provider: 'mluvii',
        sessions: 4,
        accepted_pct: 25,
        declined_pct: 25,
        unknown_pct: 50,
        camera_asked: 0,
        camera_allowed_pct: null,
        microphone_asked: 0,
        microphone_allowed_pct: null,
        geolocation_asked: 0,
        geolocation_allowed_pct: null,
      },
      {
        provider: 'zoom',
        sessions: 5,
        accepted_pct: 0,
        declined_pct: 0,
        unknown_pct: 100,
        camera_asked: 0,
        camera_allowed_pct: null,
        microphone_asked: 0,
        microphone_allowed_pct: null,
        geolocation_asked: 0,
        geolocation_allowed_pct: null,
      },
    ]);
  });

  it('recording: share recorded, seconds, files and bytes', async () => {
    expect(await report('recording')).toEqual([
      {
        provider: 'apizee',
        sessions: 2,
        recorded_sessions: 1,
        recorded_pct: 50,
        recordings: 1,
        recording_seconds: 300,
        avg_minutes_per_recorded_session: 5,
        recording_files: 1,
        recording_bytes: 1_000_000,
      },
      {
        provider: 'mluvii',
        sessions: 4,
        recorded_sessions: 0,
        recorded_pct: 0,
        recordings: 0,
        recording_seconds: 0,
        avg_minutes_per_recorded_session: null,
        recording_files: 0,
        recording_bytes: 0,
      },
      // Z1..Z3: 10 minutes recorded with a 2-minute pause, an MP4 and an M4A each.
      {
        provider: 'zoom',
        sessions: 5,
        recorded_sessions: 3,
        recorded_pct: 60,
        recordings: 3,
        recording_seconds: 1800,
        avg_minutes_per_recorded_session: 10,
        recording_files: 6,
        recording_bytes: 3 * (48_211_000 + 3_912_000),
      },
    ]);
  });

  it('survey: answered share, mean score, and answers by rounded score', async () => {
    expect(await report('survey')).toEqual([
      // A1 2, A2 (2 + 3) / 2 = 2.5, which rounds to 3.
      {
        provider: 'apizee',
        sessions: 2,
        answered: 2,
        answered_pct: 100,
        mean_score: 2.25,
        not_satisfied: 0,
        satisfied: 1,
        very_satisfied: 1,
      },
      {
        provider: 'mluvii',
        sessions: 4,
        answered: 3,
        answered_pct: 75,
        mean_score: 2,
        not_satisfied: 1,
        satisfied: 1,
        very_satisfied: 1,
      },
      {
        provider: 'zoom',
        sessions: 5,
        answered: 0,
        answered_pct: 0,
        mean_score: null,
        not_satisfied: 0,
        satisfied: 0,
        very_satisfied: 0,
      },
    ]);
  });

  it('dead_letters: count and latest per provider, stage and error code', async () => {
    const rows = await report('dead_letters');
    expect(rows.map((r) => [r.provider, r.stage, r.error_code, r.dead_letters, r.latest_field_path])).toEqual([
      ['zoom', 'normalize', 'BODY_NOT_JSON', 2, null],
      ['mluvii', 'normalize', 'FIELD_MISSING', 1, 'sessionId'],
      ['zoom', 'normalize', 'FIELD_MISSING', 1, 'payload.object.issues'],
    ]);
    const zoomBad = `${built.day(1)}T16:01:01.000Z`; // the second non-JSON body, received 1 s after its time
    expect((rows[0]!.latest_received_at as Date).toISOString()).toBe(zoomBad);
    expect(rows[0]!.latest_message).toMatch(/not valid JSON/);
    expect(await report('dead_letters', 60)).toHaveLength(3);
    expect((await report('dead_letters', 60)).find((r) => r.provider === 'mluvii')!.dead_letters).toBe(2);
  });
});

describe('sessionflow sql', () => {
  it(
    'runs a report by --report name, by path, and by name alone, with --days',
    async () => {
      const byName = await cli(['sql', '--report', 'consent', '--format', 'json'], dir.path, dir.path);
      expect(byName).toMatchObject({ code: 0, stderr: '' });
      expect(
        byName.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l).accepted_pct),
      ).toEqual([100, 25, 0]);
      const byPath = await cli(['sql', sqlPath('reports', 'consent.sql'), '--format', 'json'], dir.path, dir.path);
      expect(byPath.stdout).toBe(byName.stdout);
      const bare = await cli(['sql', 'consent', '--format', 'json'], dir.path, dir.path);
      expect(bare.stdout).toBe(byName.stdout);
      const week = await cli(
        ['sql', '--report', 'sessions_per_day', '--days', '3', '--format', 'csv'],
        dir.path,
        dir.path,
      );
      expect(week.stdout.trim().split('\n')).toHaveLength(1 + 6);
      const unknown = await cli(['sql', '--report', 'nope'], dir.path, dir.path);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/no report nope; the reports are: consent, dead_letters/);
    },
    CLI_TIMEOUT,
  );

  it(
    'serves the raw archive only to --restricted, never into the views for BI tools',
    async () => {
      const analyst = await cli(['sql', 'select count(*) from raw_webhooks'], dir.path, dir.path);
      expect(analyst.code).toBe(1);
      expect(analyst.stderr).toMatch(
        /raw_webhooks does not exist[\s\S]*not among the analysts' views: sessionflow sql --restricted/,
      );
      const operator = await cli(
        ['sql', '--restricted', 'select count(*) as n from raw_webhooks', '--format', 'json'],
        dir.path,
        dir.path,
      );
      expect(operator.code, operator.stderr).toBe(0);
      expect(JSON.parse(operator.stdout)).toEqual({ n: built.rows.raw_webhooks });
      const views = await cli(['sql', '--restricted', '--init-file', join(dir.path, 'never.sql')], dir.path, dir.path);
      expect(views.code).toBe(2);
      expect(views.stderr).toMatch(/never serve raw bodies/);
      expect(existsSync(join(dir.path, 'never.sql'))).toBe(false);
      // The archive's files are apart from the dataset, in a folder only the service's user opens.
      expect(existsSync(join(dir.path, 'parquet', 'raw_webhooks'))).toBe(false);
      expect(statSync(join(dir.path, 'restricted')).mode & 0o777).toBe(0o700);
    },
    CLI_TIMEOUT,
  );

  it(
    'lists the reports in --help',
    async () => {
      const help = await cli(['sql', '--help'], dir.path, dir.path);
      for (const r of listReports()) expect(help.stdout).toContain(`${r.name.padEnd(16)}  ${r.title}`);
    },
    CLI_TIMEOUT,
  );

  it(
    'writes the views for outside tools: an init SQL file and a DuckDB file of views',
    async () => {
      const out = tempDir('sessionflow-views-');
      try {
        const init = join(out.path, 'views.sql');
        const db = join(out.path, 'views.duckdb');
        const made = await cli(['sql', '--init-file', init, '--views-db', db], dir.path, dir.path);
        expect(made).toMatchObject({ code: 0, stderr: '' });
        expect(made.stdout).not.toMatch(/no Parquet file yet/);
        expect(readFileSync(init, 'utf8')).toContain(`read_parquet('${dir.path}/parquet/session_facts/*/*/*.parquet'`);
        expect(readdirSync(out.path).sort()).toEqual(['views.duckdb', 'views.sql']);
        // What BI tools get serves no raw body: the raw archive is not among the views.
        expect(readFileSync(init, 'utf8')).not.toMatch(/VIEW raw_webhooks|\/restricted\//);

        // A client of its own opens the views file read-only, as Metabase or DBeaver would.
        const instance = await DuckDBInstance.create(db, { access_mode: 'READ_ONLY' });
        const conn = await instance.connect();
        const count = async (sql: string) => Number((await conn.runAndReadAll(sql)).getRows()[0]![0]);
        expect(await count('SELECT count(*) FROM session_facts')).toBe(built.rows.session_facts);
        expect(await count('SELECT count(*) FROM dead_letters')).toBe(built.rows.dead_letters);
        expect(
          await count(
            `SELECT count(*) FROM (${readFileSync(sqlPath('reports', 'last_7_days.sql'), 'utf8').replace(/;\s*$/, '')})`,
          ),
        ).toBe(4);
        await expect(conn.runAndReadAll('SELECT count(*) FROM raw_webhooks')).rejects.toThrow(
          /raw_webhooks does not exist/,
        );
        conn.closeSync();
        instance.closeSync();

        // Made again: replaced in place. Never over a database that is not a views file.
        expect((await cli(['sql', '--views-db', db], dir.path, dir.path)).code).toBe(0);
        const refused = await cli(['sql', '--views-db', join(dir.path, 'warehouse.duckdb')], dir.path, dir.path);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(/pipeline's own database/);
      } finally {
        out.remove();
      }
    },
    CLI_TIMEOUT,
  );

  it(
    'gives empty, typed views for tables with no file yet',
    async () => {
      const empty = tempDir('sessionflow-views-empty-');
      try {
        const init = join(empty.path, 'views.sql');
        const made = await cli(['sql', '--init-file', init], empty.path, empty.path);
        expect(made.stdout).toMatch(
          /no Parquet file yet for session_facts, participant_sessions, session_events, dead_letters:/,
        );
        const instance = await DuckDBInstance.create(':memory:');
        const conn = await instance.connect();
        await conn.run(readFileSync(init, 'utf8'));
        expect((await conn.runAndReadAll('SELECT count(*) FROM session_facts')).getRows()).toEqual([[0n]]);
        const described = (await conn.runAndReadAll(`DESCRIBE session_facts`))
          .getRowObjects()
          .map((r) => [r.column_name, r.column_type]);
        expect(described).toContainEqual(['started_at', 'TIMESTAMP WITH TIME ZONE']);
        expect(described).toContainEqual(['date', 'DATE']);
        conn.closeSync();
        instance.closeSync();
      } finally {
        empty.remove();
      }
    },
    CLI_TIMEOUT,
  );
});
