/**
 * Apizee access tokens. The API takes `Authorization: Bearer <token>`, "the token obtained after
 * authentication using the /token method" (apizee-session-events.md, its OpenAPI). Our references
 * stop there; Apizee's Authentication page (REST API & webhook reference) documents the method:
 *   POST /api/v3/token?grant_type=password&username=…&password=…   (query parameters)
 *   200 {"access_token": "eyJ0eXAiOiJKV1QiLCJhbGc...", "created_at": "2018-10-14T10:00:00+00:00", "expires_in": 86400}
 * and warns that it must be called server side. A token lives `expires_in` seconds: a day.
 *
 * Two sources. A fixed token (APIZEE_API_TOKEN) is used as it is and renewed by hand. With the
 * user's credentials (APIZEE_API_USERNAME, APIZEE_API_PASSWORD) a token is asked for at the first
 * request, replaced once `refreshRatio` of its life has passed (80%: after 19.2 h of a day's
 * token), and at once when Apizee refuses it (a 401: the caller asks once more with the new one).
 * The life is counted on our clock from the answer, not from `created_at` (clocks differ); an answer
 * without a usable `expires_in` is taken to live the documented day. Concurrent callers share one
 * token request.
 *
 * Neither the password nor a token is logged, and the token URL (it carries the password) never
 * reaches a log line or an error message.
 */
import { SessionflowError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';

export interface ApizeeCredentials {
  username: string;
  password: string;
}

/** What a token request got back: the status and, for a 2xx, the JSON body. */
export interface TokenAnswer {
  status: number;
  body: unknown;
}

/** Sends the token request (through the rate-limit budget, a 429 waited out); throws when Apizee cannot be reached. */
export type TokenPost = (url: URL, signal: AbortSignal) => Promise<TokenAnswer>;

/**
 * The token endpoint said no. `refused` (PROVIDER_API_REFUSED): the credentials or the endpoint
 * are wrong (a 4xx, or a 2xx without a token): every request would fail alike. Otherwise Apizee
 * failed (a 5xx, PROVIDER_API_UNAVAILABLE): retried.
 */
export class ApizeeTokenError extends SessionflowError {
  constructor(
    refused: boolean,
    readonly apizeeStatus: number,
    readonly detail: string,
  ) {
    super(refused ? 'PROVIDER_API_REFUSED' : 'PROVIDER_API_UNAVAILABLE', detail);
    this.name = 'ApizeeTokenError';
  }
}

export interface ApizeeTokens {
  /** `fixed`: APIZEE_API_TOKEN; `credentials`: tokens from APIZEE_API_USERNAME and APIZEE_API_PASSWORD. */
  readonly kind: 'fixed' | 'credentials';
  /** A token believed valid: the one in hand while fresh, else a new one. Throws ApizeeTokenError. */
  token(signal: AbortSignal): Promise<string>;
  /**
   * Apizee answered 401 to `token`: it is dropped. True when a new one can be had, so the request is
   * worth making once more.
   */
  refused(token: string): boolean;
}

/** A token got by hand: used until Apizee refuses it. */
export function fixedToken(token: string): ApizeeTokens {
  return { kind: 'fixed', token: () => Promise.resolve(token), refused: () => false };
}

/** Apizee's example token lives a day. */
const DOCUMENTED_LIFE_SECONDS = 86_400;

/** `expires_in` in seconds, as a number or a string of one; the documented day otherwise. */
function lifeSeconds(value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(n) && n > 0 ? n : DOCUMENTED_LIFE_SECONDS;
}

export interface PasswordGrantOptions {
  /** e.g. https://cloud.apizee.com/api/v3/token */
  tokenUrl: string;
  credentials: ApizeeCredentials;
  /** Share of a token's life after which it is replaced (0 < ratio <= 1). */
  refreshRatio: number;
}

export function passwordGrant(
  options: PasswordGrantOptions,
  deps: { post: TokenPost; logger: Logger; nowMs: () => number },
): ApizeeTokens {
  let held: { value: string; refreshAtMs: number } | undefined;
  let pending: Promise<string> | undefined;

  async function request(signal: AbortSignal): Promise<string> {
    const url = new URL(options.tokenUrl);
    url.searchParams.set('grant_type', 'password');
    url.searchParams.set('username', options.credentials.username);
    url.searchParams.set('password', options.credentials.password);
    const { status, body } = await deps.post(url, signal);
    if (status >= 500)
      throw new ApizeeTokenError(false, status, `Apizee's token endpoint (POST /api/v3/token) answered HTTP ${status}`);
    if (status < 200 || status >= 300) {
      throw new ApizeeTokenError(
        true,
        status,
        `Apizee refused APIZEE_API_USERNAME and APIZEE_API_PASSWORD at POST /api/v3/token (HTTP ${status}): ` +
          'wrong username or password, a disabled user, or APIZEE_API_URL is not the Apizee API',
      );
    }
    const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const token = typeof record.access_token === 'string' ? record.access_token.trim() : '';
    if (token === '')
      throw new ApizeeTokenError(
        true,
        status,
        `Apizee's token endpoint (POST /api/v3/token) answered HTTP ${status} without an access_token: ` +
          'is APIZEE_API_URL the Apizee API?',
      );
    const life = lifeSeconds(record.expires_in);
    held = { value: token, refreshAtMs: deps.nowMs() + life * 1000 * options.refreshRatio };
    deps.logger.info(
      { expiresInSeconds: life, renewInSeconds: Math.round(life * options.refreshRatio) },
      'apizee access token obtained',
    );
    return token;
  }

  return {
    kind: 'credentials',
    token(signal) {
      if (held !== undefined && deps.nowMs() < held.refreshAtMs) return Promise.resolve(held.value);
      pending ??= request(signal).finally(() => {
        pending = undefined;
      });
      return pending;
    },
    refused(token) {
      if (held?.value === token) held = undefined;
      return true;
    },
  };
}
