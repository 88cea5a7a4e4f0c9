/**
 * What each Zoom event family adds to the canonical envelope: participant, reason, count,
 * bytes and non-personal attributes. Bodies reach here already checked against the family's
 * schema, so the shapes below hold. Names, phone numbers, e-mails, IP addresses, user_key,
 * download_token/download_url and stream keys are never read into an event.
 */
import type { ParticipantRef } from '../../../lib/canonical.js';
import { isAvroLong } from '../../../lib/avro.js';
import { participantKey } from '../../../lib/ids.js';
import { blankToNull } from '../../../lib/json-values.js';
import { attrs } from '../event.js';
import type { NormalizeFailure } from '../types.js';
import { alertIssues, calloutFailureReason, fileBytes, leaveReasonWithoutName, roleOf } from './quirks.js';
import type { ZoomMapping } from './table.js';

type Opt<T> = T | null | undefined;

interface ZoomObject {
  session_id: string;
  session_name?: Opt<string>;
  session_key?: Opt<string>;
  host_id?: Opt<string>;
  user?: {
    id: string;
    name?: Opt<string>;
    user_key?: Opt<string>;
    participant_uuid?: Opt<string>;
    leave_reason?: Opt<string>;
    sharing_details?: { content?: Opt<string> };
  };
  participant_uuid?: Opt<string>;
  recording_files?: ZoomFile[];
  participant_audio_files?: Opt<ZoomFile[]>;
  participant_video_files?: Opt<ZoomFile[]>;
  issues?: string[];
  live_streaming?: { service?: Opt<string>; custom_live_streaming_settings?: Opt<{ resolution?: Opt<string> }> };
  stream_ingestion?: { stream_id?: Opt<string> };
  message_id?: Opt<string>;
  reason_type?: Opt<number>;
  participant?: Opt<{ call_type?: Opt<string> }>;
  is_host?: Opt<boolean>;
  start_time?: Opt<string>;
  end_time?: Opt<string>;
  usage?: Opt<string>;
}

interface ZoomFile {
  file_type?: Opt<string>;
  file_size?: Opt<number>;
  recording_type?: Opt<string>;
}

/** A Zoom body that fits its family's schema. */
export interface ZoomBody {
  event: string;
  event_ts: number;
  payload: { account_id: string; operator_id?: Opt<string>; object: ZoomObject };
}

/** The per-event part of one canonical event; a Zoom event yields one, or one per alert issue. */
export interface Detail {
  participant: ParticipantRef | null;
  reason: string | null;
  count: number | null;
  bytes: number | null;
  attributes: Record<string, string>;
  /** For eventId when one Zoom event yields several canonical events, or several can share an instant. */
  discriminator?: string;
}

export type DetailResult = { ok: true; details: Detail[] } | { ok: false; failure: NormalizeFailure };

function detail(part: Partial<Detail> & { attributes: Record<string, string> }): Detail {
  return { participant: null, reason: null, count: null, bytes: null, ...part };
}

function userParticipant(piiKey: string, object: ZoomObject, hostPattern: RegExp | undefined): ParticipantRef | null {
  if (!object.user) return null;
  const id = object.user.id;
  // user.id is "assigned to the user upon joining a session and is only valid for that session":
  // keyed with the session so the same id in two sessions is never taken for one person.
  const role = roleOf(id, object.host_id) === 'host' || marksHost(hostPattern, object.user) ? 'host' : 'guest';
  return { key: participantKey(piiKey, 'zoom', `${object.session_id}:${id}`), role, provider_user_id: id };
}

/** ZOOM_HOST_PATTERN: apps that mark their hosts in their own user_key or the display name. */
function marksHost(pattern: RegExp | undefined, user: { user_key?: Opt<string>; name?: Opt<string> }): boolean {
  if (pattern === undefined) return false;
  return [user.user_key, user.name].some((text) => typeof text === 'string' && pattern.test(text));
}

const invalid = (fieldPath: string, detail: string, providerType: string): DetailResult => ({
  ok: false,
  failure: {
    code: 'FIELD_INVALID',
    message: `a field has a value we cannot read: ${fieldPath} ${detail}`,
    field_path: fieldPath,
    provider_type: providerType,
  },
});

/**
 * Count of files, total bytes, and counts per recording_type and file_type. A file_size past
 * 2^53 (where a double no longer counts bytes one by one, and no Avro long holds it), or sizes
 * that add up past it, cannot be a recording's size: a failure naming the field.
 */
