/** The results as Markdown: the headline tables, the Kafka mode, the baselines, the breakdown. */
import { cpus } from 'node:os';
import type { AppenderResult } from './appender.js';
import type { BreakdownVariant } from './breakdown.js';
import type { KafkaResult } from './kafka.js';
import type { EmbeddedResult, HelloResult } from './scenarios.js';
import type { SeedResult } from './seed.js';
import type { Settings } from './settings.js';

export interface Results {
  startedAt: Date;
  hello?: HelloResult;
  appender?: AppenderResult;
  empty?: EmbeddedResult;
  seed?: SeedResult & { cached?: boolean };
  seeded?: EmbeddedResult;
  kafka?: KafkaResult;
  kafkaSkipped?: string;
  breakdown?: BreakdownVariant[];
  errors: string[];
}

const DASH = '–';
const n0 = (v: number | undefined) =>
  v === undefined || !Number.isFinite(v) ? DASH : Math.round(v).toLocaleString('en-US');
const ms = (v: number | undefined) =>
  v === undefined || !Number.isFinite(v) ? DASH : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
const s1 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? DASH : v.toFixed(1));
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0
    ? DASH
    : `${(a / b).toFixed(2)}×`;
/** seeded vs empty within 20%: more is better (rates) or less is better (times). */
const within = (seeded: number | undefined, empty: number | undefined, higherIsBetter: boolean) => {
  if (seeded === undefined || empty === undefined || !Number.isFinite(seeded) || !Number.isFinite(empty) || empty === 0)
    return DASH;
  const r = seeded / empty;
  const ok = higherIsBetter ? r >= 0.8 : r <= 1.2;
  return `${r.toFixed(2)}× ${ok ? 'ok' : 'NO'}`;
};

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function files(e: EmbeddedResult | undefined, when: 'during' | 'after'): string {
  if (!e) return DASH;
  const tables = ['session_events', 'session_facts', 'participant_sessions'];
  return tables
    .map((t) => {
      const most = when === 'during' ? (e.filesDuring[t] ?? 0) : (e.filesAfter[t]?.maxFiles ?? 0);
      return `${t.replace('session_', '').replace('participant_sessions', 'spans')} ${most}`;
    })
    .join(', ');
}

function seeded(r: Results, settings: Settings): string {
  const seed = r.seed;
  if (!seed) return 'not run';
  return (
    `${n0(seed.events)} events in ${n0(seed.sessions)} sessions over ${settings.seedDays} days, ` +
    `loaded in ${s1(seed.seconds)} s (${n0(seed.eventsPerSecond)} events/s through createWarehouse/applyBatch)` +
    (seed.cached ? ', copied from BENCH_SEED_CACHE' : '')
  );
}

