/**
 * The identity of a mluvii event whose body states no time and carries no activityId:
 * UserStatusChanged, SessionCallParamsUpdated, EmailThreadParamsUpdated, GuestIdentityUpdated,
 * ApplicationSettingChanged (and SessionCreated, SessionRecordingPostProcessingCompleted).
 *
 * A redelivery must collapse onto its event and a genuine repeat must not, and the body cannot
 * say which it is. mluvii's retry is "the same payload again" (webhooks FAQ, up to twice), with
 * no delivery id, attempt counter or header of its own. A repeat is the same payload too: an
 * operator going AWAY → ONLINE → AWAY sends
 *   {"eventType":"UserStatusChanged","data":{"userId":2710,"status":"AWAY","availabilityStatus":"AWAY",...}}
 * twice, and every parameter change of a session sends {"id":7383872,"tenantId":62} again. The
 * hash of the content was the identity, so each repeat collapsed onto the first (the operator's
 * last status read ONLINE).
 *
 * What tells them apart is the order mluvii sends an entity's events in, and only the ingest
 * sees that: it gives a retry the dedup key of the delivery it repeats and a repeat a key of its
 * own (ingest/providers/mluvii-redeliveries.ts). The key is archived with the delivery, so:
 *   - a body mluvii sends once per entity (`once` in table.ts: a session is created once) is
 *     identified by its content: every delivery of it is the same event;
 *   - any other is identified by its content and that key: a retry gets its original's event_id,
 *     a repeat an event_id of its own, and a replay of the archive the same ids again;
 *   - a delivery whose key says nothing of the order (none: it did not come through the ingest;
 *     or the content's own key, as the ingest made keys before) keeps the content's identity.
 * The content's own key is lib/mluvii-keys.ts mluviiContentKey, the one the ingest makes.
 */
import type { RawWebhook } from '../../../lib/canonical.js';
import { contentKey } from '../../../lib/ids.js';
import { isRecord } from '../../../lib/json-values.js';
import { mluviiContentKey } from '../../../lib/mluvii-keys.js';

/** JSON with sorted keys: the same data gives the same text however the sender ordered it. */
function stableJson(value: unknown): string {
  if (!isRecord(value))
    return Array.isArray(value) ? `[${value.map(stableJson).join(',')}]` : (JSON.stringify(value) ?? 'null');
  return `{${Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson(value[k])}`)
    .join(',')}}`;
}

/** What tells the event of a timeless body from others (eventId's discriminator); see above. */
export function timelessIdentity(raw: RawWebhook, type: string, data: Record<string, unknown>, once: boolean): string {
  const content = contentKey(stableJson(data));
  const ordered = raw.dedup_key !== null && raw.dedup_key !== mluviiContentKey(type, data, raw.body);
  return once || !ordered ? content : contentKey(content, raw.dedup_key);
}
