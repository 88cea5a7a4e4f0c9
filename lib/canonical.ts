/**
 * The records that flow between the stages, each declared once, as its fields in column order
 * (lib/record.ts says how, what is derived from a declaration and why it is TypeScript). The
 * field docs live in the `.avsc` of the same name in schemas/; test/lib/records.test.ts checks that
 * the `.avsc`, sql/warehouse.sql and the dataset views agree with these.
 */
import * as field from './record.js';
import type { RecordOf } from './record.js';

export const PROVIDERS = ['zoom', 'apizee', 'mluvii', 'jifeline'] as const;
export type Provider = (typeof PROVIDERS)[number];

export const RAW_SOURCES = ['webhook', 'poll', 'backfill', 'replay'] as const;
export type RawSource = (typeof RAW_SOURCES)[number];

export const RAW_WEBHOOK_FIELDS = {
  ingest_id: field.string,
  provider: field.string,
  received_at: field.timestamp,
  source: field.avroEnum('RawSource', RAW_SOURCES),
  dedup_key: field.nullable(field.string),
  headers: field.stringMap,
  content_type: field.nullable(field.string),
  body: field.bytes,
};
export interface RawWebhook extends RecordOf<typeof RAW_WEBHOOK_FIELDS> {}

export const ROLES = ['host', 'agent', 'guest', 'chatbot', 'system'] as const;
export type Role = (typeof ROLES)[number];
export const CHANNELS = ['video', 'chat', 'phone', 'email', 'ticket'] as const;
export type Channel = (typeof CHANNELS)[number];
export const CONSENT_SCOPES = ['session', 'geolocation', 'camera', 'microphone', 'media'] as const;
export type ConsentScope = (typeof CONSENT_SCOPES)[number];

/** The canonical vocabulary of DESIGN section 5; `provider.other` for types an adapter does not map. */
export const CANONICAL_TYPES = [
  'session.created',
  'session.started',
  'session.ended',
  'session.forwarded',
  'session.updated',
  'participant.joined',
  'participant.left',
  'participant.concluded',
  'participant.invited',
  'participant.invite_cancelled',
  'participant.invite_declined',
  'consent.accepted',
  'consent.declined',
  'recording.started',
  'recording.paused',
  'recording.resumed',
  'recording.stopped',
  'recording.completed',
  'recording.deleted',
  'recording.trashed',
  'recording.recovered',
  'transcript.completed',
  'transcript.failed',
  'summary.completed',
  'sharing.started',
  'sharing.ended',
  'av.started',
  'av.ended',
  'hold.started',
  'hold.ended',
  'streaming.started',
  'streaming.stopped',
  'ingestion.started',
  'ingestion.stopped',
  'ingestion.connected',
  'ingestion.disconnected',
  'ingestion.unbound',
  'callout.ringing',
  'callout.accepted',
  'callout.rejected',
  'callout.missed',
  'callout.canceled',
  'callout.failed',
  'cobrowsing.started',
  'media.captured',
  'media.sent',
  'media.ocr',
  'file.shared',
  'message.sent',
  'form.sent',
  'form.submitted',
  'survey.answered',
  'ticket.created',
  'ticket.state_changed',
  'ticket.priority_changed',
  'ticket.assigned',
  'ticket.product_added',
  'ticket.product_removed',
  'ticket.closed',
  'ticket.cancelled',
  'invitation.sent',
  'invitation.resent',
  'invitation.accepted',
  'invitation.declined',
  'invitation.clicked',
  'invitation.not_clicked',
  'quality.alert',
  'interpreter.usage',
  'operator.status_changed',
  'settings.changed',
  'contact.updated',
  'provider.other',
] as const;
export type CanonicalType = (typeof CANONICAL_TYPES)[number];

export const PARTICIPANT_REF_FIELDS = {
  key: field.string,
  role: field.nullable(field.oneOf(ROLES)),
  provider_user_id: field.nullable(field.string),
};
export interface ParticipantRef extends RecordOf<typeof PARTICIPANT_REF_FIELDS> {}

