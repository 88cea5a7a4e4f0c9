/**
 * The one closed list of error codes: every error sessionflow throws, and every error the ingest
 * answers, carries one. `retriable`: the same work tried again may succeed (a broker back, a disk
 * with room again); lib/retry.ts retries these and no other. Data errors are not retriable and
 * become dead letters with their code. `status`: the HTTP status the ingest answers with; the
 * ingest answers only these codes (ingest/openapi.ts lists them), anything else as INTERNAL.
 */
export const ERRORS = {
  CONFIG_INVALID: { message: 'configuration is invalid', retriable: false },
  ARGUMENT_INVALID: { message: 'a command-line argument cannot be used', retriable: false },
  // ingest (HTTP)
  AUTH_MISSING: { message: 'credentials missing', retriable: false, status: 401 },
  AUTH_INVALID: { message: 'credentials do not match', retriable: false, status: 401 },
  SECRET_NOT_CONFIGURED: { message: 'no secret is configured for this provider', retriable: false, status: 401 },
  TIMESTAMP_STALE: {
    message: 'request timestamp is outside the accepted window (ZOOM_TIMESTAMP_TOLERANCE_MINUTES old, 5 minutes ahead)',
    retriable: false,
    status: 401,
  },
  BODY_TOO_LARGE: { message: 'request body exceeds the limit', retriable: false, status: 413 },
  UNSUPPORTED_MEDIA_TYPE: { message: 'content type must be application/json', retriable: false, status: 415 },
  BAD_REQUEST: { message: 'request is malformed', retriable: false, status: 400 },
  NOT_FOUND: { message: 'no such route (no webhook receiver for this provider)', retriable: false, status: 404 },
  NOT_READY: { message: 'the service cannot store deliveries right now', retriable: true, status: 503 },
  // A bug: an invariant did not hold. Also what the ingest answers for any failure without a status.
  INTERNAL: { message: 'internal error', retriable: false, status: 500 },
  // normalize (dead letters)
  BODY_NOT_JSON: { message: 'body is not valid JSON', retriable: false },
  BODY_SHAPE: { message: 'body does not match the provider schema', retriable: false },
  FIELD_MISSING: { message: 'a required field is missing', retriable: false },
  FIELD_INVALID: { message: 'a field has a value we cannot read', retriable: false },
  UNKNOWN_PROVIDER: { message: 'no adapter for this provider', retriable: false },
  ENVELOPE_UNREADABLE: { message: 'message is not a readable Avro envelope', retriable: false },
  // A message naming a schema id the registry answers it does not have: that message can never
  // be read, so it is a dead letter at the stage that meets it (a registry that does not answer
  // is LOG_UNAVAILABLE instead, and is retried).
  SCHEMA_NOT_FOUND: { message: 'schema id is not in the registry', retriable: false },
  EVENT_INVALID: { message: 'a canonical event does not fit the SessionEvent schema', retriable: false },
  EVENT_TOO_LARGE: { message: 'a canonical event is larger than events.v1 accepts', retriable: false },
  // erasure (DESIGN section 9): a request the writer cannot carry out, recorded as refused
  ERASURE_INVALID: { message: 'the erasure request cannot be carried out', retriable: false },
  // the providers' REST APIs, which the pollers call (Apizee reconciliation and backfill, Jifeline)
  PROVIDER_API_UNAVAILABLE: { message: "the provider's API is unavailable", retriable: true },
  PROVIDER_API_REFUSED: { message: "the provider's API refused the request", retriable: false },
  // infrastructure
  LOG_CLOSED: { message: 'the log is closed', retriable: false },
  LOG_UNAVAILABLE: { message: 'the log is unavailable', retriable: true },
  // DuckDB and the embedded log open in one process at a time; free again once that one stops.
  IN_USE: { message: 'in use by another process', retriable: true },
  SPOOL_WRITE_FAILED: { message: 'the spool could not store the delivery (disk full or failing)', retriable: true },
  // Not the disk (that is STORAGE_UNAVAILABLE): the same batch would fail again, so the process stops.
  WAREHOUSE_FAILED: { message: 'the warehouse could not store a batch', retriable: false },
  STORAGE_UNAVAILABLE: { message: 'the disk refuses writes (full, or an I/O error)', retriable: true },
} as const satisfies Record<string, { message: string; retriable: boolean; status?: number }>;

export type ErrorCode = keyof typeof ERRORS;

export class SessionflowError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly status: number | undefined;
  /** Path of the offending field in a provider body, for dead letters. */
  readonly fieldPath: string | undefined;

  constructor(code: ErrorCode, detail?: string, options: { cause?: unknown; fieldPath?: string } = {}) {
    const spec = ERRORS[code];
    super(detail ? `${spec.message}: ${detail}` : spec.message, { cause: options.cause });
    this.name = 'SessionflowError';
    this.code = code;
    this.retriable = spec.retriable;
    this.status = 'status' in spec ? spec.status : undefined;
    this.fieldPath = options.fieldPath;
  }
}

/** IN_USE, with the process holding the file when it is known (DuckDB and the log's LOCK name it). */
export class InUseError extends SessionflowError {
  constructor(
    readonly holder: number | undefined,
    detail: string,
    options: { cause?: unknown } = {},
  ) {
    super('IN_USE', detail, options);
  }
}

export function isSessionflowError(err: unknown, code?: ErrorCode): err is SessionflowError {
  return err instanceof SessionflowError && (code === undefined || err.code === code);
}