function recordingFiles(object: ZoomObject, providerType: string): DetailResult {
  const lists = {
    recording_files: object.recording_files ?? [],
    participant_audio_files: object.participant_audio_files ?? [],
    participant_video_files: object.participant_video_files ?? [],
  };
  for (const [name, files] of Object.entries(lists)) {
    const at = files.findIndex((file) => typeof file.file_size === 'number' && !isAvroLong(Math.round(file.file_size)));
    if (at >= 0)
      return invalid(`payload.object.${name}.${at}.file_size`, 'is not a size in bytes below 2^53', providerType);
  }
  const all = [...lists.recording_files, ...lists.participant_audio_files, ...lists.participant_video_files];
  const bytes = all.reduce((sum, file) => sum + fileBytes(file), 0);
  if (!isAvroLong(bytes))
    return invalid('payload.object.recording_files', 'file sizes add up past 2^53 bytes', providerType);
  const perType: Record<string, number> = {};
  for (const file of all) {
    for (const [prefix, value] of [
      ['recording_type', file.recording_type],
      ['file_type', file.file_type],
    ] as const) {
      const kind = blankToNull(value);
      if (kind !== null) perType[`${prefix}.${kind}`] = (perType[`${prefix}.${kind}`] ?? 0) + 1;
    }
  }
  const files = detail({
    count: all.length,
    bytes,
    attributes: attrs({
      custom_session_key: object.session_key,
      recording_files: lists.recording_files.length,
      participant_audio_files: lists.participant_audio_files.length,
      participant_video_files: lists.participant_video_files.length,
      ...perType,
    }),
  });
  return { ok: true, details: [files] };
}

/** Reads the family's details from a body that fits the family's schema. */
export function readDetails(body: ZoomBody, mapping: ZoomMapping, piiKey: string, hostPattern?: RegExp): DetailResult {
  const object = body.payload.object;
  const common = { custom_session_key: object.session_key };
  const one = (d: Detail): DetailResult => ({ ok: true, details: [d] });
  switch (mapping.family) {
    case 'session':
      return one(detail({ attributes: attrs({ ...common, host_id: object.host_id }) }));
    case 'recording':
      return one(detail({ attributes: attrs(common) }));
    case 'user':
      return one(
        detail({
          participant: userParticipant(piiKey, object, hostPattern),
          reason:
            mapping.canonical === 'participant.left'
              ? leaveReasonWithoutName(object.user?.leave_reason, object.user?.name)
              : null,
          // participant_uuid: how an AI interpreter summary names this user when it says is_host.
          attributes: attrs({ ...common, host_id: object.host_id, participant_uuid: object.user?.participant_uuid }),
        }),
      );
    case 'sharing':
      return one(
        detail({
          participant: userParticipant(piiKey, object, hostPattern),
          attributes: attrs({ ...common, host_id: object.host_id, share_type: object.user?.sharing_details?.content }),
        }),
      );
    case 'recording_files':
      return recordingFiles(object, body.event);
    case 'recording_notice':
      return one(detail({ attributes: attrs({ ...common, operator_id: body.payload.operator_id }) }));
    case 'alert': {
      const issues = alertIssues(object.issues ?? []);
      if (issues.length === 0) {
        return {
          ok: false,
          failure: {
            code: 'FIELD_MISSING',
            message: 'a required field is missing: payload.object.issues lists no issue',
            field_path: 'payload.object.issues',
            provider_type: body.event,
          },
        };
      }
      return {
        ok: true,
        details: issues.map((issue) =>
          detail({ count: 1, discriminator: issue, attributes: attrs({ ...common, issue }) }),
        ),
      };
    }
    case 'live_streaming': {
      const stream = object.live_streaming;
      return one(
        detail({
          attributes: attrs({
            ...common,
            service: stream?.service,
            resolution: stream?.custom_live_streaming_settings?.resolution,
          }),
        }),
      );
    }
    case 'stream_ingestion': {
      const streamId = blankToNull(object.stream_ingestion?.stream_id);
      return one(
        detail({
          attributes: attrs({ ...common, stream_id: streamId }),
          ...(streamId === null ? {} : { discriminator: streamId }),
        }),
      );
    }
    case 'phone_callout':
      return one(detail({ attributes: attrs({ ...common, callout_kind: 'phone', host_id: object.host_id }) }));
    case 'room_system_callout': {
      const messageId = blankToNull(object.message_id);
      return one(
        detail({
          reason: calloutFailureReason(object.reason_type),
          attributes: attrs({
            callout_kind: 'room_system',
            host_id: object.host_id,
            message_id: messageId,
            call_type: object.participant?.call_type,
            reason_type: object.reason_type,
          }),
          ...(messageId === null ? {} : { discriminator: messageId }),
        }),
      );
    }
    case 'interpreter':
      return one(
        detail({
          attributes: attrs({
            ...common,
            is_host: object.is_host,
            participant_uuid: object.participant_uuid,
            usage: object.usage,
            usage_start: object.start_time,
            usage_end: object.end_time,
          }),
        }),
      );
  }
}
