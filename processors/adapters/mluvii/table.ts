/**
 * The explicit map from every mluvii webhook eventType (shared/providers/mluvii-webhooks.md)
 * to its canonical types (DESIGN section 5). A type not in this table becomes provider.other.
 */
import type { CanonicalType, Channel } from '../../../lib/canonical.js';

/**
 * How a body is read. Each family has one schema in schemas/providers/mluvii/ and says where
 * the session id is: sessions and their operators in data.id, activities in data.sessionId,
 * e-mail threads in data.id (key mluvii:email:<id>), and no session at all for operator
 * status, settings and contacts.
 */
export type MluviiFamily =
  | 'session'
  | 'session_operator'
  | 'session_forwarded'
  | 'session_ref'
  | 'activity'
  | 'av'
  | 'hero_card_submission'
  | 'email_thread'
  | 'email_operator'
  | 'setting'
  | 'guest_identity'
  | 'user_status';

/** File names (without .avsc) under schemas/providers/mluvii/. Envelope is read for unmapped types. */
export const MLUVII_SCHEMA_OF = {
  session: 'Session',
  session_operator: 'SessionOperator',
  session_forwarded: 'SessionForwarded',
  session_ref: 'SessionRef',
  activity: 'SessionActivity',
  av: 'AvActivity',
  hero_card_submission: 'HeroCardSubmission',
  email_thread: 'EmailThread',
  email_operator: 'EmailThreadOperator',
  setting: 'ApplicationSetting',
  guest_identity: 'GuestIdentity',
  user_status: 'UserStatus',
} as const satisfies Record<MluviiFamily, string>;

/** Which field of `data` states when the event happened; null: the body has no time (occurred_at is received_at). */
export type TimeField = 'started' | 'ended' | 'time' | 'created';

/**
 * Who the event is about: `user` data.userId (an operator); `actor` whoever `client`,
 * `userId` or `chatbotId` name; `operator` data.operatorId or data.userId (the A/V quirk);
 * `invitee` data.toOperatorUserId; `submitter` the client when submittedByClient; `contact`
 * the contact directory entry data.id; `none` nobody.
 */
export type Who = 'user' | 'actor' | 'operator' | 'invitee' | 'submitter' | 'contact' | 'none';

export interface MluviiMapping {
  /** One canonical event per entry (EmailThreadCreated both creates and starts its thread). */
  readonly canonical: readonly [CanonicalType, ...CanonicalType[]];
  readonly family: MluviiFamily;
  readonly time: TimeField | null;
  readonly who: Who;
  /**
   * attributes.kind: which message or form this is (message.sent, form.sent, form.submitted);
   * `moment` on a sharing.started that has no end and claims no sharing time (SharedScreen).
   */
  readonly kind: string | null;
  /**
   * A body with no time that mluvii sends once per entity (a session is created once): every
   * delivery of the same content is the same event. The other bodies with no time repeat
   * (each status change, parameter change): their identity comes from the ingest (index.ts).
   */
  readonly once: boolean;
}

const row = (
  canonical: CanonicalType | readonly [CanonicalType, ...CanonicalType[]],
  family: MluviiFamily,
  time: TimeField | null,
  who: Who,
  kind: string | null = null,
): MluviiMapping => ({
  canonical: typeof canonical === 'string' ? [canonical] : canonical,
  family,
  time,
  who,
  kind,
  once: false,
});

/** A body with no time that can only come once per entity. */
const once = (mapping: MluviiMapping): MluviiMapping => ({ ...mapping, once: true });

const activity = (canonical: CanonicalType, kind: string | null = null, who: Who = 'actor'): MluviiMapping =>
  row(canonical, 'activity', 'time', who, kind);

