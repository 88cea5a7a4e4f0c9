/**
 * One event of `GET /api/v3/tickets/{ticketId}/events`, turned into the body the
 * `conversationevent.create` webhook delivers for it (apizee-session-events.md):
 *
 *   { "event": "create", "time": 1749581447, "object": "conversationevent", "objectId": 1266,
 *     "props": { "eventType": "media.OCRDone", "eventCode": 41, "conversationId": 548, "ticketId": 361,
 *                "text": "text captured by OCR" } }
 *
 * "Each event in the ticket timeline follows a common structure plus event-specific attributes",
 * and the REST API and the webhook expose the same events, but the reference gives the REST answer
 * no schema ("200: Good case", `schema: {}`). So both shapes an item can reasonably take are read:
 * - the webhook's own shape (objectId, time, props), taken as it is;
 * - a flat record, `{ "id": 1266, "eventType": ..., "eventCode": ..., "conversationId": ...,
 *   "created": "2025-06-10T18:50:47+00:00", "text": ... }`, the event-specific attributes beside
 *   the common ones or under `props`: rebuilt into the webhook's shape.
 * Either way the stored body is what the webhook would have sent, so the ingest's dedup key (the
 * objectId) and the adapter's event_id are the same for an event seen both ways, and downstream it
 * is one event. What cannot be read (no id, no time) is still stored, and the adapter makes it a
 * dead letter that names the field: nothing is dropped here.
 */
import { isRecord } from '../../lib/json-values.js';
import { apizeeDedupKey, apizeeSessionKey } from '../providers/apizee.js';

export interface ApizeeDelivery {
  /** The webhook-shaped JSON body stored as the RawWebhook body. */
  body: Buffer;
  /** The webhook receiver's dedup key for it (the objectId); null when the item has no id. */
  dedupKey: string | null;
  /** apizee:<ticketId>. */
  sessionKey: string | null;
}

type Json = Record<string, unknown>;

/** The keys under which a list answer may hold its items (a bare array is read as is). */
const LIST_KEYS = ['data', 'events', 'items', 'results', 'result', 'hydra:member'] as const;

/** The events of one answer, or undefined when the answer holds no list. */
export function eventsOf(body: unknown): unknown[] | undefined {
  if (Array.isArray(body)) return body;
  if (!isRecord(body)) return undefined;
  for (const key of LIST_KEYS) if (Array.isArray(body[key])) return body[key] as unknown[];
  return undefined;
}

/** The total number of events an answer says the ticket has, when it says so. */
export function totalOf(body: unknown, headers: Headers): number | undefined {
  const candidates: unknown[] = [headers.get('x-total-count')];
  if (isRecord(body)) {
    candidates.push(body.total, body.totalCount, body.total_count, body['hydra:totalItems']);
    if (isRecord(body.meta)) candidates.push(body.meta.total);
  }
  for (const value of candidates) {
    const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
    if (typeof n === 'number' && Number.isInteger(n) && n >= 0) return n;
  }
  return undefined;
}

/** The webhook's id fields (`objectId`, `ticketId`) are JSON numbers: a numeric text is sent back as one. */
function idValue(value: unknown): unknown {
  if (typeof value === 'string' && /^\d{1,15}$/.test(value.trim())) return Number(value.trim());
  return value;
}

/**
 * The webhook's `time` is Unix seconds ("time": 1749581447). A REST item may carry it as seconds,
 * milliseconds (1749581447000), a numeric text, or an ISO date ("2025-06-10T18:50:47+00:00"); all
 * become whole seconds. Undefined when none reads.
 */
export function unixSeconds(value: unknown): number | undefined {
  let n: number | undefined;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^\d+(\.\d+)?$/.test(value.trim())) n = Number(value);
  else if (typeof value === 'string') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
  }
  if (n === undefined || !Number.isFinite(n) || n <= 0) return undefined;
  return Math.floor(n > 1e12 ? n / 1000 : n);
}

/** Top-level fields of a flat REST item that are not event-specific attributes. */
const ENVELOPE_FIELDS = new Set([
  'id',
  'objectId',
  'object',
  'event',
  'time',
  'created',
  'createdAt',
  'created_at',
  'date',
  'timestamp',
  'props',
]);
const TIME_FIELDS = ['time', 'created', 'createdAt', 'created_at', 'date', 'timestamp'] as const;
const COMMON_PROPS = ['eventType', 'eventCode', 'conversationId', 'ticketId'] as const;

/**
 * An item already in the webhook's shape (`objectId` and `props`) is kept as it is, its time read
 * as Unix seconds and its ticket filled in from the path when absent.
 */
function fromWebhookShape(record: Json, props: Json, ticketId: string): Json {
  const time = unixSeconds(record.time);
  const { time: _time, ...rest } = record;
  return {
    ...rest,
    ...(time === undefined ? {} : { time }),
    objectId: idValue(record.objectId),
    props: { ...props, ticketId: idValue(props.ticketId ?? ticketId) },
  };
}

/** A flat item: common and event-specific attributes go under props, the rest is the envelope. */
function fromFlatShape(record: Json, ticketId: string): Json {
  const nested = isRecord(record.props) ? record.props : {};
  const flat: Json = {};
  for (const [key, value] of Object.entries(record)) if (!ENVELOPE_FIELDS.has(key)) flat[key] = value;
  const merged: Json = { ...flat, ...nested };

  const props: Json = {};
  for (const key of COMMON_PROPS) if (merged[key] !== undefined) props[key] = merged[key];
  props.ticketId = idValue(props.ticketId ?? ticketId);
  if (typeof props.eventCode === 'string' && /^\d+$/.test(props.eventCode)) props.eventCode = Number(props.eventCode);
  if (props.conversationId !== undefined) props.conversationId = idValue(props.conversationId);
  for (const [key, value] of Object.entries(merged)) if (!(key in props)) props[key] = value;

  const time = TIME_FIELDS.map((key) => unixSeconds(record[key])).find((t) => t !== undefined);
  const objectId = idValue(record.objectId ?? record.id);
  return {
    event: 'create',
    ...(time === undefined ? {} : { time }),
    object: 'conversationevent',
    ...(objectId === undefined || objectId === null ? {} : { objectId }),
    props,
  };
}

/** The webhook body for one REST item of ticket `ticketId`. */
export function webhookBody(item: unknown, ticketId: string): Json {
  const record = isRecord(item) ? item : {};
  if (record.objectId !== undefined && isRecord(record.props)) return fromWebhookShape(record, record.props, ticketId);
  return fromFlatShape(record, ticketId);
}

/** One REST item as the webhook would have delivered it, with the receiver's own keys. */
export function restDelivery(item: unknown, ticketId: string): ApizeeDelivery {
  const body = webhookBody(item, ticketId);
  return {
    body: Buffer.from(JSON.stringify(body)),
    dedupKey: apizeeDedupKey(body),
    sessionKey: apizeeSessionKey(body),
  };
}

/** An item's own id as text, to tell pages apart; null when it has none. */
export function itemId(item: unknown): string | null {
  if (!isRecord(item)) return null;
  const id = item.objectId ?? item.id;
  return typeof id === 'number' || (typeof id === 'string' && id.trim() !== '') ? String(id).trim() : null;
}
