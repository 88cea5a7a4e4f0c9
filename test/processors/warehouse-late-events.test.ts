import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RawWebhook, SessionFact } from '../../lib/canonical.js';
import { createLogger } from '../../lib/logger.js';
import { normalizeRaw } from '../../processors/normalize.js';
import { createWarehouse, type Warehouse } from '../../processors/warehouse/writer.js';
import {
  HOUR,
  PII_KEY,
  ZOOM_CALL,
  at,
  batch,
  parquetFiles,
  parquetRows,
  tableRows,
  zoomBody,
  zoomRaw,
} from './warehouse-support.js';

const logger = createLogger('silent');
let dataDir: string;
let w: Warehouse;

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sessionflow-late-'));
  w = await createWarehouse({ dataDir, logger, idleHorizonMicros: 24 * HOUR, clock: () => at('2024-05-03T00:00:00Z') });
});
afterEach(async () => {
  await w.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Normalizes deliveries with the real Zoom adapter and stores them as one batch, like the pipeline. */
async function deliver(raws: RawWebhook[]) {
  const results = raws.map((raw) => normalizeRaw(raw, PII_KEY));
  expect(results.flatMap((r) => r.failures)).toEqual([]);
  const result = await w.applyBatch(batch({ raw: raws, events: results.flatMap((r) => r.events) }));
  await w.flush();
  return result;
}

/** The fields whose values differ between two facts. */
function changed(before: SessionFact, after: SessionFact): string[] {
  return Object.keys(after).filter(
    (k) => JSON.stringify(after[k as keyof SessionFact]) !== JSON.stringify(before[k as keyof SessionFact]),
  );
}

describe('late and redelivered Zoom events at the warehouse', () => {
  it('a recording.completed an hour after session.ended changes only the recording files, the lineage and nothing else', async () => {
    const call = ZOOM_CALL.map((type, i) => zoomRaw(`call-${i}`, zoomBody(type), at('2024-05-02T14:30:00Z') + i * 1e6));
    const first = await deliver(call);
    const before = first.facts[0]!;
    expect(before).toMatchObject({ status: 'ended', recording_files: 0, recording_bytes: 0, events: 6 });
    const spansBefore = await tableRows(dataDir, 'participant_sessions', 'participant_key, joined_at');

    const receivedAt = at('2024-05-02T15:30:00Z'); // an hour after the last of the call's deliveries
    const late = await deliver([zoomRaw('late-recording', zoomBody('session.recording_completed'), receivedAt)]);
    expect(late).toMatchObject({ insertedEvents: 1, touchedSessions: [before.session_key] });
    const after = late.facts[0]!;
    expect(changed(before, after).sort()).toEqual([
      'events',
      'last_event_at',
      'recording_bytes',
      'recording_files',
      'updated_at',
    ]);
    expect(after).toMatchObject({
      recording_files: 5,
      recording_bytes: 76277850,
      events: 7,
      last_event_at: 1714660510604000, // the recording's event_ts: after session.ended
      updated_at: receivedAt,
      status: 'ended',
      ended_at: before.ended_at,
      duration_seconds: before.duration_seconds,
      recording_seconds: before.recording_seconds,
    });
    expect(await tableRows(dataDir, 'participant_sessions', 'participant_key, joined_at')).toEqual(spansBefore);
    const [stored] = await parquetRows(dataDir, 'session_facts').then((files) => Object.values(files));
    expect(stored).toHaveLength(1);
    expect(JSON.parse(stored![0]!)).toMatchObject({ recording_files: 5, recording_bytes: 76277850, events: 7 });
  });

  it('a redelivered old participant.left changes nothing: no row, no fact, no Parquet file', async () => {
    const call = ZOOM_CALL.map((type, i) => zoomRaw(`call-${i}`, zoomBody(type), at('2024-05-02T14:30:00Z') + i * 1e6));
    expect((await deliver(call)).facts[0]!.events).toBe(6);
    const facts = await tableRows(dataDir, 'session_facts', 'session_key');
    const spans = await tableRows(dataDir, 'participant_sessions', 'participant_key, joined_at');
    const files = parquetFiles(dataDir, ['session_facts', 'participant_sessions', 'session_events']);

    // Zoom sends the same leave again, hours later, as a new delivery.
    const again = await deliver([zoomRaw('leave-again', zoomBody('session.user_left'), at('2024-05-02T18:00:00Z'))]);
    expect(again).toMatchObject({ insertedEvents: 0, duplicateEvents: 1, touchedSessions: [], facts: [] });
    expect(await tableRows(dataDir, 'session_facts', 'session_key')).toEqual(facts);
    expect(await tableRows(dataDir, 'participant_sessions', 'participant_key, joined_at')).toEqual(spans);
    expect(parquetFiles(dataDir, ['session_facts', 'participant_sessions', 'session_events'])).toEqual(files);
  });

  it("the host's only evidence, an AI interpreter summary arriving last, makes the user it names the host: agents, guests, wait_seconds and the span's role", async () => {
    const call = ZOOM_CALL.map((type, i) => zoomRaw(`call-${i}`, zoomBody(type), at('2024-05-02T14:30:00Z') + i * 1e6));
    const before = (await deliver(call)).facts[0]!;
    // session.user_joined and user_left say nothing of the host: the one user is a guest.
    expect(before).toMatchObject({ participants: 1, agents: 0, guests: 1, wait_seconds: null });

    // is_host: true for the participant_uuid of the user who joined at 14:00:12 (started 14:00:05).
    const late = await deliver([
      zoomRaw('late-summary', zoomBody('session.ai_interpreter_usage_summary'), at('2024-05-02T15:30:00Z')),
    ]);
    expect(late).toMatchObject({ insertedEvents: 1, touchedSessions: [before.session_key] });
    const after = late.facts[0]!;
    expect(after).toMatchObject({ participants: 1, agents: 1, guests: 0, wait_seconds: 7 });
    const spans = (await tableRows(dataDir, 'participant_sessions', 'joined_at')).map(
      (row) => JSON.parse(row) as { role: string },
    );
    expect(spans.map((s) => s.role)).toEqual(['host']);
  });
});
