/**
 * Request headers the raw archive keeps. Credentials (authorization, signatures, the Apizee
 * shared-secret header) are never on this list, so they never leave the ingest.
 */
export const KEPT_HEADERS: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'x-zm-request-timestamp',
  'x-zm-trackingid',
  'x-request-id',
]);
