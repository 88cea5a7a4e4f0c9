/**
 * `sessionflow audit` on a warehouse the real writer made from real bodies (through the real
 * adapters): normal deliveries, redeliveries (same dedup key; and one without a dedup key whose
 * events collapse by event_id), a dead letter, an archived Zoom URL validation (no event, no
 * failure), then one raw row with nothing at all, which must show as unexplained. Apart: Jifeline
 * websocket frames without their ticket, before and after the poll brings the same events.
 * The audit reads the Parquet dataset (openDataset), never warehouse.duckdb.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditDataset, auditVerdict, type AuditResult } from '../../processors/warehouse/audit.js';
import { formatRows } from '../../lib/table-format.js';
import type { DeadLetter, RawWebhook, SessionEvent } from '../../lib/canonical.js';
import { createLogger } from '../../lib/logger.js';
import { mluviiDedupKey } from '../../ingest/providers/mluvii.js';
import { zoomDedupKey } from '../../ingest/providers/zoom.js';
import { deadLetterOf } from '../../processors/dead-letters.js';
import { normalizeRaw } from '../../processors/normalize.js';
import { createWarehouse, openDataset } from '../../processors/warehouse/writer.js';
import { tempDir } from '../helpers/tmp.js';
import { HOUR, PII_KEY, ZOOM_CALL, at, batch, zoomBody, zoomRaw } from './warehouse-support.js';

const dir = tempDir('sessionflow-audit-');
afterAll(() => dir.remove());

const T0 = at('2026-03-02T10:00:00Z');
let n = 0;

/** A delivery as the ingest archives it, with what normalize makes of it. */
function delivery(raw: RawWebhook): { raw: RawWebhook; events: SessionEvent[]; deadLetters: DeadLetter[] } {
  const result = normalizeRaw(raw, PII_KEY);
  return { raw, events: result.events, deadLetters: result.failures.map((f) => deadLetterOf(raw, f)) };
}

function zoom(body: Buffer, dedup = true): RawWebhook {
  const raw = zoomRaw(`01AUDIT${String(++n).padStart(19, '0')}`, body, T0 + n * 1_000_000);
  return {
    ...raw,
    dedup_key: dedup ? zoomDedupKey(JSON.parse(body.toString()) as Parameters<typeof zoomDedupKey>[0]) : null,
  };
}

function mluvii(fixture: string): RawWebhook {
  const body = readFileSync(fileURLToPath(new URL(`../fixtures/mluvii/${fixture}.json`, import.meta.url)));
  return {
    ingest_id: `01AUDITM${String(++n).padStart(18, '0')}`,
    provider: 'mluvii',
    received_at: T0 + n * 1_000_000,
    source: 'webhook',
    dedup_key: mluviiDedupKey(JSON.parse(body.toString()), body),
    headers: { 'content-type': 'application/json' },
    content_type: 'application/json',
    body,
  };
}

async function store(deliveries: ReturnType<typeof delivery>[]): Promise<void> {
  const warehouse = await createWarehouse({
    dataDir: dir.path,
    logger: createLogger('silent'),
    idleHorizonMicros: 24 * HOUR,
    clock: () => T0 + HOUR,
  });
  try {
    await warehouse.applyBatch(
      batch({
        raw: deliveries.map((d) => d.raw),
        events: deliveries.flatMap((d) => d.events),
        deadLetters: deliveries.flatMap((d) => d.deadLetters),
      }),
    );
    await warehouse.flush();
  } finally {
    await warehouse.close();
  }
}

async function audit(): Promise<AuditResult> {
  const dataset = await openDataset(dir.path, { restricted: true });
  try {
    return await auditDataset(dataset, () => PII_KEY);
  } finally {
    await dataset.close();
  }
}

const row = (result: AuditResult, provider: string) => result.rows.find((r) => r.provider === provider)!;

