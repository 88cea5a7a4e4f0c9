/**
 * The HTML page of `sessionflow report`: one section per report of sql/reports/, each with a
 * chart drawn from the query result (svg.ts) and the result as a table. Self-contained: inline
 * CSS and SVG, no script, nothing fetched, so it opens from a file or an e-mail attachment.
 * A report this file has no chart for is shown as a table.
 */
import type { ReportFile } from './catalog.js';
import { barChart, columnChart, escapeXml, lineChart, type Series } from './svg.js';

export interface Result {
  columns: string[];
  rows: unknown[][];
}

export interface PageInput {
  generatedAt: Date;
  /** First and last UTC date of the period, YYYY-MM-DD. */
  from: string;
  to: string;
  /** The last N days, or null for a --from/--to range. */
  days: number | null;
  dataset: string;
  /** Sessions in the whole dataset, and its first and last date: what the empty state tells. */
  all: { sessions: number; first: string | null; last: string | null };
  reports: { file: ReportFile; result: Result }[];
}

type Row = Record<string, unknown>;

/** Sections in reading order: the 7-day summary answers what most people open the page for. Others follow. */
const ORDER = ['last_7_days', 'sessions_per_day', 'participants', 'consent', 'recording', 'survey', 'dead_letters'];
const PROVIDER_COLORS: Record<string, string> = {
  zoom: '#2d6cdf',
  apizee: '#e8833a',
  mluvii: '#2a9d5b',
  jifeline: '#8a4fbf',
};
const OTHER_COLORS = ['#6b7a8f', '#c0506a', '#1f9bb0', '#b08d1f'];
const GOOD = '#2a9d5b';
const BAD = '#d1495b';
const NEUTRAL = '#a0a8b4';

const colorOf = (provider: string, i: number): string =>
  PROVIDER_COLORS[provider] ?? OTHER_COLORS[i % OTHER_COLORS.length]!;
/** A number to show, or null: a share of no sessions (NaN) or an infinite ratio is no number to show. */
const num = (v: unknown): number | null => {
  const n = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : null;
  return n !== null && Number.isFinite(n) ? n : null;
};
const day = (v: unknown): string => (v instanceof Date ? v.toISOString().slice(0, 10) : String(v));
const objects = (r: Result): Row[] => r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])));

function datesBetween(from: string, to: string): string[] {
  const dates: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000)
    dates.push(new Date(t).toISOString().slice(0, 10));
  return dates;
}

function cell(column: string, value: unknown): string {
  if (value === null || value === undefined) return '<td class="muted">–</td>';
  if (value instanceof Date) {
    const iso = value.toISOString();
    const text =
      iso.endsWith('T00:00:00.000Z') && column === 'day'
        ? iso.slice(0, 10)
        : iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
    return `<td>${text}</td>`;
  }
  const n = num(value);
  if (n === null) return `<td>${escapeXml(typeof value === 'object' ? JSON.stringify(value) : String(value))}</td>`;
  if (column.endsWith('_bytes')) return `<td class="n" title="${n.toLocaleString('en-US')} bytes">${bytes(n)}</td>`;
  const text = n.toLocaleString('en-US', { maximumFractionDigits: 2 });
  return `<td class="n">${text}${column.endsWith('_pct') ? '%' : ''}</td>`;
}

function bytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toLocaleString('en-US', { maximumFractionDigits: 1 })} ${units[i]}`;
}

function table(result: Result): string {
  const head = result.columns.map((c) => `<th>${escapeXml(c.replaceAll('_', ' '))}</th>`).join('');
  const body = result.rows
    .map((row) => `<tr>${row.map((v, i) => cell(result.columns[i]!, v)).join('')}</tr>`)
    .join('\n');
  return `<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

/** Per-provider series of one column, for bar charts with one row per provider. */
function byProvider(rows: Row[], columns: { column: string; name: string; color: string }[]): Series[] {
  return columns.map(({ column, name, color }) => ({ name, color, values: rows.map((r) => num(r[column])) }));
}

const figure = (svg: string, caption: string) =>
  `<figure>${svg}<figcaption>${escapeXml(caption)}</figcaption></figure>`;

