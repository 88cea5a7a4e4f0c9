/**
 * Zoom webhooks (shared/providers/README.md, from Zoom's webhook documentation):
 * - every request carries `x-zm-request-timestamp` and
 *   `x-zm-signature: v0=` + hex(HMAC-SHA256(secret token, "v0:" + timestamp + ":" + raw body));
 * - `endpoint.url_validation` must be answered with
 *   {"plainToken": "<same>", "encryptedToken": hex(HMAC-SHA256(secret token, plainToken))}.
 * Zoom documents no tolerance for the timestamp. Its retries (after 5, 20 and 60 minutes) may
 * carry the original one, so a window of minutes, as Stripe and Svix use, refuses every retry
 * and those events are lost. A retry inside a longer window costs a raw row, not a wrong fact:
 * redeliveries collapse on event_id. So a request may be ZOOM_TIMESTAMP_TOLERANCE_MINUTES old
 * (90 by default: the last retry and some clock skew), and at most 5 minutes ahead of our clock.
 * Seconds or milliseconds.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { SessionflowError } from '../../lib/errors.js';
import { contentKey } from '../../lib/ids.js';
import { scalar } from '../../lib/json-values.js';
import { ZOOM_TOLERANCE_DEFAULT_MINUTES } from '../../lib/config.js';
import { epochToMicros, type Micros } from '../../lib/time.js';
import { header, tryParseJson, type IncomingRequest, type Receiver, type Verified } from './types.js';

/** How far ahead of our clock a request's timestamp may be (clock skew). */
const AHEAD_MICROS = 5 * 60 * 1_000_000;

export function zoomSignature(secret: string, timestamp: string, body: Buffer | string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest('hex')}`;
}

export function zoomEncryptedToken(secret: string, plainToken: string): string {
  return createHmac('sha256', secret).update(plainToken).digest('hex');
}

/** Compares in constant time; a signature of the wrong length never matches. */
function signatureMatches(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createZoomReceiver(secrets: readonly string[], options: { toleranceMinutes?: number } = {}): Receiver {
  const behindMicros = (options.toleranceMinutes ?? ZOOM_TOLERANCE_DEFAULT_MINUTES) * 60 * 1_000_000;
  return {
    provider: 'zoom',
    verify(request: IncomingRequest, now: Micros): Verified {
      if (secrets.length === 0) throw new SessionflowError('SECRET_NOT_CONFIGURED', 'set ZOOM_WEBHOOK_SECRET_TOKEN');
      const timestamp = header(request, 'x-zm-request-timestamp');
      const signature = header(request, 'x-zm-signature');
      if (!timestamp || !signature)
        throw new SessionflowError('AUTH_MISSING', 'x-zm-request-timestamp and x-zm-signature are required');
      if (!/^\d{1,16}$/.test(timestamp))
        throw new SessionflowError('AUTH_INVALID', 'x-zm-request-timestamp is not an epoch number');
      const age = now - epochToMicros(Number(timestamp));
      if (age > behindMicros || -age > AHEAD_MICROS) throw new SessionflowError('TIMESTAMP_STALE');
      const secret = secrets.find((s) => signatureMatches(zoomSignature(s, timestamp, request.body), signature));
      if (!secret) throw new SessionflowError('AUTH_INVALID', 'x-zm-signature does not match');

      const body = tryParseJson(request.body) as ZoomEnvelope | undefined;
      if (body?.event === 'endpoint.url_validation') {
        const plainToken = body.payload?.plainToken;
        if (typeof plainToken !== 'string' || plainToken === '')
          throw new SessionflowError('BAD_REQUEST', 'payload.plainToken is missing');
        return {
          reply: { plainToken, encryptedToken: zoomEncryptedToken(secret, plainToken) },
          dedupKey: null,
          sessionKey: null,
        };
      }
      return { dedupKey: zoomDedupKey(body), sessionKey: zoomSessionKey(body) };
    },
  };
}

interface ZoomEnvelope {
  event?: unknown;
  event_ts?: unknown;
  payload?: {
    plainToken?: unknown;
    object?: { session_id?: unknown; user?: { id?: unknown; participant_uuid?: unknown } };
  };
}

/** Zoom sends no event id: the same event redelivered has the same event, event_ts, session and participant. */
export function zoomDedupKey(body: ZoomEnvelope | undefined): string | null {
  if (!body || typeof body.event !== 'string') return null;
  const object = body.payload?.object;
  const user = object?.user;
  return contentKey(
    'zoom',
    body.event,
    scalar(body.event_ts),
    scalar(object?.session_id),
    scalar(user?.id ?? user?.participant_uuid),
  );
}

function zoomSessionKey(body: ZoomEnvelope | undefined): string | null {
  const id = body?.payload?.object?.session_id;
  return typeof id === 'string' && id !== '' ? `zoom:${id}` : null;
}