function headline(r: Results, settings: Settings): string[] {
  const e = r.empty;
  const s = r.seeded;
  const h = r.hello;
  const lines = [
    `### Embedded mode, \`sessionflow run\` (one process, NODE_ENV=production)`,
    '',
    `Seeded: ${seeded(r, settings)}.`,
    '',
    'Where a cell holds two figures (p50 / p99), "seeded ÷ empty" compares the second.',
    '',
    row([
      'measure',
      'empty warehouse',
      'seeded warehouse',
      'seeded ÷ empty (within 20%)',
      'baseline',
      'empty ÷ baseline',
    ]),
    row(['---', '---:', '---:', '---:', '---:', '---:']),
    row([
      `sustained: acked req/s (${settings.connections} conn, ${settings.seconds} s)`,
      n0(e?.sustained.load.ackedPerSecond),
      n0(s?.sustained.load.ackedPerSecond),
      within(s?.sustained.load.ackedPerSecond, e?.sustained.load.ackedPerSecond, true),
      `${n0(h?.sustained.ackedPerSecond)} (Fastify hello)`,
      ratio(e?.sustained.load.ackedPerSecond, h?.sustained.ackedPerSecond),
    ]),
    row([
      'sustained: ack p50 / p99 ms',
      `${ms(e?.sustained.load.p50)} / ${ms(e?.sustained.load.p99)}`,
      `${ms(s?.sustained.load.p50)} / ${ms(s?.sustained.load.p99)}`,
      within(s?.sustained.load.p99, e?.sustained.load.p99, false),
      `${ms(h?.sustained.p50)} / ${ms(h?.sustained.p99)}`,
      `${ratio(e?.sustained.load.p50, h?.sustained.p50)} / ${ratio(e?.sustained.load.p99, h?.sustained.p99)}`,
    ]),
    row([
      'sustained: non-2xx / errors',
      `${n0(e?.sustained.load.non2xx)} / ${n0(e?.sustained.load.errors)}`,
      `${n0(s?.sustained.load.non2xx)} / ${n0(s?.sustained.load.errors)}`,
      DASH,
      `${n0(h?.sustained.non2xx)} / ${n0(h?.sustained.errors)}`,
      DASH,
    ]),
    row([
      'load stop → every acked event in Parquet, s',
      s1(e?.sustained.drainSeconds),
      s1(s?.sustained.drainSeconds),
      within(s?.sustained.drainSeconds, e?.sustained.drainSeconds, false),
      DASH,
      DASH,
    ]),
    row([
      'events stored / events/s end to end',
      `${n0(e?.sustained.events)} / ${n0(e?.sustained.eventsPerSecond)}`,
      `${n0(s?.sustained.events)} / ${n0(s?.sustained.eventsPerSecond)}`,
      within(s?.sustained.eventsPerSecond, e?.sustained.eventsPerSecond, true),
      `${n0(r.appender?.eventsPerSecond)} (DuckDB Appender, ${n0(r.appender?.events)} rows)`,
      ratio(e?.sustained.eventsPerSecond, r.appender?.eventsPerSecond),
    ]),
    row([
      `freshness at ${n0(settings.rate)}/s offered for ${settings.freshSeconds} s: ` +
        '2xx → fact in Parquet p50 / p99 ms',
      `${ms(e?.freshness.p50)} / ${ms(e?.freshness.p99)}`,
      `${ms(s?.freshness.p50)} / ${ms(s?.freshness.p99)}`,
      within(s?.freshness.p99, e?.freshness.p99, false),
      '1,000 (DESIGN §7 target)',
      ratio(e?.freshness.p99, 1000),
    ]),
    row(['freshness: acked req/s, 5xx, other non-2xx, errors, not sent', fresh(e), fresh(s), DASH, DASH, DASH]),
    row([
      'freshness: ack p50 / p99 ms',
      `${ms(e?.freshness.load.p50)} / ${ms(e?.freshness.load.p99)}`,
      `${ms(s?.freshness.load.p50)} / ${ms(s?.freshness.load.p99)}`,
      within(s?.freshness.load.p99, e?.freshness.load.p99, false),
      DASH,
      DASH,
    ]),
    row([
      'freshness: markers acked / seen in Parquet',
      `${n0(e?.freshness.markersAcked)} / ${n0(e?.freshness.markersSeen)}`,
      `${n0(s?.freshness.markersAcked)} / ${n0(s?.freshness.markersSeen)}`,
      DASH,
      DASH,
      DASH,
    ]),
    row([
      `at rest: ack p50 / p99 ms (${settings.restCount} single deliveries)`,
      `${ms(e?.rest.p50)} / ${ms(e?.rest.p99)}`,
      `${ms(s?.rest.p50)} / ${ms(s?.rest.p99)}`,
      within(s?.rest.p50, e?.rest.p50, false),
      `${ms(h?.rest.p50)} / ${ms(h?.rest.p99)} (Fastify hello); target p50 ≤ 3`,
      ratio(e?.rest.p50, h?.rest.p50),
    ]),
    row([
      'max RSS of the product process, MiB',
      n0(e?.maxRssMiB),
      n0(s?.maxRssMiB),
      within(s?.maxRssMiB, e?.maxRssMiB, false),
      `${n0(h?.maxRssMiB)} (Fastify hello)`,
      ratio(e?.maxRssMiB, h?.maxRssMiB),
    ]),
    row([
      'Parquet files per partition, most during the runs',
      files(e, 'during'),
      files(s, 'during'),
      DASH,
      DASH,
      DASH,
    ]),
    row(['Parquet files per partition, most after', files(e, 'after'), files(s, 'after'), DASH, DASH, DASH]),
  ];
  return lines;
}

function fresh(e: EmbeddedResult | undefined): string {
  if (!e) return DASH;
  const l = e.freshness.load;
  return [l.ackedPerSecond, l.status5xx, l.non2xx - l.status5xx, l.errors, l.skipped].map((v) => n0(v)).join(', ');
}

function kafkaTable(r: Results): string[] {
  if (!r.kafka) return [`### Kafka mode`, '', r.kafkaSkipped ?? 'not run', ''];
  const h = r.hello?.sustained.ackedPerSecond;
  const embeddedRate = r.empty?.sustained.load.ackedPerSecond;
  const lines = [
    '### Kafka mode (sustained rate, each variant on topics of its own)',
    '',
    row([
      'variant',
      'acked req/s',
      'p50 / p99 ms',
      'non-2xx / errors',
      'load stop → all in Parquet, s',
      'events/s end to end',
      '÷ Fastify hello',
      '÷ embedded run',
      'max RSS MiB',
    ]),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---']),
  ];
  for (const v of r.kafka.variants) {
    const l = v.sustained.load;
    lines.push(
      row([
        v.name,
        n0(l.ackedPerSecond),
        `${ms(l.p50)} / ${ms(l.p99)}`,
        `${n0(l.non2xx)} / ${n0(l.errors)}`,
        s1(v.sustained.drainSeconds),
        n0(v.sustained.eventsPerSecond),
        ratio(l.ackedPerSecond, h),
        ratio(l.ackedPerSecond, embeddedRate),
        Object.entries(v.rss)
          .map(([name, mib]) => `${name} ${n0(mib)}`)
          .join(', '),
      ]),
    );
  }
  const w = r.kafka.warehouseAlone;
  if (w) {
    lines.push(
      row([
        'warehouse alone, draining events.v1',
        DASH,
        DASH,
        DASH,
        `${s1(w.seconds)} for ${n0(w.events)} events${w.complete ? '' : ' (incomplete)'} ` +
          `(+${s1(w.startSeconds)} s process start)`,
        n0(w.eventsPerSecond),
        DASH,
        DASH,
        `warehouse ${n0(w.maxRssMiB)}`,
      ]),
    );
  }
  lines.push('');
  return lines;
}

