/**
 * The explicit map from every Apizee conversation event type (shared/providers/
 * apizee-session-events.md, "Event-specific payload attributes") to its canonical type
 * (DESIGN section 5). A type not in this table becomes provider.other.
 */
import type { CanonicalType, ConsentScope } from '../../../lib/canonical.js';

/** How the details of an event are read; each family has one schema in schemas/providers/apizee/. */
export type ApizeeFamily =
  | 'ticket'
  | 'priority'
  | 'invitation'
  | 'agent_presence'
  | 'requestor_presence'
  | 'consent'
  | 'media'
  | 'survey';

/** File names (without .avsc) under schemas/providers/apizee/. Envelope is read for unmapped and retired types. */
export const APIZEE_SCHEMA_OF = {
  ticket: 'Ticket',
  priority: 'TicketPriority',
  invitation: 'Invitation',
  agent_presence: 'AgentPresence',
  requestor_presence: 'RequestorPresence',
  consent: 'Consent',
  media: 'Media',
  survey: 'Survey',
} as const satisfies Record<ApizeeFamily, string>;

/** The ticket states of apizee-tickets.md. */
const TICKET_STATES = [
  'new',
  'open',
  'invited',
  'inprogress',
  'done',
  'closed',
  'rejected',
  'declined',
  'expired',
  'cancelled',
] as const;
export type TicketState = (typeof TICKET_STATES)[number];

/** Whose record in props the event is about: `agent` (role agent) or `requestor` (role guest). */
export type Subject = 'agent' | 'requestor';

export interface ApizeeMapping {
  readonly canonical: CanonicalType;
  readonly family: ApizeeFamily;
  /** The person the event is about; null: the event is about no one (or the payload names no one). */
  readonly subject: Subject | null;
  /**
   * The ticket state this type puts the ticket in: the `state` of the event when canonical is
   * ticket.state_changed, else one extra ticket.state_changed beside the canonical event.
   */
  readonly state: TicketState | null;
  /** What a consent decision is about. */
  readonly scope: ConsentScope | null;
  /** The leave reason: the type itself says who left. */
  readonly reason: string | null;
}

type Extra = Partial<Pick<ApizeeMapping, 'state' | 'scope' | 'reason'>>;
const row = (
  canonical: CanonicalType,
  family: ApizeeFamily,
  subject: Subject | null,
  extra: Extra = {},
): ApizeeMapping => ({ canonical, family, subject, state: null, scope: null, reason: null, ...extra });

const TABLE: ReadonlyArray<readonly [string, ApizeeMapping]> = [
  // The ticket: its states (apizee-tickets.md) as ticket.state_changed, plus the closing and
  // cancelling events the fold reads. "approved" is no state of the list: an approved ticket is
  // "available and ready to be assigned or handled", i.e. open.
  ['ticket.new', row('ticket.created', 'ticket', 'agent', { state: 'new' })],
  ['ticket.approved', row('ticket.state_changed', 'ticket', 'agent', { state: 'open' })],
  ['ticket.assigned', row('ticket.assigned', 'ticket', 'agent')],
  ['ticket.sessionStarted', row('session.started', 'ticket', null, { state: 'inprogress' })],
  ['ticket.completed', row('ticket.state_changed', 'ticket', 'agent', { state: 'done' })],
  ['ticket.cancelled', row('ticket.cancelled', 'ticket', 'agent', { state: 'cancelled' })],
  ['ticket.closed', row('ticket.closed', 'ticket', 'agent', { state: 'closed' })],
  ['ticket.priorityChanged', row('ticket.priority_changed', 'priority', 'agent')],

  // Invitations of the requestor. Sent: the ticket is "invited"; declined: "Invitation or
  // request was refused by the guest".
  ['ticket.invitationSent', row('invitation.sent', 'invitation', 'requestor', { state: 'invited' })],
  ['ticket.invitationResent', row('invitation.resent', 'invitation', 'requestor')],
  ['ticket.invitationAccepted', row('invitation.accepted', 'invitation', 'requestor')],
  ['ticket.invitationDeclined', row('invitation.declined', 'invitation', 'requestor', { state: 'declined' })],
  ['ticket.invitationClicked', row('invitation.clicked', 'invitation', 'requestor')],
  ['ticket.invitationNotclicked', row('invitation.not_clicked', 'invitation', 'requestor')],

  // Presence in the video session: the requestor is "established" in it, the agent "contacted";
  // each leaves with its own type, which is the only leave reason Apizee gives.
  ['session.established', row('participant.joined', 'requestor_presence', 'requestor')],
  ['session.agentContacted', row('participant.joined', 'agent_presence', 'agent')],
  ['session.agentLeft', row('participant.left', 'agent_presence', 'agent', { reason: 'agentLeft' })],
  ['session.userLeft', row('participant.left', 'requestor_presence', 'requestor', { reason: 'userLeft' })],

  // The requestor's decisions. mediaDevice.allowed/disallowed: camera and microphone together (scope media).
  ['consent.accepted', row('consent.accepted', 'consent', 'requestor', { scope: 'session' })],
  ['geo.ansAllowed', row('consent.accepted', 'consent', 'requestor', { scope: 'geolocation' })],
  ['geo.ansDisallowed', row('consent.declined', 'consent', 'requestor', { scope: 'geolocation' })],
  ['mediaDevice.allowed', row('consent.accepted', 'consent', 'requestor', { scope: 'media' })],
  ['mediaDevice.disallowed', row('consent.declined', 'consent', 'requestor', { scope: 'media' })],
  ['mediaDevice.cameraAllowed', row('consent.accepted', 'consent', 'requestor', { scope: 'camera' })],
  ['mediaDevice.cameraDisallowed', row('consent.declined', 'consent', 'requestor', { scope: 'camera' })],
  ['mediaDevice.micAllowed', row('consent.accepted', 'consent', 'requestor', { scope: 'microphone' })],
  ['mediaDevice.micDisallowed', row('consent.declined', 'consent', 'requestor', { scope: 'microphone' })],

  // Content. Who took or sent a picture is not in the payload.
  ['media.pictureTaken', row('media.captured', 'media', null)],
  ['media.pictureSent', row('media.sent', 'media', null)],
  ['media.OCRDone', row('media.ocr', 'media', null)],
  ['survey.answered', row('survey.answered', 'survey', 'requestor')],
];

/** Apizee event type → mapping. A Map, so that "constructor" or "__proto__" are unknown types, not prototype hits. */
export const APIZEE_EVENT_TYPES: ReadonlyMap<string, ApizeeMapping> = new Map(TABLE);

/**
 * Types the reference lists struck out (retired): `<del>ticket.invitationExpired</del>`. If one
 * still arrives it is kept as provider.other with attributes.retired "true" (its meaning was
 * withdrawn, so no canonical type is claimed for it).
 */
export const APIZEE_RETIRED_TYPES: ReadonlyMap<string, string> = new Map([
  ['ticket.invitationExpired', 'struck out in apizee-session-events.md'],
]);
