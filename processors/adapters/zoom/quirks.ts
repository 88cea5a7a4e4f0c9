/**
 * Zoom's payloads, as they really arrive: each oddity is one small function whose comment
 * quotes the input it handles (shared/providers/zoom-video-sdk-webhooks.md). Table-tested in
 * test/processors/adapters/zoom.test.ts.
 */
import type { Role } from '../../../lib/canonical.js';
import { blankToNull } from '../../../lib/json-values.js';

const NAMED_LEAVE = /^(.*?)\s*((?:left|got disconnected from) the session\.?)$/is;

/**
 * leave_reason starts with the participant's display name ("where $name is the participant's
 * username"):
 *   "leave_reason": "Jana Novakova left the session."
 *   "leave_reason": "Jana Novakova got disconnected from the session."
 * A reason must never carry a name (DESIGN section 9): keep the phrase, drop the name. A reason
 * of another shape that still contains the user's name gets "$name" in its place.
 */
export function leaveReasonWithoutName(
  reason: string | null | undefined,
  name: string | null | undefined,
): string | null {
  const text = blankToNull(reason)?.trim();
  if (text === undefined) return null;
  const named = NAMED_LEAVE.exec(text);
  if (named?.[2] !== undefined) return named[2];
  const who = blankToNull(name)?.trim();
  return who === undefined ? text : text.split(who).join('$name');
}

/**
 * Closed-caption and timeline files come without a size ("A recording file object with file
 * type of either CC or TIMELINE does not have ... id, status, file_size, recording_type"):
 *   { "file_type": "CC", "file_extension": "VTT", "recording_start": "2024-05-02T14:03:00Z" }
 * They count as files of zero bytes. file_size is a JSON number; a fraction is rounded.
 */
export function fileBytes(file: { file_size?: number | null }): number {
  const size = file.file_size;
  return typeof size === 'number' && Number.isFinite(size) && size > 0 ? Math.round(size) : 0;
}

const CALLOUT_FAILURES: Readonly<Record<number, string>> = {
  0: 'Other_Failed_Reason',
  1: 'Encryption_Fail',
  2: 'Disconnected_By_Remote',
  3: 'Retry',
  4: 'Bad_Seq',
  5: 'Call_Limit',
  6: 'Not_Registered',
  7: 'Timeout',
  8: 'Bad_Addr',
  9: 'Unreachable',
  10: 'Disconnect_By_Local',
  11: 'Server_Internal_Error',
  12: 'Exceed_Free_Port',
  13: 'Connect_Error',
  14: 'Proxy_Connect_Error',
};

/**
 * Room-system call-out failures come as a bare number:
 *   "reason_type": 7
 * whose names the reference lists in prose (7 is Timeout). 5 and 6 are described but missing
 * from the documented "possible values"; they are named all the same. An undocumented code
 * stays readable as "reason_type_<n>".
 */
export function calloutFailureReason(reasonType: number | null | undefined): string | null {
  if (reasonType === null || reasonType === undefined) return null;
  return CALLOUT_FAILURES[reasonType] ?? `reason_type_${reasonType}`;
}

/**
 * Zoom says who is host only indirectly: user events carry the user's session-scoped id, and
 * (where sent) the object carries the host's:
 *   { "host_id": "16778240", "user": { "id": "16778240", ... } }
 * Equal non-blank ids make the user the host; everybody else is a guest (DESIGN section 5).
 */
export function roleOf(userId: string, hostId: string | null | undefined): Role {
  const host = blankToNull(hostId);
  return host !== null && host === userId ? 'host' : 'guest';
}

/**
 * One quality.alert per issue; the issue text is the event's discriminator, so a blank entry
 * (the reference's placeholder style) or a repeated one would add nothing but a duplicate:
 *   "issues": ["Unstable audio quality", "", "Unstable audio quality"]
 */
export function alertIssues(issues: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const issue of issues) {
    const text = issue.trim();
    if (text !== '') seen.add(text);
  }
  return [...seen];
}