/** The charts of each report this page knows, from its rows. */
const CHARTS: Record<string, (rows: Row[], input: PageInput) => string> = {
  last_7_days(rows) {
    const all = rows.find((r) => r.provider === 'all providers');
    if (!all) return '';
    const pct = (v: unknown) => (num(v) === null ? '–' : `${num(v)}%`);
    const kpis: [string, string][] = [
      ['sessions', String(num(all.sessions) ?? 0)],
      ['median duration', num(all.median_minutes) === null ? '–' : `${num(all.median_minutes)} min`],
      ['recorded', pct(all.recorded_pct)],
      ['gave consent', pct(all.consent_accepted_pct)],
    ];
    const kpi = ([k, v]: [string, string]) =>
      `<div class="kpi"><div class="v">${escapeXml(v)}</div><div class="k">${escapeXml(k)}</div></div>`;
    return `<div class="kpis">${kpis.map(kpi).join('')}</div>`;
  },
  sessions_per_day(rows, input) {
    const dates = datesBetween(input.from, input.to);
    const providers = [...new Set(rows.map((r) => String(r.provider)))].sort();
    const series = (column: string) =>
      providers.map((p, i) => ({
        name: p,
        color: colorOf(p, i),
        values: dates.map((d) => {
          const row = rows.find((r) => r.provider === p && day(r.day) === d);
          return row ? num(row[column]) : column === 'sessions' ? 0 : null;
        }),
      }));
    const labels = dates.map((d) => d.slice(5));
    return (
      figure(
        columnChart(labels, series('sessions'), { label: 'sessions per day by provider', stacked: true, whole: true }),
        'Sessions per day (UTC date started), stacked by provider',
      ) +
      figure(
        lineChart(labels, series('median_minutes'), { label: 'median session duration per day', unit: ' min' }),
        'Median duration per day, minutes (finished sessions)',
      )
    );
  },
  participants(rows) {
    const labels = rows.map((r) => String(r.provider));
    return figure(
      barChart(
        labels,
        byProvider(rows, [
          { column: 'avg_participants', name: 'participants per session', color: '#2d6cdf' },
          { column: 'avg_peak_concurrent', name: 'peak at once', color: '#8a4fbf' },
          { column: 'max_peak_concurrent', name: 'highest peak', color: '#c0a0e0' },
        ]),
        { label: 'participants and peak concurrency per provider' },
      ),
      'Average participants per session, average and highest peak concurrency',
    );
  },
  consent(rows) {
    const labels = rows.map((r) => String(r.provider));
    const asked = rows.filter((r) =>
      ['camera_asked', 'microphone_asked', 'geolocation_asked'].some((c) => (num(r[c]) ?? 0) > 0),
    );
    const notAsked = rows.filter((r) => !asked.includes(r)).map((r) => String(r.provider));
    const devices =
      asked.length === 0
        ? '<p class="muted">No camera, microphone or location permission was asked for in this period.</p>'
        : figure(
            barChart(
              asked.map((r) => String(r.provider)),
              byProvider(asked, [
                { column: 'camera_allowed_pct', name: 'camera', color: '#2d6cdf' },
                { column: 'microphone_allowed_pct', name: 'microphone', color: '#1f9bb0' },
                { column: 'geolocation_allowed_pct', name: 'location', color: '#e8833a' },
              ]),
              { label: 'device permissions allowed where asked', max: 100, unit: '%' },
            ),
            'Allowed, share of the sessions where it was asked' +
              (notAsked.length > 0 ? ` (never asked: ${notAsked.join(', ')})` : ''),
          );
    return (
      figure(
        barChart(
          labels,
          byProvider(rows, [
            { column: 'accepted_pct', name: 'accepted', color: GOOD },
            { column: 'declined_pct', name: 'declined', color: BAD },
            { column: 'unknown_pct', name: 'unknown', color: NEUTRAL },
          ]),
          { label: 'session consent shares per provider', stacked: true, max: 100, unit: '%' },
        ),
        'Session consent, share of sessions',
      ) + devices
    );
  },
  recording(rows) {
    const labels = rows.map((r) => String(r.provider));
    return figure(
      barChart(labels, byProvider(rows, [{ column: 'recorded_pct', name: 'recorded', color: '#c0506a' }]), {
        label: 'share of sessions recorded',
        max: 100,
        unit: '%',
      }),
      'Sessions recorded, share of sessions',
    );
  },
  survey(rows) {
    const answered = rows.filter((r) => (num(r.answered) ?? 0) > 0);
    if (answered.length === 0) return '<p class="muted">No survey answers in this period.</p>';
    const labels = answered.map((r) => String(r.provider));
    return figure(
      barChart(labels, byProvider(answered, [{ column: 'mean_score', name: 'mean score', color: '#2a9d5b' }]), {
        label: 'mean survey score per provider',
        max: 3,
      }),
      'Mean survey score (1 not satisfied, 2 satisfied, 3 very satisfied)',
    );
  },
  dead_letters(rows) {
    const labels = rows.map((r) => `${r.provider} · ${r.stage} · ${r.error_code}`);
    return figure(
      barChart(labels, byProvider(rows, [{ column: 'dead_letters', name: 'dead letters', color: BAD }]), {
        label: 'dead letters by reason',
        whole: true,
      }),
      'Dead letters by provider, stage and error code',
    );
  },
};

function section(file: ReportFile, result: Result, input: PageInput): string {
  const rows = objects(result);
  const period = `${input.from} – ${input.to}`;
  const command = `<code>sessionflow sql --report ${escapeXml(file.name)}</code>`;
  const head =
    `<section id="${escapeXml(file.name)}"><h2>${escapeXml(file.title)}</h2>` +
    `<p class="q">${escapeXml(file.question)} <span class="muted">(${escapeXml(period)}; ${command})</span></p>`;
  if (rows.length === 0) return `${head}<p class="empty">No data in this period.</p></section>`;
  const chart = CHARTS[file.name]?.(rows, input) ?? '';
  const long = result.rows.length > 12;
  const data = long
    ? `<details><summary>All ${result.rows.length} rows</summary>${table(result)}</details>`
    : table(result);
  return `${head}${chart}${data}</section>`;
}

