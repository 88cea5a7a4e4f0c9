/**
 * What a mluvii body `{eventType, data}` says of its own identity, read the same way by the
 * ingest (a delivery's dedup key and message key, ingest/providers/mluvii.ts) and by the adapter
 * (its events' session_key, and the event_id of a body with no time,
 * processors/adapters/mluvii/identity.ts).
 *
 * It lives in lib/, below both, because each side depends on the other's reading: the message
 * key must be the session key the adapter gives the events, and the adapter reads back the
 * dedup key the ingest archived with a delivery, to tell the content's own key (which says
 * nothing of the order of deliveries) from a key the ingest gave after seeing that order. Were
 * either side to compute these on its own, a change to one would silently split sessions or
 * merge events.
 */
import { createHash } from 'node:crypto';
import { contentKey } from './ids.js';
import { scalar } from './json-values.js';

/** mluvii's ids are JSON integers (`"sessionId": 7375793`): as text, or null for anything else. */
export function mluviiId(value: unknown): string | null {
  return typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : null;
}

/** eventType + id + userId, and the time or the hash of the bytes: the key of a body with no activityId. */
function typeKey(type: string, data: Record<string, unknown>, time: string | null, bodyHash: string | null): string {
  return contentKey(
    'mluvii',
    type,
    scalar(data.id ?? data.sessionId),
    scalar(data.userId ?? data.operatorId),
    time,
    bodyHash,
  );
}

/**
 * The dedup key of a body with no activityId and no time from its content alone: eventType + id
 * + userId + the hash of its bytes (two setting changes of one tenant differ only there). Every
 * delivery of the same bytes shares it, retry or repeat.
 */
export function mluviiContentKey(type: string, data: Record<string, unknown>, bytes: Buffer): string {
  return typeKey(type, data, null, createHash('sha256').update(bytes).digest('hex'));
}

/**
 * The key of a body's content (DESIGN section 4): its activityId where there is one, else
 * eventType + id + userId + time. A body that states neither (SessionCallParamsUpdated,
 * UserStatusChanged, ApplicationSettingChanged, ...) is keyed by its bytes and is `timeless`: the
 * same bytes may be a retry or a genuine repeat, which only the order of deliveries tells
 * (ingest/providers/mluvii-redeliveries.ts).
 */
export function mluviiPayloadKey(
  type: string,
  data: Record<string, unknown>,
  bytes: Buffer,
): { payload: string; timeless: boolean } {
  const activityId = scalar(data.activityId);
  if (activityId !== null) return { payload: contentKey('mluvii', 'activity', activityId), timeless: false };
  const time = scalar(data.time ?? data.started ?? data.ended ?? data.created);
  if (time === null) return { payload: mluviiContentKey(type, data, bytes), timeless: true };
  return { payload: typeKey(type, data, time, null), timeless: false };
}

/**
 * The session of a body, read from its usual fields whatever its type: activities name it in
 * data.sessionId (`mluvii:<sessionId>`); the session events (SessionCallParamsUpdated and
 * SessionRecordingPostProcessingCompleted among them) in data.id (`mluvii:<id>`), e-mail threads
 * in data.id too (`mluvii:email:<id>`). Operator status, settings and contacts
 * (GuestIdentityUpdated's id is a contact) have none: null.
 */
export function mluviiSession(
  type: string,
  data: Record<string, unknown>,
): { key: string; id: string; email: boolean } | null {
  const sessionId = mluviiId(data.sessionId);
  if (sessionId !== null) return { key: `mluvii:${sessionId}`, id: sessionId, email: false };
  const own = mluviiId(data.id);
  if (own === null) return null;
  if (type.startsWith('EmailThread')) return { key: `mluvii:email:${own}`, id: own, email: true };
  return type.startsWith('Session') ? { key: `mluvii:${own}`, id: own, email: false } : null;
}