describe('sessionflow audit', () => {
  const call = ZOOM_CALL.map((fixture) => zoom(zoomBody(fixture)));
  const mluviiFirst = mluvii('SessionActivityAvRequest');

  beforeAll(async () => {
    // Batch 1: a Zoom call, a mluvii event, a body that is not JSON, and an archived URL validation.
    await store([
      ...call.map(delivery),
      delivery(mluviiFirst),
      delivery(zoom(Buffer.from('not json at all'), false)),
      delivery(
        zoom(
          Buffer.from(
            JSON.stringify({ event: 'endpoint.url_validation', payload: { plainToken: 'abc' }, event_ts: 1 }),
          ),
          false,
        ),
      ),
    ]);
    // Batch 2: redeliveries. Zoom retries two webhooks (same dedup key), mluvii retries its event,
    // and a copy of session.ended comes without a dedup key (its events collapse by event_id).
    await store([
      delivery(zoom(zoomBody(ZOOM_CALL[0]!))),
      delivery(zoom(zoomBody(ZOOM_CALL[5]!))),
      delivery({
        ...mluviiFirst,
        ingest_id: '01AUDITMREDELIVERED0000000001',
        received_at: mluviiFirst.received_at + 60_000_000,
      }),
      delivery(zoom(zoomBody(ZOOM_CALL[5]!), false)),
    ]);
  });

  it('accounts for every archived delivery, per provider and in total, and says OK', async () => {
    const result = await audit();
    const events = ZOOM_CALL.map((f) => normalizeRaw(zoom(zoomBody(f)), PII_KEY).events.length).reduce(
      (a, b) => a + b,
      0,
    );
    expect(row(result, 'zoom')).toEqual({
      provider: 'zoom',
      archived: 6 + 2 + 3,
      with_events: 6,
      dead_lettered: 1,
      duplicates: 3,
      no_events: 1,
      unexplained: 0,
      events,
      provider_other: 0,
      dead_letter_rows: 1,
      erased: 0,
      expired: 0,
      refused_erased: 0,
    });
    const m = row(result, 'mluvii');
    expect(m).toMatchObject({
      archived: 2,
      with_events: 1,
      dead_lettered: 0,
      duplicates: 1,
      no_events: 0,
      unexplained: 0,
      dead_letter_rows: 0,
    });
    expect(m.events).toBe(normalizeRaw(mluviiFirst, PII_KEY).events.length);
    expect(row(result, 'total')).toMatchObject({
      archived: 13,
      with_events: 7,
      dead_lettered: 1,
      duplicates: 4,
      no_events: 1,
      unexplained: 0,
    });
    for (const r of result.rows)
      expect(r.with_events + r.dead_lettered + r.duplicates + r.no_events + r.unexplained).toBe(r.archived);
    expect(result.unexplained).toEqual([]);
    const verdict = auditVerdict(result);
    expect(verdict.code).toBe(0);
    expect(verdict.line).toBe(
      'audit: OK, all 13 archived deliveries accounted for: 7 with events, 1 dead-lettered, 4 duplicates, 1 without events',
    );
  });

  it('shows a raw row with no event, no dead letter and no sibling as unexplained, and fails', async () => {
    // Archived, but its events never reached session_events (what a lost event looks like).
    const orphan = zoom(zoomBody('session.user_left', 'Orphan0000000000000000=='));
    await store([{ raw: orphan, events: [], deadLetters: [] }]);
    const result = await audit();
    expect(row(result, 'zoom')).toMatchObject({ archived: 12, unexplained: 1, with_events: 6, duplicates: 3 });
    expect(row(result, 'mluvii').unexplained).toBe(0);
    expect(row(result, 'total')).toMatchObject({ archived: 14, unexplained: 1 });
    expect(result.unexplained).toEqual([orphan.ingest_id]);
    const verdict = auditVerdict(result);
    expect(verdict.code).toBe(1);
    expect(verdict.line).toBe(
      `audit: FAILED, 1 of 14 archived deliveries unexplained (zoom 1): ingest_id ${orphan.ingest_id}`,
    );
    const table = formatRows(
      ['provider', 'unexplained'],
      result.rows.map((r) => [r.provider, r.unexplained]),
      'csv',
    );
    expect(table).toBe('provider,unexplained\nmluvii,0\nzoom,1\ntotal,1\n');
  });
});

describe('sessionflow audit: Jifeline websocket frames without their ticket', () => {
  const frames = tempDir('sessionflow-audit-jifeline-');
  afterAll(() => frames.remove());
  const fixture = (name: string) =>
    readFileSync(fileURLToPath(new URL(`../fixtures/jifeline/${name}.json`, import.meta.url)));
  let k = 0;
  /** A delivery as the Jifeline puller archives it: websocket frame or poll, keyed by the event's ULID. */
  function jifeline(body: Buffer): RawWebhook {
    const sent = JSON.parse(body.toString()) as { id?: string; event_id?: string };
    return {
      ingest_id: `01AUDITJ${String(++k).padStart(18, '0')}`,
      provider: 'jifeline',
      received_at: T0 + k * 1_000_000,
      source: 'poll',
      dedup_key: sent.id ?? sent.event_id ?? null,
      headers: { 'content-type': 'application/json' },
      content_type: 'application/json',
      body,
    };
  }

  async function storeIn(deliveries: ReturnType<typeof delivery>[]): Promise<AuditResult> {
    const warehouse = await createWarehouse({
      dataDir: frames.path,
      logger: createLogger('silent'),
      idleHorizonMicros: 24 * HOUR,
      clock: () => T0 + HOUR,
    });
    try {
      await warehouse.applyBatch(
        batch({
          raw: deliveries.map((d) => d.raw),
          events: deliveries.flatMap((d) => d.events),
          deadLetters: deliveries.flatMap((d) => d.deadLetters),
        }),
      );
      await warehouse.flush();
    } finally {
      await warehouse.close();
    }
    const dataset = await openDataset(frames.path, { restricted: true });
    try {
      return await auditDataset(dataset, () => PII_KEY);
    } finally {
      await dataset.close();
    }
  }

  it('counts a frame shaped as the reference shows it as no_events (no dead letter), then as a duplicate once the poll stores its event', async () => {
    // The reference's frame (message: {}) and one that carries the customer but not the ticket.
    const bare = Buffer.from(
      JSON.stringify({
        action: 'event-received',
        event_id: '01HWTCTT509VV8X9XYGPTR5N8Q',
        event_type: 'tickets.ticket.created',
        message: {},
      }),
    );
    const early = [delivery(jifeline(bare)), delivery(jifeline(fixture('websocket-without-ticket')))];
    expect(early.flatMap((d) => [...d.events, ...d.deadLetters])).toEqual([]);
    const before = await storeIn(early);
    expect(row(before, 'jifeline')).toMatchObject({
      archived: 2,
      with_events: 0,
      dead_lettered: 0,
      duplicates: 0,
      no_events: 2,
      unexplained: 0,
      events: 0,
      dead_letter_rows: 0,
    });
    expect(auditVerdict(before).code).toBe(0);

    // The poll brings the closed ticket's event (same ULID): the frame is now its redelivery.
    const after = await storeIn([delivery(jifeline(fixture('tickets.ticket.closed')))]);
    expect(row(after, 'jifeline')).toMatchObject({
      archived: 3,
      with_events: 1,
      dead_lettered: 0,
      duplicates: 1,
      no_events: 1,
      unexplained: 0,
      dead_letter_rows: 0,
    });
    expect(auditVerdict(after).code).toBe(0);
  });
});
