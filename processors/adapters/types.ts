import type { RawWebhook, SessionEvent } from '../../lib/canonical.js';
import type { ErrorCode } from '../../lib/errors.js';
import type { SessionNames } from '../../lib/ids.js';

export interface AdapterContext {
  /** Key for participant pseudonyms (lib/ids.ts participantKey). */
  piiKey: string;
  /**
   * SESSION_NAMES: what an adapter whose session names are free text (Zoom) stores of them;
   * absent: DEFAULT_SESSION_NAMES. Names that are ids (Jifeline's ticket number) are not free text.
   */
  sessionNames?: SessionNames;
  /** ZOOM_HOST_PATTERN: a Zoom user whose user_key or display name matches is the host. */
  zoomHostPattern?: RegExp;
}

/** A body (or part of one) that could not be read: becomes a DeadLetter. */
export interface NormalizeFailure {
  code: ErrorCode;
  message: string;
  /** Path of the offending field, for example payload.object.user.join_time. */
  field_path: string | null;
  provider_type: string | null;
}

export interface NormalizeResult {
  events: SessionEvent[];
  failures: NormalizeFailure[];
}

/** One per provider: pure, no I/O. Unknown provider types become provider.other, not failures. */
export interface Adapter {
  readonly provider: string;
  normalize(raw: RawWebhook, ctx: AdapterContext): NormalizeResult;
}
