/**
 * The records that flow between the stages, as TypeScript types. Each mirrors the `.avsc` of
 * the same name in schemas/ (the field docs live there).
 */
import type { Micros } from './time.js';

export const PROVIDERS = ['zoom', 'apizee', 'mluvii', 'jifeline'] as const;
export type Provider = (typeof PROVIDERS)[number];

export type RawSource = 'webhook' | 'poll' | 'backfill' | 'replay';

export interface RawWebhook {
  ingest_id: string;
  provider: string;
  received_at: Micros;
  source: RawSource;
  dedup_key: string | null;
  headers: Record<string, string>;
  content_type: string | null;
  body: Buffer;
}

export type Role = 'host' | 'agent' | 'guest' | 'chatbot' | 'system';
export type Channel = 'video' | 'chat' | 'phone' | 'email' | 'ticket';
export type ConsentScope = 'session' | 'geolocation' | 'camera' | 'microphone' | 'media';

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

export interface ParticipantRef {
  key: string;
  role: Role | null;
  provider_user_id: string | null;
}

export interface SessionEvent {
  event_id: string;
  ingest_id: string;
  provider: string;
  account_id: string | null;
  session_key: string | null;
  session_id: string | null;
  session_name: string | null;
  channel: Channel | null;
  type: CanonicalType;
  provider_type: string;
  provider_event_id: string | null;
  occurred_at: Micros;
  received_at: Micros;
  participant: ParticipantRef | null;
  reason: string | null;
  state: string | null;
  scope: ConsentScope | null;
  bytes: number | null;
  count: number | null;
  score: number | null;
  attributes: Record<string, string>;
}

export type DeadLetterStage = 'decode' | 'normalize' | 'warehouse';

export interface DeadLetter {
  ingest_id: string;
  provider: string;
  stage: DeadLetterStage;
  error_code: string;
  message: string;
  field_path: string | null;
  provider_type: string | null;
  received_at: Micros;
  failed_at: Micros;
}

export type SessionStatus = 'open' | 'ended' | 'cancelled' | 'closed' | 'abandoned';

export interface SessionFact {
  session_key: string;
  provider: string;
  account_id: string | null;
  session_id: string | null;
  channel: string | null;
  name: string | null;
  created_at: Micros | null;
  started_at: Micros | null;
  ended_at: Micros | null;
  status: SessionStatus;
  duration_seconds: number | null;
  wait_seconds: number | null;
  participants: number;
  agents: number;
  guests: number;
  peak_concurrent: number;
  participant_seconds: number;
  consent: 'accepted' | 'declined' | 'unknown';
  camera_allowed: boolean | null;
  microphone_allowed: boolean | null;
  geolocation_allowed: boolean | null;
  recordings: number;
  recording_seconds: number;
  recording_files: number;
  recording_bytes: number;
  shares: number;
  sharing_seconds: number;
  hold_seconds: number;
  av_seconds: number;
  wrap_up_seconds: number | null;
  media_captures: number;
  ocr_scans: number;
  files_shared: number;
  messages: number;
  forwards: number;
  alerts: number;
  survey_score: number | null;
  end_reason: string | null;
  events: number;
  unknown_events: number;
  first_event_at: Micros;
  last_event_at: Micros;
  updated_at: Micros;
  conversations: number;
  products_added: number;
  products_removed: number;
}

/** One row of participant_sessions: a join paired with the participant's next leave. */
export interface ParticipantSpan {
  session_key: string;
  participant_key: string;
  role: Role | null;
  joined_at: Micros;
  left_at: Micros | null;
  duration_seconds: number | null;
  leave_reason: string | null;
}