export const SESSION_EVENT_FIELDS = {
  event_id: field.string,
  ingest_id: field.string,
  provider: field.string,
  account_id: field.nullable(field.string),
  session_key: field.nullable(field.string),
  session_id: field.nullable(field.string),
  session_name: field.nullable(field.string),
  channel: field.nullable(field.oneOf(CHANNELS)),
  type: field.oneOf(CANONICAL_TYPES),
  provider_type: field.string,
  provider_event_id: field.nullable(field.string),
  occurred_at: field.timestamp,
  received_at: field.timestamp,
  participant: field.nullable(field.record('Participant', PARTICIPANT_REF_FIELDS)),
  reason: field.nullable(field.string),
  state: field.nullable(field.string),
  scope: field.nullable(field.oneOf(CONSENT_SCOPES)),
  bytes: field.nullable(field.long),
  count: field.nullable(field.long),
  score: field.nullable(field.double),
  attributes: field.stringMap,
};
export interface SessionEvent extends RecordOf<typeof SESSION_EVENT_FIELDS> {}

export const DEAD_LETTER_STAGES = ['decode', 'normalize', 'warehouse'] as const;
export type DeadLetterStage = (typeof DEAD_LETTER_STAGES)[number];

export const DEAD_LETTER_FIELDS = {
  ingest_id: field.string,
  provider: field.string,
  stage: field.oneOf(DEAD_LETTER_STAGES),
  error_code: field.string,
  message: field.string,
  field_path: field.nullable(field.string),
  provider_type: field.nullable(field.string),
  received_at: field.timestamp,
  failed_at: field.timestamp,
};
export interface DeadLetter extends RecordOf<typeof DEAD_LETTER_FIELDS> {}

export const SESSION_STATUSES = ['open', 'ended', 'cancelled', 'closed', 'abandoned'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];
export const CONSENTS = ['accepted', 'declined', 'unknown'] as const;

export const SESSION_FACT_FIELDS = {
  session_key: field.string,
  provider: field.string,
  account_id: field.nullable(field.string),
  session_id: field.nullable(field.string),
  channel: field.nullable(field.string),
  name: field.nullable(field.string),
  created_at: field.nullable(field.timestamp),
  started_at: field.nullable(field.timestamp),
  ended_at: field.nullable(field.timestamp),
  status: field.oneOf(SESSION_STATUSES),
  duration_seconds: field.nullable(field.double),
  wait_seconds: field.nullable(field.double),
  participants: field.long,
  agents: field.long,
  guests: field.long,
  peak_concurrent: field.long,
  participant_seconds: field.double,
  consent: field.oneOf(CONSENTS),
  camera_allowed: field.nullable(field.boolean),
  microphone_allowed: field.nullable(field.boolean),
  geolocation_allowed: field.nullable(field.boolean),
  recordings: field.long,
  recording_seconds: field.double,
  recording_files: field.long,
  recording_bytes: field.long,
  shares: field.long,
  sharing_seconds: field.double,
  hold_seconds: field.double,
  av_seconds: field.double,
  wrap_up_seconds: field.nullable(field.double),
  media_captures: field.long,
  ocr_scans: field.long,
  files_shared: field.long,
  messages: field.long,
  forwards: field.long,
  alerts: field.long,
  survey_score: field.nullable(field.double),
  end_reason: field.nullable(field.string),
  events: field.long,
  unknown_events: field.long,
  first_event_at: field.timestamp,
  last_event_at: field.timestamp,
  updated_at: field.timestamp,
  conversations: field.long,
  products_added: field.long,
  products_removed: field.long,
};
export interface SessionFact extends RecordOf<typeof SESSION_FACT_FIELDS> {}

/** One row of participant_sessions: a join paired with the participant's next leave. */
export const PARTICIPANT_SPAN_FIELDS = {
  session_key: field.string,
  participant_key: field.string,
  role: field.nullable(field.oneOf(ROLES)),
  joined_at: field.timestamp,
  left_at: field.nullable(field.timestamp),
  duration_seconds: field.nullable(field.double),
  leave_reason: field.nullable(field.string),
};
export interface ParticipantSpan extends RecordOf<typeof PARTICIPANT_SPAN_FIELDS> {}