function baselines(r: Results, settings: Settings): string[] {
  const h = r.hello;
  return [
    '### Baselines (same run, same machine)',
    '',
    row(['baseline', 'result']),
    row(['---', '---']),
    row([
      `Fastify hello-world POST route, ${settings.connections} conn, ${settings.seconds} s`,
      h
        ? `${n0(h.sustained.ackedPerSecond)} req/s, p50 ${ms(h.sustained.p50)} ms, p99 ${ms(h.sustained.p99)} ms, ` +
          `non-2xx ${n0(h.sustained.non2xx)}; ` +
          `the load generator used ${s1(h.sustained.cpuSeconds)} CPU-s in ${s1(h.sustained.elapsedSeconds)} s`
        : DASH,
    ]),
    row([
      'Fastify hello-world, single requests at rest',
      h ? `p50 ${ms(h.rest.p50)} ms, p99 ${ms(h.rest.p99)} ms` : DASH,
    ]),
    row([
      'DuckDB Appender loop, the same event rows',
      r.appender
        ? `${n0(r.appender.eventsPerSecond)} events/s (${n0(r.appender.events)} rows in ${s1(r.appender.seconds)} s)`
        : DASH,
    ]),
    '',
  ];
}

function breakdownTable(r: Results, settings: Settings): string[] {
  if (!r.breakdown) return [];
  const serialOf = (mode: string) =>
    r.breakdown!.find((v) => v.mode === mode && v.name.startsWith('serial'))?.load.ackedPerSecond;
  return [
    `### Breakdown: the ingest route alone, in the benchmark's process, nothing behind it (not the headline)`,
    '',
    row(['mode', 'variant', 'acked req/s', 'p50 / p99 ms', 'non-2xx', '÷ serial']),
    row(['---', '---', '---:', '---:', '---:', '---:']),
    ...r.breakdown.map((v) =>
      row([
        v.mode,
        v.name,
        n0(v.load.ackedPerSecond),
        `${ms(v.load.p50)} / ${ms(v.load.p99)}`,
        n0(v.load.non2xx + v.load.errors),
        ratio(v.load.ackedPerSecond, serialOf(v.mode)),
      ]),
    ),
    '',
    `(${settings.connections} connections, ${settings.seconds} s each)`,
    '',
  ];
}

const SMOKE = ' — SMOKE RUN (short lengths, small seed: not figures to quote)';
const PROFILED = ' — PROFILED (node --cpu-prof: not figures to quote)';

export function renderResults(r: Results, settings: Settings): string {
  const cpu = cpus();
  const { mix } = settings;
  const lines = [
    `## sessionflow benchmark${settings.smoke ? SMOKE : ''}${settings.profileDir ? PROFILED : ''}`,
    '',
    `- date: ${r.startedAt.toISOString()}; node ${process.version}; ` +
      `${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'})`,
    '- settings: ' +
      `BENCH_SECONDS=${settings.seconds} BENCH_WARMUP_SECONDS=${settings.warmupSeconds} ` +
      `BENCH_CONNECTIONS=${settings.connections} BENCH_RATE=${settings.rate} ` +
      `BENCH_FRESH_SECONDS=${settings.freshSeconds} BENCH_MARKER_MS=${settings.markerMs} ` +
      `BENCH_REST_COUNT=${settings.restCount} BENCH_REST_GAP_MS=${settings.restGapMs} ` +
      `BENCH_SEED_EVENTS=${settings.seedEvents} BENCH_SEED_SESSIONS=${settings.seedSessions} ` +
      `BENCH_SEED_DAYS=${settings.seedDays} BENCH_SEED_RAW=${settings.seedRaw ? 1 : 0}`,
    `- load mix: ${mix.zoomOpen} Zoom sessions open at once, ${mix.mluviiOpen} mluvii chats, ` +
      `${mix.apizeeOpen} Apizee tickets; every delivery signed as its provider signs it`,
    `- sections: ${[...settings.sections].join(', ')}` +
      (settings.kafka ? `; Kafka ${settings.kafka.brokers}` : '; Kafka not configured'),
    '',
    ...headline(r, settings),
    '',
    ...kafkaTable(r),
    ...baselines(r, settings),
    ...breakdownTable(r, settings),
  ];
  if (r.errors.length > 0) lines.push('### Errors', '', ...r.errors.map((e) => `- ${e.split('\n')[0]}`), '');
  return lines.join('\n');
}