function emptyState(input: PageInput): string {
  const { sessions, first, last } = input.all;
  const where =
    sessions > 0
      ? `The dataset holds ${sessions.toLocaleString('en-US')} session${sessions === 1 ? '' : 's'} ` +
        `from ${first} to ${last}, none in this period: ` +
        'try <code>--days</code> with more days, or <code>--from</code> and <code>--to</code>.'
      : `The dataset in <code>${escapeXml(input.dataset)}</code> holds no session yet. ` +
        'Is the pipeline running and receiving webhooks? ' +
        '<code>npx sessionflow demo</code> sends sample Zoom sessions to a running service.';
  return `<div class="empty-state"><h2>No sessions between ${input.from} and ${input.to}</h2><p>${where}</p></div>`;
}

/** The style sheet as the page carries it, one line per group of rules (a blank line first). */
const CSS = [
  '',
  'body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;' +
    'color:#1d2430;background:#f5f6f8;margin:0}',
  'main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}',
  'header h1{font-size:24px;margin:0 0 4px}header p{margin:0;color:#5a6472}',
  'section,.empty-state{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:16px 20px;margin:18px 0}',
  'h2{font-size:17px;margin:0 0 4px}.q{margin:0 0 12px;color:#3a4350}' +
    '.muted{color:#8a94a3}.empty{color:#8a94a3;font-style:italic}',
  '.empty-state{text-align:center;padding:40px 20px}.empty-state h2{font-size:20px}',
  'figure{margin:8px 0 14px}figcaption{font-size:12px;color:#5a6472}svg{max-width:100%;height:auto;display:block}',
  'svg text{font-family:inherit}.tick{font-size:11px;fill:#6b7480}' +
    '.legend,.label{font-size:12px;fill:#1d2430}.value{font-size:11px;fill:#3a4350}',
  '.inbar{font-size:11px;fill:#fff}svg .muted{font-size:11px;fill:#8a94a3}.grid{stroke:#e6e8ec;stroke-width:1}',
  'div.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:12px;margin-top:6px}' +
    'th,td{padding:4px 8px;border-bottom:1px solid #eceef1;text-align:left;white-space:nowrap}',
  'th{background:#f7f8fa;font-weight:600;color:#3a4350}td.n{text-align:right;font-variant-numeric:tabular-nums}',
  'details summary{cursor:pointer;color:#2d6cdf;margin:6px 0}' +
    'code{font-size:12px;background:#f0f2f5;padding:1px 4px;border-radius:3px}',
  '.kpis{display:flex;gap:12px;margin:6px 0 12px}.kpi{flex:1;background:#f7f8fa;border-radius:6px;padding:10px 14px}' +
    '.kpi .v{font-size:22px;font-weight:600}.kpi .k{color:#5a6472;font-size:12px}',
  'nav{margin-top:10px;font-size:13px}nav a{color:#2d6cdf;margin-right:12px;text-decoration:none}',
  'footer{color:#8a94a3;font-size:12px;margin-top:24px}',
].join('\n');

const FOOTER =
  '<footer>Made by <code>sessionflow report</code> from the reports in sql/reports/, run on the Parquet dataset. ' +
  'Sessions count on the UTC date they started.</footer>';

export function renderPage(input: PageInput): string {
  const sessionsInPeriod = input.reports.find((r) => r.file.name === 'sessions_per_day')?.result.rows.length ?? 0;
  const deadInPeriod = input.reports.find((r) => r.file.name === 'dead_letters')?.result.rows.length ?? 0;
  const empty = sessionsInPeriod === 0 && deadInPeriod === 0;
  const rank = (name: string) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);
  const ordered = [...input.reports].sort((a, b) => rank(a.file.name) - rank(b.file.name));
  const nav = ordered.map((r) => `<a href="#${escapeXml(r.file.name)}">${escapeXml(r.file.title)}</a>`).join('');
  const body = empty ? emptyState(input) : ordered.map((r) => section(r.file, r.result, input)).join('\n');
  const days = input.days === null ? '' : `, last ${input.days} day${input.days === 1 ? '' : 's'}`;
  const made = input.generatedAt.toISOString().replace('T', ' ').slice(0, 16);
  const header =
    `<header><h1>Sessions report</h1><p>${input.from} – ${input.to} (UTC${days}) · made ${made} UTC · ` +
    `<code>${escapeXml(input.dataset)}</code></p>${empty ? '' : `<nav>${nav}</nav>`}</header>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>sessionflow report ${input.from} – ${input.to}</title><style>${CSS}</style></head>
<body><main>
${header}
${body}
${FOOTER}
</main></body></html>
`;
}
