import { join } from 'node:path';
import type { Config } from '../../lib/config.js';
import type { ApizeeApiClientOptions } from './apizee.js';
import type { ApizeeReconcileOptions } from './apizee-reconcile.js';

/** The Apizee REST client's options from the configuration; undefined without APIZEE_API_TOKEN. */
export function apizeeApiOptions(config: Config): ApizeeApiClientOptions | undefined {
  const a = config.apizeeApi;
  const token = config.secrets.apizeeApiToken;
  if (!a || !token) return undefined;
  return { apiBaseUrl: a.url, token, requestsPerMinute: a.requestsPerMinute, pageLimit: a.pageLimit };
}

/** The periodic reconciliation's options; undefined when there is no token or the interval is 0. */
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
