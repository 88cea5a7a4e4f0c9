/**
 * Warehouse.erase (processors/warehouse/erase.ts) on the real DuckDB file and Parquet dataset: by
 * session, by participant, by e-mail in the raw bodies; a dry run; and what keeps the erased out
 * afterwards. The end-to-end test over HTTP, with the byte search, is test/e2e/erase.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RawWebhook, SessionEvent } from '../../lib/canonical.js';
import { normalizeSubjects, type ErasureSubjects } from '../../lib/erasure.js';
import { createLogger } from '../../lib/logger.js';
import { normalizeRaw } from '../../processors/normalize.js';
import { createWarehouse, type ErasureOrder, type Warehouse } from '../../processors/warehouse/writer.js';
import { PII_KEY, at, batch, datasetRows, event, meeting, tableRows, zoomBody, zoomRaw } from './warehouse-support.js';

const NOW = at('2026-03-02T12:00:00Z');
const none: ErasureSubjects = { emails: [], phones: [], participants: [], sessions: [] };
let seq = 0;
const order = (subjects: Partial<ErasureSubjects>, dryRun = false): ErasureOrder => ({
  requestId: `req-${++seq}`,
  requestedAt: NOW,
  dryRun,
  subjects: normalizeSubjects({ ...none, ...subjects }),
  subjectHashes: ['email:0123'],
  offsets: [{ topic: 'sessionflow.erasures.v1', partition: 0, next_offset: seq }],
});

describe('Warehouse.erase', () => {
  let dir = '';
  let warehouse: Warehouse;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sessionflow-erase-'));
    warehouse = await createWarehouse({
      dataDir: dir,
      logger: createLogger('silent'),
      clock: () => NOW,
      piiKey: PII_KEY,
    });
  });
  afterEach(async () => {
    await warehouse.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  const reopen = async () => {
    await warehouse.close();
    warehouse = await createWarehouse({
      dataDir: dir,
      logger: createLogger('silent'),
      clock: () => NOW,
      piiKey: PII_KEY,
    });
  };
  const facts = async () =>
    (await datasetRows(dir, 'select session_key, participants, events from session_facts order by session_key')).map(
      (r) => ({ ...r }),
    );

  it('--session removes the session, its spans and events from the tables and the dataset; the others stay; a later event of it is dropped and counted', async () => {
    await warehouse.applyBatch(
      batch({ events: [...meeting('zoom:s1', '2026-03-01'), ...meeting('zoom:s2', '2026-03-01')] }),
    );
    await warehouse.flush();
    await warehouse.close();
    const s2Before = await tableRows(dir, 'session_facts', 'session_key');
    await reopen();

    const result = await warehouse.erase(order({ sessions: ['zoom:s1'] }));
    expect(result).toMatchObject({ events: 6, sessions_removed: 1, sessions_refolded: 0, providers: ['zoom'] });
    expect(await facts()).toEqual([{ session_key: 'zoom:s2', participants: 2, events: 6 }]);
    expect(await datasetRows(dir, `select count(*) as n from session_events where session_key = 'zoom:s1'`)).toEqual([
      { n: 0 },
    ]);
    expect(
      await datasetRows(dir, `select count(*) as n from participant_sessions where session_key = 'zoom:s1'`),
    ).toEqual([{ n: 0 }]);

    const later = await warehouse.applyBatch(
      batch({ events: [event('zoom:s1', 'session.updated', '2026-03-01T11:00:00Z')] }),
    );
    expect(later).toMatchObject({ insertedEvents: 0, touchedSessions: [] });
    await warehouse.flush();
    const record = await datasetRows(
      dir,
      `select reason, provider, events, sessions_removed from erasures order by erased_at, reason`,
      { restricted: true },
    );
    expect(record).toEqual([
      { reason: 'erase', provider: 'zoom', events: 6, sessions_removed: 1 },
      { reason: 'redelivery', provider: 'zoom', events: 1, sessions_removed: 0 },
    ]);
    await warehouse.close();
    expect((await tableRows(dir, 'session_facts', 'session_key')).filter((r) => r.includes('zoom:s2'))).toEqual(
      s2Before.filter((r) => r.includes('zoom:s2')),
    );
  });

  it('--participant removes them from every session and folds those again; the next batch folds without them too', async () => {
    const guest = { key: 'guest-jana', role: 'guest' as const };
    const events: SessionEvent[] = [
      ...meeting('zoom:s1', '2026-03-01'),
      event('zoom:s1', 'participant.joined', '2026-03-01T10:02:00Z', guest),
      ...meeting('zoom:s2', '2026-03-01'),
      event('zoom:s2', 'participant.joined', '2026-03-01T10:03:00Z', guest),
    ];
    await warehouse.applyBatch(batch({ events }));
    expect(await warehouse.erase(order({ participants: ['guest-jana'] }))).toMatchObject({
      events: 2,
      sessions_refolded: 2,
      sessions_removed: 0,
    });
    expect(await facts()).toEqual([
      { session_key: 'zoom:s1', participants: 2, events: 6 },
      { session_key: 'zoom:s2', participants: 2, events: 6 },
    ]);
    // The writer keeps recent sessions' events in memory: the erased ones must not come back from there.
    await warehouse.applyBatch(batch({ events: [event('zoom:s1', 'session.updated', '2026-03-01T10:40:00Z')] }));
    await warehouse.flush();
    expect(await facts()).toEqual([
      { session_key: 'zoom:s1', participants: 2, events: 7 },
      { session_key: 'zoom:s2', participants: 2, events: 6 },
    ]);
    expect(
      await datasetRows(dir, `select count(*) as n from session_events where participant_key = 'guest-jana'`),
    ).toEqual([{ n: 0 }]);
    // A redelivered event of theirs stays out.
    expect(
      await warehouse.applyBatch(
        batch({ events: [event('zoom:s2', 'participant.left', '2026-03-01T10:20:00Z', guest)] }),
      ),
    ).toMatchObject({ insertedEvents: 0 });
  });

  it('--email removes every delivery whose body names it and the participant it is; a dry run counts the same and changes nothing; the same body again is refused', async () => {
    const email = 'jana.novak@example.eu';
    const named = (fixture: string) => {
      const body = JSON.parse(zoomBody(fixture, 'sess-A').toString()) as {
        payload: { object: { user?: Record<string, unknown> } };
      };
      if (body.payload.object.user) body.payload.object.user.user_key = email;
      return Buffer.from(JSON.stringify(body));
    };
    const raws: RawWebhook[] = [
      zoomRaw('ing-1', zoomBody('session.started', 'sess-A'), NOW),
      zoomRaw('ing-2', named('session.user_joined'), NOW),
      zoomRaw('ing-3', named('session.user_left'), NOW),
      zoomRaw('ing-4', zoomBody('session.started', 'sess-B'), NOW),
    ];
    const normalized = raws.map((raw) => normalizeRaw(raw, PII_KEY));
    await warehouse.applyBatch(batch({ raw: raws, events: normalized.flatMap((n) => n.events) }));
    await warehouse.flush();
    const before = await facts();

    const dry = await warehouse.erase(order({ emails: ['Jana.Novak@example.eu'] }, true));
    expect(dry).toMatchObject({ dry_run: true, deliveries: 2, events: 2, sessions_refolded: 1 });
    expect(await facts()).toEqual(before);
    expect(await datasetRows(dir, 'select count(*) as n from raw_webhooks', { restricted: true })).toEqual([{ n: 4 }]);

    const done = await warehouse.erase(order({ emails: ['Jana.Novak@example.eu'] }));
    expect({ ...done, request_id: undefined }).toEqual({ ...dry, dry_run: false, request_id: undefined });
    expect(
      (await datasetRows(dir, 'select ingest_id from raw_webhooks order by ingest_id', { restricted: true })).map(
        (r) => r.ingest_id,
      ),
    ).toEqual(['ing-1', 'ing-4']);
    expect(await datasetRows(dir, `select count(*) as n from session_events where type like 'participant.%'`)).toEqual([
      { n: 0 },
    ]);

    // The provider retries the join: same body, a new delivery.
    const again = await warehouse.applyBatch(
      batch({
        raw: [zoomRaw('ing-5', named('session.user_joined'), NOW)],
        events: normalizeRaw(zoomRaw('ing-5', named('session.user_joined'), NOW), PII_KEY).events,
      }),
    );
    expect(again).toMatchObject({ insertedEvents: 0, refusedDeliveries: ['ing-5'] });
    await warehouse.flush();
    expect(await datasetRows(dir, 'select count(*) as n from raw_webhooks', { restricted: true })).toEqual([{ n: 2 }]);
  });
});