const TABLE: ReadonlyArray<readonly [string, MluviiMapping]> = [
  // Sessions: SessionCreated carries no time at all.
  ['SessionCreated', once(row('session.created', 'session', null, 'none'))],
  ['SessionStarted', row('session.started', 'session', 'started', 'none')],
  ['SessionOperatorJoined', row('participant.joined', 'session_operator', 'time', 'user')],
  ['SessionForwarded', row('session.forwarded', 'session_forwarded', 'time', 'none')],
  ['SessionEnded', row('session.ended', 'session', 'ended', 'none')],
  ['SessionOperatorLeft', row('participant.left', 'session_operator', 'time', 'user')],
  // After-call work ended, or the session went on to the next destination; the only event an
  // operator gets when another operator of the session got SessionOperatorLeft.
  ['SessionOperatorConcluded', row('participant.concluded', 'session_operator', 'time', 'user')],
  // Sent again "every time a session parameter is changed", with the same body each time.
  ['SessionCallParamsUpdated', row('session.updated', 'session_ref', null, 'none')],
  // The recording of a session is processed once, after the session.
  ['SessionRecordingPostProcessingCompleted', once(row('recording.completed', 'session_ref', null, 'none'))],

  // Session activities.
  ['SessionActivityAutoActivity', activity('message.sent', 'auto')],
  ['SessionActivityWelcomeMessage', activity('message.sent', 'welcome')],
  ['SessionActivityExternalMessage', activity('message.sent', 'external')],
  ['SessionActivityLastFarewellMessage', activity('message.sent', 'farewell')],
  // Not chat messages, so not in `messages`: a HeroCard is a form put to the client; ChatToMail
  // e-mails the transcript of what was said; a PreviewUrl is the preview of a link in a message
  // that is its own activity (originalActivityId). The last two change nothing a fact counts.
  ['SessionActivityChatToMail', activity('session.updated', 'chat_to_mail')],
  ['SessionActivityPreviewUrl', activity('session.updated', 'preview_url')],
  ['SessionActivityHeroCard', activity('form.sent', 'hero_card')],
  [
    'SessionActivityHeroCardSubmission',
    row('form.submitted', 'hero_card_submission', 'time', 'submitter', 'hero_card'),
  ],
  ['SessionActivityCallScript', activity('form.sent', 'call_script')],
  ['SessionActivityCallScriptSubmission', activity('form.submitted', 'call_script')],
  ['SessionActivityAvRequest', row('av.started', 'av', 'time', 'operator')],
  ['SessionActivityAvTerminated', row('av.ended', 'av', 'time', 'operator')],
  ['SessionActivityOnHold', activity('hold.started')],
  ['SessionActivityResumeGuest', activity('hold.ended')],
  // "Screen sharing either by the client or by the operator": one moment, no end ever comes. It
  // counts as a share (kind moment) and claims no sharing time (processors/sessionize/activity.ts).
  ['SessionActivitySharedScreen', activity('sharing.started', 'moment')],
  ['SessionActivitySharedFile', activity('file.shared')],
  ['SessionActivityCobrowsingStarted', activity('cobrowsing.started')],
  ['SessionActivityOperatorInvited', activity('participant.invited', null, 'invitee')],
  ['SessionActivityOperatorInviteCanceled', activity('participant.invite_cancelled', null, 'none')],
  ['SessionActivityOperatorInviteRejected', activity('participant.invite_declined', null, 'user')],
  // The chat-timeline record of a forward that SessionForwarded already reports: counted once.
  ['SessionActivitySessionForwarded', activity('session.updated', 'forwarded')],
  ['SessionActivitySessionEnded', activity('session.ended')],

  // E-mail threads: a thread is created in its group's queue, so it starts there too.
  ['EmailThreadCreated', row(['session.created', 'session.started'], 'email_thread', 'created', 'none')],
  ['EmailThreadOperatorJoined', row('participant.joined', 'email_operator', 'time', 'user')],
  ['EmailThreadOperatorLeft', row('participant.left', 'email_operator', 'time', 'user')],
  ['EmailThreadForwarded', row('session.forwarded', 'email_thread', 'time', 'none')],
  ['EmailThreadParamsUpdated', row('session.updated', 'email_thread', null, 'none')],

  // About no session.
  ['UserStatusChanged', row('operator.status_changed', 'user_status', null, 'user')],
  ['ApplicationSettingChanged', row('settings.changed', 'setting', null, 'none')],
  ['GuestIdentityUpdated', row('contact.updated', 'guest_identity', null, 'contact')],
];

/** mluvii eventType → mapping. A Map, so that "constructor" or "__proto__" are unknown types, not prototype hits. */
export const MLUVII_EVENT_TYPES: ReadonlyMap<string, MluviiMapping> = new Map(TABLE);

/** The session channel enum ("AV Audio video transfer", "Chat Text channel", "Phone Phone call"). */
export const MLUVII_CHANNELS: ReadonlyMap<string, Channel> = new Map([
  ['av', 'video'],
  ['chat', 'chat'],
  ['phone', 'phone'],
]);
