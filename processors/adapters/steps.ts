/**
 * The first steps every adapter takes with a body, as values rather than exceptions (a failure
 * becomes a dead letter): parse the JSON, make sure it is an object, read its type field.
 */
import { ERRORS } from '../../lib/errors.js';
import { isRecord } from '../../lib/json-values.js';
import { inTimeRange, microsToIso, TIME_RANGE, type Micros } from '../../lib/time.js';
import type { NormalizeFailure, NormalizeResult } from './types.js';

export type Step<T> = { ok: true; value: T } | { ok: false; failure: NormalizeFailure };

export const failed = (failure: NormalizeFailure): NormalizeResult => ({ events: [], failures: [failure] });

export function failure(
  code: NormalizeFailure['code'],
  detail: string,
  fieldPath: string | null,
  providerType: string | null,
): NormalizeFailure {
  return { code, message: `${ERRORS[code].message}: ${detail}`, field_path: fieldPath, provider_type: providerType };
}

/**
 * The body as a JSON object, read by `parse`: JSON.parse, or for a provider whose bodies are not
 * always JSON as sent, the reading its ingest uses too (lib/lenient-json.ts).
 */
export function parseBody(body: Buffer, parse: (text: string) => unknown = JSON.parse): Step<Record<string, unknown>> {
  let value: unknown;
  try {
    value = parse(body.toString('utf8'));
  } catch {
    return { ok: false, failure: failure('BODY_NOT_JSON', `${body.length} bytes`, null, null) };
  }
  return isRecord(value)
    ? { ok: true, value }
    : { ok: false, failure: failure('BODY_SHAPE', 'body is not a JSON object', null, null) };
}

/** A required, non-blank string field naming the provider's event type (`event`, `eventType`). */
export function readTypeField(body: Record<string, unknown>, field: string): Step<string> {
  const type = body[field];
  if (type === undefined || type === null || (typeof type === 'string' && type.trim() === '')) {
    return { ok: false, failure: failure('FIELD_MISSING', field, field, null) };
  }
  if (typeof type !== 'string')
    return { ok: false, failure: failure('FIELD_INVALID', `${field} is not a string`, field, null) };
  return { ok: true, value: type };
}

/** A provider time, read from `fieldPath`, checked against the accepted range (lib/time.ts TIME_RANGE). */
export function timeInRange(micros: Micros, fieldPath: string, providerType: string | null): Step<Micros> {
  if (inTimeRange(micros)) return { ok: true, value: micros };
  const shown =
    Number.isFinite(micros) && Math.abs(micros) < 8.64e18 ? microsToIso(Math.round(micros)) : String(micros);
  const range = `${microsToIso(TIME_RANGE.from)} to ${microsToIso(TIME_RANGE.until)}`;
  return {
    ok: false,
    failure: failure(
      'FIELD_INVALID',
      `${fieldPath} ${shown} is outside the accepted range (${range})`,
      fieldPath,
      providerType,
    ),
  };
}
