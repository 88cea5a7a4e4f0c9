/**
 * Jifeline Partner API access tokens: OAuth2 client credentials. The reference's recipe: POST the
 * token endpoint with `Content-Type: application/x-www-form-urlencoded` and
 * `grant_type=client_credentials&client_id=…&client_secret=…`; the answer is
 * `{"access_token": "eyJ…", "expires_in": 3600, "token_type": "Bearer"}`, the token valid an hour.
 *
 * A token is replaced once `refreshRatio` of its life has passed (48 minutes of 60 by default),
 * and at once when the API refuses it (`invalidate`, on a 401). Concurrent callers share one
 * token request. Neither the secret nor a token is ever logged.
 */
import { SessionflowError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';

type Endpoint = 'token' | 'events';

/**
 * An HTTP answer the puller did not want; never carries the body (it may echo credentials). A 5xx,
 * or a 429 that names no wait, is Jifeline's trouble (retried); any other answer is a refusal.
 */
export function jifelineHttpError(endpoint: Endpoint, status: number): SessionflowError {
  const code = status >= 500 || status === 429 ? 'PROVIDER_API_UNAVAILABLE' : 'PROVIDER_API_REFUSED';
  return new SessionflowError(code, `Jifeline ${endpoint} endpoint answered HTTP ${status}`);
}

/** A request that got no answer (no connection, a timeout): retried. */
export function jifelineUnreachable(endpoint: Endpoint, cause: unknown): SessionflowError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new SessionflowError('PROVIDER_API_UNAVAILABLE', `Jifeline ${endpoint} endpoint: ${reason}`, { cause });
}

export interface ClientCredentialsOptions {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** Share of expires_in after which the token is replaced (0 < ratio <= 1). */
  refreshRatio: number;
  requestTimeoutMs: number;
}

export interface TokenSource {
  /** A token believed valid: the cached one while fresh, else a new one. */
  token(): Promise<string>;
  /** The API refused this token: the next token() asks for a new one. */
  invalidate(token: string): void;
}

interface Held {
  value: string;
  refreshAtMs: number;
}

export function clientCredentials(
  options: ClientCredentialsOptions,
  deps: { logger: Logger; fetch?: typeof fetch; nowMs?: () => number },
): TokenSource {
  const doFetch = deps.fetch ?? fetch;
  const nowMs = deps.nowMs ?? Date.now;
  let held: Held | undefined;
  let pending: Promise<string> | undefined;

  async function request(): Promise<string> {
    const response = await doFetch(options.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: options.clientId,
        client_secret: options.clientSecret,
      }).toString(),
      signal: AbortSignal.timeout(options.requestTimeoutMs),
    }).catch((cause: unknown) => {
      throw jifelineUnreachable('token', cause);
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw jifelineHttpError('token', response.status);
    }
    const body = (await response.json().catch(() => ({}))) as { access_token?: unknown; expires_in?: unknown };
    if (typeof body.access_token !== 'string' || body.access_token === '')
      throw new SessionflowError('PROVIDER_API_REFUSED', 'Jifeline token endpoint answered without an access_token');
    const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 3600;
    held = { value: body.access_token, refreshAtMs: nowMs() + expiresIn * 1000 * options.refreshRatio };
    deps.logger.info({ expiresInSeconds: expiresIn }, 'access token obtained');
    return body.access_token;
  }

  return {
    token() {
      if (held !== undefined && nowMs() < held.refreshAtMs) return Promise.resolve(held.value);
      pending ??= request().finally(() => {
        pending = undefined;
      });
      return pending;
    },
    invalidate(token) {
      if (held?.value === token) held = undefined;
    },
  };
}
