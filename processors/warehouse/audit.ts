/**
 * The audit (`sessionflow audit`): the counts that prove nothing was silently dropped (DESIGN section 8).
 * Every archived delivery (a raw_webhooks row) is accounted for in exactly one way, checked in
 * this order:
 *   with_events    its ingest_id is on a stored canonical event (session_events keeps the first
 *                  delivery that produced an event);
 *   dead_lettered  it has a normalize or decode dead letter;
 *   duplicates     a redelivery that produced nothing new: another delivery of the provider with
 *                  the same dedup_key is accounted for, or (re-normalized with the current
 *                  adapters) every event it yields is already stored under another delivery;
 *   no_events      the adapter reads it and yields no event and no failure (Zoom's
 *                  endpoint.url_validation, which the ingest answers and never archives; a
 *                  Jifeline websocket frame without its ticket, whose event the poll brings);
 *   unexplained    none of these: must be 0.
 * Deliveries that left the archive are counted apart, from the erasure record: `erased` (removed by
 * sessionflow erase), `expired` (bodies past RAW_RETENTION_DAYS) and `refused_erased` (a later
 * redelivery of something erased, dropped on arrival).
 * Reads the Parquet dataset and the raw archive of DATA_DIR/restricted through openDataset, so it works while `sessionflow run` holds
 * warehouse.duckdb. Only the deliveries the first four SQL checks leave over are normalized again.
 */
import { RAW_WEBHOOK_FIELDS } from '../../lib/canonical.js';
import { sqlString, type ResultRow } from '../../lib/duckdb.js';
import * as field from '../../lib/record.js';
import { normalizeRaw, type NormalizeOptions } from '../normalize.js';
import type { Dataset } from './query.js';

export const AUDIT_COLUMNS = [
  'provider',
  'archived',
  'with_events',
  'dead_lettered',
  'duplicates',
  'no_events',
  'unexplained',
  'events',
  'provider_other',
  'dead_letter_rows',
  'erased',
  'expired',
  'refused_erased',
] as const;

type Counted = Exclude<(typeof AUDIT_COLUMNS)[number], 'provider'>;
export type AuditRow = { provider: string } & Record<Counted, number>;
const COUNTED = AUDIT_COLUMNS.filter((column): column is Counted => column !== 'provider');

function noCounts(provider: string): AuditRow {
  return {
    provider,
    archived: 0,
    with_events: 0,
    dead_lettered: 0,
    duplicates: 0,
    no_events: 0,
    unexplained: 0,
    events: 0,
    provider_other: 0,
    dead_letter_rows: 0,
    erased: 0,
    expired: 0,
    refused_erased: 0,
  };
}

export interface AuditResult {
  /** One row per provider (by name), then `total`. */
  rows: AuditRow[];
  /** The unexplained deliveries' ingest_ids (what to look at: SELECT * FROM raw_webhooks WHERE ingest_id = ...). */
  unexplained: string[];
}

/** Each archived delivery with what SQL alone can say of it; class NULL: left for re-normalizing. */
const CLASSIFIED = `
WITH ev AS (SELECT DISTINCT ingest_id FROM session_events),
dl AS (SELECT DISTINCT ingest_id FROM dead_letters WHERE stage IN ('normalize', 'decode')),
direct AS (
  SELECT r.ingest_id, r.provider, r.dedup_key,
         CASE WHEN r.ingest_id IN (SELECT ingest_id FROM ev) THEN 'with_events'
              WHEN r.ingest_id IN (SELECT ingest_id FROM dl) THEN 'dead_lettered' END AS class
  FROM raw_webhooks r
)
SELECT d.ingest_id, d.provider,
       coalesce(d.class, CASE WHEN d.dedup_key IS NOT NULL AND EXISTS (
         SELECT 1 FROM direct s
         WHERE s.provider = d.provider AND s.dedup_key = d.dedup_key AND s.ingest_id <> d.ingest_id AND s.class IS NOT NULL
       ) THEN 'duplicates' END) AS class
FROM direct d`;

