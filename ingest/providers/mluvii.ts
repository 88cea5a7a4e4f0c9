/**
 * mluvii webhooks (shared/providers/README.md, mluvii-webhooks.md):
 * - no signature: the credentials put in the callback URL (`https://user:pass@host/webhooks/mluvii`)
 *   arrive as `Authorization: Basic base64(user ":" password)` (RFC 7617);
 * - one event per request, `{eventType, data}`; up to 2 retries, duplicates possible, so the
 *   dedup key is `activityId` where there is one, else eventType + id + userId + time; a body
 *   with neither is told from a repeat by the order of its entity's deliveries
 *   (mluvii-redeliveries.ts).
 * User and password are compared as SHA-256 digests with timingSafeEqual, so neither their
 * content nor their length shows in the timing; two passwords are accepted (rotation).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { SessionflowError } from '../../lib/errors.js';
import { isRecord, scalar } from '../../lib/json-values.js';
import { parseLenientJson } from '../../lib/lenient-json.js';
import { mluviiPayloadKey, mluviiSession } from '../../lib/mluvii-keys.js';
import type { Micros } from '../../lib/time.js';
import { createMluviiRedeliveries, type MluviiDelivery } from './mluvii-redeliveries.js';
import { header, tryParseJson, type IncomingRequest, type Receiver, type Verified } from './types.js';

export interface MluviiCredentials {
  readonly user: string;
  /** One, or two while a password is rotated (new,old). */
  readonly passwords: readonly string[];
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Constant time for a given candidate: equal-length digests, whatever the input's length. */
const sameSecret = (expected: Buffer, given: string): boolean => timingSafeEqual(expected, digest(given));

const BASIC = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i;

/** `Authorization: Basic <base64(user:password)>` → user and password; undefined when it is not that. */
export function readBasicAuth(value: string | undefined): { user: string; password: string } | undefined {
  const token = value === undefined ? undefined : BASIC.exec(value)?.[1];
  if (token === undefined || token.length % 4 === 1) return undefined;
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The header mluvii sends for credentials in the callback URL (for tests and the demo). */
export function mluviiAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/** A receiver remembers the latest delivery about each entity: which deliveries are retries (mluvii-redeliveries.ts). */
export function createMluviiReceiver(credentials: MluviiCredentials | undefined): Receiver {
  const user = credentials === undefined ? undefined : digest(credentials.user);
  const passwords = (credentials?.passwords ?? []).map(digest);
  const redeliveries = createMluviiRedeliveries();
  return {
    provider: 'mluvii',
    verify(request: IncomingRequest, now: Micros): Verified {
      if (user === undefined || passwords.length === 0) {
        throw new SessionflowError('SECRET_NOT_CONFIGURED', 'set MLUVII_WEBHOOK_USER and MLUVII_WEBHOOK_PASSWORD');
      }
      const given = readBasicAuth(header(request, 'authorization'));
      if (given === undefined)
        throw new SessionflowError('AUTH_MISSING', 'Authorization: Basic with user:password is required');
      // Every comparison runs, whichever fails: the answer's timing says nothing about which.
      const userOk = sameSecret(user, given.user);
      let passwordOk = false;
      for (const password of passwords) passwordOk = sameSecret(password, given.password) || passwordOk;
      if (!userOk || !passwordOk) throw new SessionflowError('AUTH_INVALID', 'user or password does not match');
      const body = readMluviiBody(request.body);
      const delivery = mluviiDelivery(body, request.body);
      return {
        dedupKey: delivery === null ? null : redeliveries.keyOf(delivery, now),
        sessionKey: mluviiSessionKey(body),
      };
    },
  };
}

/**
 * The body as JSON, read as the adapter reads it (lib/lenient-json.ts: a raw line break inside a
 * string, as in the documented SessionActivityWelcomeMessage); undefined when it is not JSON at all.
 */
export function readMluviiBody(bytes: Buffer): unknown {
  return tryParseJson(bytes, parseLenientJson);
}

interface MluviiEnvelope {
  eventType?: unknown;
  data?: Record<string, unknown>;
}

function envelopeOf(body: unknown): { type: string; data: Record<string, unknown> } | undefined {
  const envelope = body as MluviiEnvelope | undefined;
  if (typeof envelope !== 'object' || envelope === null || typeof envelope.eventType !== 'string') return undefined;
  const data = isRecord(envelope.data) ? envelope.data : {};
  return { type: envelope.eventType, data };
}

/**
 * What one delivery says of itself, before its stream is looked at: the key of its content
 * (lib/mluvii-keys.ts mluviiPayloadKey), `timeless` when the body states neither an activityId
 * nor a time, and the entity whose deliveries mluvii keeps in order. Only the receiver, which
 * sees the deliveries in that order, can tell a timeless retry from a repeat (mluvii-redeliveries.ts).
 */
function mluviiDelivery(body: unknown, bytes: Buffer): MluviiDelivery | null {
  const envelope = envelopeOf(body);
  if (envelope === undefined) return null;
  const { type, data } = envelope;
  const stream = mluviiSession(type, data)?.key ?? sessionlessStream(type, data);
  return { stream, ...mluviiPayloadKey(type, data, bytes) };
}

/** The key of a delivery's content alone (no stream): what every delivery of the same bytes shares. */
export function mluviiDedupKey(body: unknown, bytes: Buffer): string | null {
  return mluviiDelivery(body, bytes)?.payload ?? null;
}

/**
 * The entity a body about no session is about, whose deliveries mluvii keeps in order: the
 * operator (UserStatusChanged), the contact (GuestIdentityUpdated), else the tenant of a type
 * (ApplicationSettingChanged: each setting of a tenant in turn).
 */
function sessionlessStream(type: string, data: Record<string, unknown>): string {
  if (type === 'UserStatusChanged') return `user:${scalar(data.userId) ?? ''}`;
  if (type === 'GuestIdentityUpdated') return `contact:${scalar(data.id) ?? ''}`;
  return `${type}:${scalar(data.departmentId ?? data.tenantId) ?? ''}`;
}

/** `mluvii:<session id>` or `mluvii:email:<thread id>` (lib/mluvii-keys.ts mluviiSession), read cheaply; null when none. */
export function mluviiSessionKey(body: unknown): string | null {
  const envelope = envelopeOf(body);
  return envelope === undefined ? null : (mluviiSession(envelope.type, envelope.data)?.key ?? null);
}
