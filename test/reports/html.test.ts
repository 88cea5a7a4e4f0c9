/**
 * `sessionflow report`: a self-contained HTML page (nothing to fetch), with the reports'
 * numbers, an empty state, and a real headless browser that renders it (Debian's chromium;
 * with CI=true a missing chromium fails, otherwise the test is skipped and says why).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listReports } from '../../processors/report/catalog.js';
import { renderPage } from '../../processors/report/page.js';
import { tempDir } from '../helpers/tmp.js';
import { buildDataset } from './dataset.js';
import { cli } from './support.js';

const run = promisify(execFile);
/** Where the browser's picture of the page is left for people to look at. */
const SCREENSHOT = join(tmpdir(), 'sessionflow-report.png');

const data = tempDir('sessionflow-html-');
const out = tempDir('sessionflow-html-out-');
const page = join(out.path, 'report.html');
let html: string;
let built: Awaited<ReturnType<typeof buildDataset>>;

beforeAll(async () => {
  built = await buildDataset(data.path);
  const made = await cli(['report', '--out', page, '--days', '30'], data.path, out.path);
  expect(made, made.stderr).toMatchObject({ code: 0, stderr: '' });
  expect(made.stdout).toMatch(/report\.html: 7 reports, 11 sessions from \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d \(UTC\)/);
  html = readFileSync(page, 'utf8');
}, 120_000);
afterAll(() => {
  data.remove();
  out.remove();
});

function findChromium(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser']) if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

describe('sessionflow report', () => {
  it('writes one page that loads nothing from anywhere', () => {
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|<object|@import|url\(/i);
    expect(html).not.toMatch(/\s(src|href)="(?!#)/i); // only in-page anchors
  });

  it('has a title, the period, and a section with a chart and a table per report', () => {
    expect(html).toMatch(/<title>sessionflow report \d{4}-\d\d-\d\d – \d{4}-\d\d-\d\d<\/title>/);
    expect(html).toMatch(/\(UTC, last 30 days\)/);
    for (const r of listReports()) {
      const section = html.slice(
        html.indexOf(`<section id="${r.name}">`),
        html.indexOf('</section>', html.indexOf(`<section id="${r.name}">`)),
      );
      expect(section, r.name).toContain(`<h2>${r.title}</h2>`);
      expect(section, r.name).toContain('<table>');
      if (r.name !== 'last_7_days') expect(section, r.name).toContain('<svg');
    }
    // The summary follows the page's 30 days (see reports.test.ts): 11 sessions, median 15 min, 36.4% recorded, 27.3% consent.
    expect(html).toContain('<div class="v">11</div><div class="k">sessions</div>');
    expect(html).toContain('<div class="v">15 min</div>');
    expect(html).toContain('<div class="v">36.4%</div><div class="k">recorded</div>');
    expect(html).toContain('<div class="v">27.3%</div><div class="k">gave consent</div>');
    expect(html).toContain('<td class="n" title="156,369,000 bytes">156.4 MB</td>');
  });

  it('says so when the period has no session', async () => {
    const empty = tempDir('sessionflow-html-empty-');
    try {
      const file = join(empty.path, 'empty.html');
      expect((await cli(['report', '--out', file], empty.path, empty.path)).code).toBe(0);
      const text = readFileSync(file, 'utf8');
      expect(text).toMatch(/No sessions between \d{4}-\d\d-\d\d and \d{4}-\d\d-\d\d/);
      expect(text).toContain('holds no session yet');
      expect(text).not.toContain('<section');
      expect((await cli(['report', '--days', '0'], data.path, empty.path)).code).toBe(2);
    } finally {
      empty.remove();
    }
    // Sessions in the dataset, none in the period: the page says when they are.
    const reports = listReports().map((file) => ({ file, result: { columns: ['provider'], rows: [] } }));
    const text = renderPage({
      generatedAt: new Date(),
      from: '2024-06-01',
      to: '2024-06-07',
      days: 7,
      dataset: '/data/parquet',
      all: { sessions: 12, first: '2024-01-02', last: '2024-03-04' },
      reports,
    });
    expect(text).toContain('No sessions between 2024-06-01 and 2024-06-07');
    expect(text).toContain('holds 12 sessions from 2024-01-02 to 2024-03-04, none in this period');
  }, 120_000);

  it('reports a past range with --from/--to, shows a period without sessions as such (never NaN), and refuses a bad period', async () => {
    // Z4 started 60 days ago: outside the default 30 days, inside a range around it.
    const range = join(out.path, 'range.html');
    const old = await cli(
      ['report', '--out', range, '--from', built.day(61), '--to', built.day(59)],
      data.path,
      out.path,
    );
    expect(old, old.stderr).toMatchObject({ code: 0 });
    expect(old.stdout).toContain(`1 session from ${built.day(61)} to ${built.day(59)} (UTC)`);
    const text = readFileSync(range, 'utf8');
    expect(text).toContain(`${built.day(61)} – ${built.day(59)} (UTC) ·`);
    expect(text).toContain('<div class="v">1</div><div class="k">sessions</div>');

    // Sessions in the dataset, none in the period: an empty state, no NaN anywhere.
    const none = join(out.path, 'none.html');
    expect(
      (await cli(['report', '--out', none, '--from', '2020-01-01', '--to', '2020-01-31'], data.path, out.path)).code,
    ).toBe(0);
    const empty = readFileSync(none, 'utf8');
    expect(empty).toContain('No sessions between 2020-01-01 and 2020-01-31');
    expect(empty).not.toMatch(/NaN|Infinity/);
    expect(html).not.toMatch(/NaN|Infinity/);

    for (const [args, message] of [
      [['--days', '7', '--from', '2026-01-01'], 'give --days, or --from and --to, not both'],
      [['--from', '2026-02-30'], '--from must be a UTC date, YYYY-MM-DD'],
      [['--from', '2026-03-01', '--to', '2026-02-01'], '--from 2026-03-01 is after --to 2026-02-01'],
      [['--to', '2026-02-01'], '--to needs --from'],
    ] as const) {
      const refused = await cli(['report', '--out', none, ...args], data.path, out.path);
      expect(refused.code, args.join(' ')).toBe(2);
      expect(refused.stderr).toContain(message);
    }
  }, 120_000);

  it('renders in headless chromium', async (ctx) => {
    const chromium = findChromium();
    if (!chromium) {
      if (process.env.CI === 'true')
        throw new Error('chromium is not installed (apt-get install -y chromium; .ci/run does it)');
      ctx.skip('chromium is not installed: apt-get install -y chromium to run this test');
    }
    const profile = tempDir('sessionflow-chromium-');
    const png = join(out.path, 'report.png');
    try {
      await run(
        chromium!,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          `--user-data-dir=${profile.path}`,
          `--screenshot=${png}`,
          '--window-size=1280,2000',
          `file://${page}`,
        ],
        { timeout: 90_000 },
      );
    } finally {
      profile.remove();
    }
    const bytes = readFileSync(png);
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([1280, 2000]); // IHDR width, height
    // A blank page compresses to well under a kilobyte; charts, text and tables do not.
    expect(statSync(png).size).toBeGreaterThan(50_000);
    copyFileSync(png, SCREENSHOT);
    await ctx.annotate(`screenshot: ${SCREENSHOT}`);
  }, 120_000);
});
