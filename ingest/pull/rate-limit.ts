/**
 * How long an HTTP 429 asks a client to wait before its next request.
 *
 * - `Retry-After` (RFC 9110 section 10.2.3): delay-seconds ("30") or an HTTP-date
 *   ("Wed, 21 Oct 2015 07:28:00 GMT").
 * - `X-RateLimit-Reset` (no standard): APIs send the reset as epoch seconds ("1714658405"),
 *   epoch milliseconds ("1714658405412") or seconds left ("42"). A value above 10^9 is taken as an
 *   epoch time (10^9 s is 2001; no window lasts 31 years), above 10^12 as epoch milliseconds.
 *
 * Retry-After wins when both are readable. Undefined when neither is: the caller backs off.
 */
export function rateLimitDelayMs(headers: Headers, nowMs: number): number | undefined {
  return retryAfterMs(headers.get('retry-after'), nowMs) ?? resetMs(headers.get('x-ratelimit-reset'), nowMs);
}

function retryAfterMs(value: string | null, nowMs: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

function resetMs(value: string | null, nowMs: number): number | undefined {
  const text = value?.trim();
  if (!text || !/^\d+(\.\d+)?$/.test(text)) return undefined;
  const n = Number(text);
  if (n > 1e12) return Math.max(0, Math.round(n - nowMs));
  if (n > 1e9) return Math.max(0, Math.round(n * 1000 - nowMs));
  return Math.round(n * 1000);
}
