import { join } from 'node:path';
import type { Config } from '../../lib/config.js';
import type { ApizeeApiClientOptions } from './apizee.js';
import type { ApizeeReconcileOptions } from './apizee-reconcile.js';

/**
 * The Apizee REST client's options from the configuration: a fixed token (APIZEE_API_TOKEN) or the
 * user's credentials (APIZEE_API_USERNAME, APIZEE_API_PASSWORD; the configuration refuses both);
 * undefined with neither.
 */
export function apizeeApiOptions(config: Config): ApizeeApiClientOptions | undefined {
  const a = config.apizeeApi;
  const { apizeeApiToken: token, apizeeApiCredentials: credentials } = config.secrets;
  if (!a) return undefined;
  const auth = token
    ? { token }
    : credentials
      ? { credentials: { username: credentials.username, password: credentials.password } }
      : undefined;
  if (!auth) return undefined;
  return { apiBaseUrl: a.url, ...auth, requestsPerMinute: a.requestsPerMinute, pageLimit: a.pageLimit };
}

/** The periodic reconciliation's options; undefined without a token or credentials, or when the interval is 0. */
export function apizeeReconcileOptions(config: Config): ApizeeReconcileOptions | undefined {
  const api = apizeeApiOptions(config);
  const a = config.apizeeApi;
  if (!api || !a || a.reconcileIntervalMinutes <= 0) return undefined;
  return {
    ...api,
    stateDir: join(config.dataDir, 'pull', 'apizee'),
    intervalMs: a.reconcileIntervalMinutes * 60_000,
    lookbackMs: a.reconcileLookbackHours * 3600_000,
  };
}
