/**
 * The explicit map from every Zoom Video SDK webhook event type (shared/providers/
 * zoom-video-sdk-webhooks.md, "POST session.*") to its canonical type (DESIGN section 5).
 * A type not in this table becomes provider.other.
 */
import type { CanonicalType } from '../../../lib/canonical.js';

/** How the details of an event are read; each family has one schema in schemas/providers/zoom/. */
export type ZoomFamily =
  | 'session'
  | 'user'
  | 'sharing'
  | 'recording'
  | 'recording_files'
  | 'recording_notice'
  | 'alert'
  | 'live_streaming'
  | 'stream_ingestion'
  | 'phone_callout'
  | 'room_system_callout'
  | 'interpreter';

/** File names (without .avsc) under schemas/providers/zoom/. Envelope is read for unmapped types. */
export const ZOOM_SCHEMA_OF = {
  session: 'SessionLifecycle',
  user: 'UserPresence',
  sharing: 'Sharing',
  recording: 'RecordingProgress',
  recording_files: 'RecordingFiles',
  recording_notice: 'RecordingNotice',
  alert: 'Alert',
  live_streaming: 'LiveStreaming',
  stream_ingestion: 'StreamIngestion',
  phone_callout: 'PhoneCallout',
  room_system_callout: 'RoomSystemCallout',
  interpreter: 'InterpreterUsage',
} as const satisfies Record<ZoomFamily, string>;

export interface ZoomMapping {
  readonly canonical: CanonicalType;
  readonly family: ZoomFamily;
  /**
   * Where the payload states when the event happened (a path below the body); occurred_at is
   * event_ts (milliseconds) when this is null or the field is absent or blank.
   */
  readonly time: readonly string[] | null;
}

const OBJECT = ['payload', 'object'];
const at = (...path: string[]): readonly string[] => [...OBJECT, ...path];
const row = (canonical: CanonicalType, family: ZoomFamily, time: readonly string[] | null = null): ZoomMapping => ({
  canonical,
  family,
  time,
});

/** Zoom answers this itself through ingest; it is not a session event and yields nothing here. */
export const URL_VALIDATION = 'endpoint.url_validation';

const TABLE: ReadonlyArray<readonly [string, ZoomMapping]> = [
  ['session.started', row('session.started', 'session', at('start_time'))],
  ['session.ended', row('session.ended', 'session', at('end_time'))],
  ['session.user_joined', row('participant.joined', 'user', at('user', 'join_time'))],
  ['session.user_left', row('participant.left', 'user', at('user', 'leave_time'))],

  // recording_file.recording_start/_end describe the recording, not the pause or resume: those two
  // take event_ts. Zoom fills recording_end only in the general query, so stopped usually does too.
  ['session.recording_started', row('recording.started', 'recording', at('recording_file', 'recording_start'))],
  ['session.recording_paused', row('recording.paused', 'recording')],
  ['session.recording_resumed', row('recording.resumed', 'recording')],
  ['session.recording_stopped', row('recording.stopped', 'recording', at('recording_file', 'recording_end'))],
  ['session.recording_completed', row('recording.completed', 'recording_files')],
  ['session.recording_deleted', row('recording.deleted', 'recording_notice')],
  ['session.recording_trashed', row('recording.trashed', 'recording_notice')],
  ['session.recording_recovered', row('recording.recovered', 'recording_notice')],
  ['session.recording_transcript_completed', row('transcript.completed', 'recording_files')],
  ['session.recording_transcript_failed', row('transcript.failed', 'recording_notice')],
  ['session.recording_summary_completed', row('summary.completed', 'recording_files')],

  ['session.sharing_started', row('sharing.started', 'sharing', at('user', 'sharing_details', 'date_time'))],
  ['session.sharing_ended', row('sharing.ended', 'sharing', at('user', 'sharing_details', 'date_time'))],
  ['session.live_streaming_started', row('streaming.started', 'live_streaming', at('live_streaming', 'date_time'))],
  ['session.live_streaming_stopped', row('streaming.stopped', 'live_streaming', at('live_streaming', 'date_time'))],
  ['session.stream_ingestion_started', row('ingestion.started', 'stream_ingestion')],
  ['session.stream_ingestion_stopped', row('ingestion.stopped', 'stream_ingestion')],
  ['session.stream_ingestion_connected', row('ingestion.connected', 'stream_ingestion')],
  ['session.stream_ingestion_disconnected', row('ingestion.disconnected', 'stream_ingestion')],
  ['session.stream_ingestion_unbind', row('ingestion.unbound', 'stream_ingestion')],

  ['session.user_phone_callout_ringing', row('callout.ringing', 'phone_callout')],
  ['session.user_phone_callout_accepted', row('callout.accepted', 'phone_callout')],
  ['session.user_phone_callout_rejected', row('callout.rejected', 'phone_callout')],
  ['session.user_phone_callout_missed', row('callout.missed', 'phone_callout')],
  ['session.user_phone_callout_canceled', row('callout.canceled', 'phone_callout')],
  ['session.user_room_system_callout_ringing', row('callout.ringing', 'room_system_callout')],
  ['session.user_room_system_callout_accepted', row('callout.accepted', 'room_system_callout')],
  ['session.user_room_system_callout_rejected', row('callout.rejected', 'room_system_callout')],
  ['session.user_room_system_callout_missed', row('callout.missed', 'room_system_callout')],
  ['session.user_room_system_callout_failed', row('callout.failed', 'room_system_callout')],

  ['session.alert', row('quality.alert', 'alert')],
  ['session.ai_interpreter_usage_summary', row('interpreter.usage', 'interpreter', at('end_time'))],
];

/** Zoom event type → mapping. A Map, so that "constructor" or "__proto__" are unknown types, not prototype hits. */
export const ZOOM_EVENT_TYPES: ReadonlyMap<string, ZoomMapping> = new Map(TABLE);
