/**
 * Apizee webhooks (shared/providers/README.md; apizee-session-events.md, "Listen to webhook
 * callbacks"): one POST `conversationevent.create` per ticket-timeline event,
 *   { "event": "create", "time": 1749581447, "object": "conversationevent", "objectId": 1266,
 *     "props": { "eventType": "media.OCRDone", "eventCode": 41, "conversationId": 548, "ticketId": 361, ... } }
 * Apizee signs nothing; its webhook settings allow custom headers, so we require a shared
 * secret in the header named by APIZEE_WEBHOOK_HEADER (default x-webhook-secret). Two values
 * are accepted at once (rotation). Duplicates are possible and retries are not documented.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { SessionflowError } from '../../lib/errors.js';
import { idText } from '../../lib/json-values.js';
import type { Micros } from '../../lib/time.js';
import { header, tryParseJson, type IncomingRequest, type Receiver, type Verified } from './types.js';

export const APIZEE_DEFAULT_HEADER = 'x-webhook-secret';

/** Apizee's own object type for timeline events; a webhook for another object is keyed apart. */
const CONVERSATION_EVENT = 'conversationevent';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Constant time in the secret's content and length: both sides are hashed to 32 bytes first,
 * so timingSafeEqual always compares equal lengths and a wrong-length guess learns nothing.
 */
function secretMatches(given: string, secrets: readonly string[]): boolean {
  const presented = digest(given);
  let matched = false;
  for (const secret of secrets) matched = timingSafeEqual(presented, digest(secret)) || matched;
  return matched;
}

export function createApizeeReceiver(secrets: readonly string[], headerName: string = APIZEE_DEFAULT_HEADER): Receiver {
  const name = headerName.trim().toLowerCase();
  return {
    provider: 'apizee',
    verify(request: IncomingRequest, _now: Micros): Verified {
      if (secrets.length === 0) throw new SessionflowError('SECRET_NOT_CONFIGURED', 'set APIZEE_WEBHOOK_SECRET');
      const given = header(request, name);
      if (given === undefined || given === '') throw new SessionflowError('AUTH_MISSING', `${name} is required`);
      if (!secretMatches(given, secrets)) throw new SessionflowError('AUTH_INVALID', `${name} does not match`);
      const body = tryParseJson(request.body) as ApizeeEnvelope | undefined;
      return { dedupKey: apizeeDedupKey(body), sessionKey: apizeeSessionKey(body) };
    },
  };
}

interface ApizeeEnvelope {
  object?: unknown;
  objectId?: unknown;
  props?: { ticketId?: unknown } | null;
}

/**
 * The conversation event's objectId (Apizee's own event id: every delivery of one event carries
 * it). A webhook about another object (its objectId is that object's id) is prefixed with the
 * object's name so it can never collide with a conversation event's id.
 */
export function apizeeDedupKey(body: ApizeeEnvelope | undefined): string | null {
  if (typeof body !== 'object' || body === null) return null;
  const id = idText(body.objectId);
  if (id === null) return null;
  const object = typeof body.object === 'string' ? body.object : CONVERSATION_EVENT;
  return object === CONVERSATION_EVENT ? id : `${object}:${id}`;
}

/** The ticket is the session (DESIGN section 5): `apizee:<props.ticketId>`. */
export function apizeeSessionKey(body: ApizeeEnvelope | undefined): string | null {
  if (typeof body !== 'object' || body === null || typeof body.props !== 'object' || body.props === null) return null;
  const ticket = idText(body.props.ticketId);
  return ticket === null ? null : `apizee:${ticket}`;
}