const COUNTS = `
WITH classified AS (${CLASSIFIED}),
raw AS (SELECT provider, count(*) AS archived,
               count(*) FILTER (WHERE class = 'with_events') AS with_events,
               count(*) FILTER (WHERE class = 'dead_lettered') AS dead_lettered,
               count(*) FILTER (WHERE class = 'duplicates') AS duplicates
        FROM classified GROUP BY provider),
events AS (SELECT provider, count(*) AS events, count(*) FILTER (WHERE type = 'provider.other') AS provider_other
           FROM session_events GROUP BY provider),
dead AS (SELECT provider, count(*) AS dead_letter_rows FROM dead_letters GROUP BY provider),
gone AS (SELECT provider, sum(deliveries) FILTER (WHERE reason = 'erase') AS erased,
                sum(deliveries) FILTER (WHERE reason = 'retention') AS expired,
                sum(deliveries) FILTER (WHERE reason = 'redelivery') AS refused_erased
         FROM erasures WHERE provider <> 'none' GROUP BY provider),
providers AS (SELECT provider FROM raw UNION SELECT provider FROM events UNION SELECT provider FROM dead UNION SELECT provider FROM gone)
SELECT p.provider, coalesce(archived, 0) AS archived, coalesce(with_events, 0) AS with_events,
       coalesce(dead_lettered, 0) AS dead_lettered, coalesce(duplicates, 0) AS duplicates,
       coalesce(events, 0) AS events, coalesce(provider_other, 0) AS provider_other,
       coalesce(dead_letter_rows, 0) AS dead_letter_rows,
       coalesce(erased, 0) AS erased, coalesce(expired, 0) AS expired, coalesce(refused_erased, 0) AS refused_erased
FROM providers p
  LEFT JOIN raw USING (provider) LEFT JOIN events USING (provider) LEFT JOIN dead USING (provider) LEFT JOIN gone USING (provider)
ORDER BY p.provider`;

const LEFT_OVER = `
WITH classified AS (${CLASSIFIED})
SELECT r.*
FROM raw_webhooks r JOIN classified c USING (ingest_id)
WHERE c.class IS NULL
ORDER BY r.received_at, r.ingest_id`;

/**
 * The audit over an open dataset. `piiKey` is asked for only when some delivery needs normalizing
 * again; `options` are the pipeline's, so the events made again are the ones it made.
 */
export async function auditDataset(
  dataset: Dataset,
  piiKey: () => string,
  options: NormalizeOptions = {},
): Promise<AuditResult> {
  const rows = new Map<string, AuditRow>();
  for (const row of await dataset.read(COUNTS, countsOf)) rows.set(row.provider, row);

  const unexplained: string[] = [];
  const leftOver = await dataset.read(LEFT_OVER, (row) => row.record(RAW_WEBHOOK_FIELDS));
  if (leftOver.length > 0) {
    const key = piiKey();
    const results = leftOver.map((raw) => ({ raw, result: normalizeRaw(raw, key, options) }));
    const ids = [...new Set(results.flatMap(({ result }) => result.events.map((e) => e.event_id)))];
    const stored = new Set<string>();
    for (let i = 0; i < ids.length; i += 1000) {
      const chunk = ids.slice(i, i + 1000);
      const found = await dataset.read(
        `SELECT DISTINCT event_id FROM session_events WHERE event_id IN (${chunk.map(sqlString).join(', ')})`,
        (row) => row.get('event_id', field.string),
      );
      for (const id of found) stored.add(id);
    }
    for (const { raw, result } of results) {
      const row = rows.get(raw.provider)!;
      if (result.events.length === 0 && result.failures.length === 0) row.no_events += 1;
      else if (result.failures.length === 0 && result.events.every((e) => stored.has(e.event_id))) row.duplicates += 1;
      else {
        row.unexplained += 1;
        unexplained.push(raw.ingest_id);
      }
    }
  }

  const list = [...rows.values()];
  const total = noCounts('total');
  for (const row of list) for (const column of COUNTED) total[column] += row[column];
  return { rows: [...list, total], unexplained };
}

/** A row of COUNTS: the counts SQL gives (no_events and unexplained come from normalizing again). */
function countsOf(row: ResultRow): AuditRow {
  const counts = noCounts(row.get('provider', field.string));
  for (const column of COUNTED)
    if (column !== 'no_events' && column !== 'unexplained') counts[column] = row.get(column, field.long);
  return counts;
}

/** The one-line verdict, and the exit code: 0 when every archived delivery is accounted for. */
export function auditVerdict(result: AuditResult): { line: string; code: 0 | 1 } {
  const total = result.rows.at(-1)!;
  if (total.unexplained === 0) {
    return {
      line:
        `audit: OK, all ${total.archived} archived deliveries accounted for: ${total.with_events} with events, ` +
        `${total.dead_lettered} dead-lettered, ${total.duplicates} duplicates, ${total.no_events} without events` +
        (total.erased + total.expired + total.refused_erased > 0
          ? `; apart: ${total.erased} erased, ${total.expired} expired, ${total.refused_erased} redeliveries of erased data refused`
          : ''),
      code: 0,
    };
  }
  const where = result.rows
    .filter((r) => r.provider !== 'total' && r.unexplained > 0)
    .map((r) => `${r.provider} ${r.unexplained}`)
    .join(', ');
  const shown = result.unexplained.slice(0, 5).join(', ') + (result.unexplained.length > 5 ? ', …' : '');
  return {
    line: `audit: FAILED, ${total.unexplained} of ${total.archived} archived deliveries unexplained (${where}): ingest_id ${shown}`,
    code: 1,
  };
}
