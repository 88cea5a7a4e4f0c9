import { join } from 'node:path';
import type { Config } from '../../lib/config.js';
import type { JifelinePullOptions } from './jifeline.js';

/** The Jifeline puller's options from the configuration; undefined when it is not configured. */
export function jifelinePullOptions(config: Config): JifelinePullOptions | undefined {
  const j = config.jifeline;
  if (!j) return undefined;
  return {
    apiBaseUrl: j.apiUrl,
    tokenUrl: j.tokenUrl,
    clientId: j.clientId,
    clientSecret: config.secrets.jifelineClientSecret!,
    ...(config.secrets.jifelineApiKey && { apiKey: config.secrets.jifelineApiKey }),
    ...(j.websocketUrl && { websocketUrl: j.websocketUrl }),
    stateDir: join(config.dataDir, 'pull', 'jifeline'),
    pageLimit: j.pageLimit,
    pollIntervalMs: j.pollIntervalSeconds * 1000,
    ...(j.eventTypes && { eventTypes: j.eventTypes }),
    // A frame carries one event's body and a few fields around it.
    maxFrameBytes: config.bodyLimitBytes + 64 * 1024,
  };
}
