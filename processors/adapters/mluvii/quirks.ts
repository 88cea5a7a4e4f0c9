/**
 * mluvii's payloads, as they really arrive: each oddity is one small function whose comment
 * quotes the input it handles (shared/providers/mluvii-webhooks.md and providers/README.md).
 * Table-tested in test/processors/adapters/mluvii.test.ts.
 */
import type { Role } from '../../../lib/canonical.js';
import { ERRORS } from '../../../lib/errors.js';
import { parseIsoMicros, type Micros } from '../../../lib/time.js';
import { timeInRange } from '../steps.js';
import type { NormalizeFailure } from '../types.js';

export type TimeResult = { ok: true; micros: Micros } | { ok: false; failure: NormalizeFailure };

const MLUVII_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:[.,:](\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * mluvii times come in three shapes, all in one document:
 *   "2024-05-02T16:05:24.454661+02:00"   (the JSON examples)
 *   "2024-05-02T08:58:58:888364+02:00"   (the session life-cycle table: a colon before the fraction)
 *   "yyyy-MM-dd'T'HH:mm:ss,SSSZZZZ"      (the parameter tables: a comma before the fraction)
 * and "2024-05-09T14:40:38+02:00" with no fraction at all. `new Date()` keeps milliseconds of
 * the first and gives Invalid Date for the second. All parse to UTC microseconds. A time
 * without an offset is refused: mluvii's clock is Europe/Prague, guessing UTC would shift it.
 */
export function parseMluviiTime(value: unknown, fieldPath: string, providerType: string | null): TimeResult {
  const fail = (code: 'FIELD_MISSING' | 'FIELD_INVALID', detail: string): TimeResult => ({
    ok: false,
    failure: {
      code,
      message: `${ERRORS[code].message}: ${fieldPath} ${detail}`,
      field_path: fieldPath,
      provider_type: providerType,
    },
  });
  if (value === null || value === undefined) return fail('FIELD_MISSING', 'is absent');
  if (typeof value !== 'string') return fail('FIELD_INVALID', 'is not a date-time string');
  const m = MLUVII_TIME.exec(value.trim());
  const micros = m ? parseIsoMicros(`${m[1]}.${m[2] ?? '0'}${m[3]}`) : undefined;
  if (micros === undefined) return fail('FIELD_INVALID', 'is not a date-time with a UTC offset');
  const checked = timeInRange(micros, fieldPath, providerType);
  return checked.ok ? { ok: true, micros } : checked;
}

/**
 * The A/V activities are documented with `userId` and sent with `operatorId`:
 *   table:   | userId | number | 4555 |
 *   example: { "sessionId": 7375793, "operatorId": 2710, "time": "..." }
 * Either names the operator; operatorId wins when both are sent.
 */
export function avOperatorId(data: { operatorId?: number | null; userId?: number | null }): number | null {
  return data.operatorId ?? data.userId ?? null;
}

const CLIENT_ROLES: ReadonlyMap<string, Role> = new Map([
  ['guest', 'guest'],
  ['user', 'agent'],
  ['chatbot', 'chatbot'],
]);

/**
 * Who did an activity, in `client`, spelled two ways:
 *   "client": "Guest"  /  "client": "User"  /  "client": "Chatbot"   (JSON examples)
 *   'the value "guest", "user" or "chatbot" is stored in the "Client" parameter' (PreviewUrl)
 * User is an operator (role agent). Anything else is unknown: null.
 */
export function clientRole(client: string | null | undefined): Role | null {
  return client === null || client === undefined ? null : (CLIENT_ROLES.get(client.trim().toLowerCase()) ?? null);
}

/**
 * ApplicationSettingChanged is documented with `tenantId` and sent with `departmentId` (the
 * tenant: files of the same tenant say "departmentOwner": 62):
 *   table:   | tenantId | number | 62 |
 *   example: { "name": "phoneCallNumberBlockMinutes", "companyId": 1, "departmentId": 62, ... }
 */
export function settingTenantId(data: { tenantId?: number | null; departmentId?: number | null }): number | null {
  return data.tenantId ?? data.departmentId ?? null;
}
