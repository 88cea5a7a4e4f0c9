/**
 * What each Apizee event family adds to the canonical envelope: type, participant, state,
 * scope, score, reason and non-personal attributes. Bodies reach here already checked against
 * the family's schema, so the shapes below hold. Names, e-mails, phone numbers, geolocation
 * coordinates, OCR text, survey feedback and question labels are never read into an event
 * (e-mail and phone are only hashed into the participant key).
 */
import type { CanonicalType, ConsentScope, ParticipantRef } from '../../../lib/canonical.js';
import { participantKey } from '../../../lib/ids.js';
import { blankToNull, idText } from '../../../lib/json-values.js';
import { attrs } from '../event.js';
import { fallbackIdentifier, personIdentifier, surveyScore, type ApizeePerson } from './quirks.js';
import type { ApizeeMapping, Subject } from './table.js';

type Opt<T> = T | null | undefined;
type Id = number | string;

interface SurveyQuestion {
  id?: Opt<Id>;
  answer?: Opt<string>;
}

/** An Apizee body that fits its family's schema (each family declares a part of these props). */
export interface ApizeeBody {
  event?: Opt<string>;
  time: number;
  object?: Opt<string>;
  objectId: Id;
  props: {
    eventType: string;
    eventCode?: Opt<number>;
    conversationId?: Opt<Id>;
    ticketId: Id;
    agent?: Opt<ApizeePerson>;
    requestor?: Opt<ApizeePerson>;
    oldPriority?: Opt<number>;
    newPriority?: Opt<number>;
    mediaId?: Opt<Id>;
    surveyAnswer?: { questions: SurveyQuestion[]; feedback?: Opt<string> };
  };
}

/** The per-event part of one canonical event; an Apizee event yields one or more. */
export interface Detail {
  type: CanonicalType;
  participant: ParticipantRef | null;
  reason: string | null;
  state: string | null;
  scope: ConsentScope | null;
  score: number | null;
  attributes: Record<string, string>;
  /** For eventId when one Apizee event yields several canonical events of the same type. */
  discriminator?: string;
}

/** The attributes every Apizee event keeps: its conversation (the ticket's conversations are counted) and event code. */
export function commonAttributes(
  props: { eventCode?: Opt<number>; conversationId?: Opt<Id> } | null | undefined,
): Record<string, string> {
  return attrs({ conversation_id: idText(props?.conversationId), event_code: props?.eventCode });
}

/** The agent is an Apizee agent; the requestor is the guest (DESIGN section 5). */
function participantOf(
  piiKey: string,
  ticketId: string,
  subject: Subject | null,
  props: ApizeeBody['props'],
): ParticipantRef | null {
  if (subject === null) return null;
  const person = props[subject];
  if (person === null || person === undefined) return null;
  const identifier = personIdentifier(person) ?? fallbackIdentifier(ticketId, subject);
  return {
    key: participantKey(piiKey, 'apizee', identifier),
    role: subject === 'agent' ? 'agent' : 'guest',
    provider_user_id: idText(person.id),
  };
}

/**
 * The canonical types one Apizee type gives: its own, and a ticket.state_changed beside it when
 * the type moves the ticket to a state (ticket.closed → ticket.closed + state closed;
 * ticket.completed is itself the change to done).
 */
function canonicalTypesOf(mapping: ApizeeMapping): CanonicalType[] {
  if (mapping.state === null || mapping.canonical === 'ticket.state_changed') return [mapping.canonical];
  return [mapping.canonical, 'ticket.state_changed'];
}

/** One survey.answered per question, scored 1..3; a survey without questions is one answer without a score. */
function surveyDetails(base: Omit<Detail, 'type'>, survey: NonNullable<ApizeeBody['props']['surveyAnswer']>): Detail[] {
  const feedback = { feedback_given: blankToNull(survey.feedback) !== null, questions: survey.questions.length };
  if (survey.questions.length === 0) {
    return [{ ...base, type: 'survey.answered', attributes: { ...base.attributes, ...attrs(feedback) } }];
  }
  return survey.questions.map((question, index) => {
    const questionId = idText(question.id);
    return {
      ...base,
      type: 'survey.answered',
      score: surveyScore(question.answer),
      attributes: { ...base.attributes, ...attrs({ ...feedback, question_id: questionId }) },
      discriminator: `${index}:${questionId ?? ''}`,
    };
  });
}

/** Reads the family's details from a body that fits the family's schema. */
export function readDetails(body: ApizeeBody, mapping: ApizeeMapping, ticketId: string, piiKey: string): Detail[] {
  const props = body.props;
  const base: Omit<Detail, 'type'> = {
    participant: participantOf(piiKey, ticketId, mapping.subject, props),
    reason: mapping.reason,
    state: null,
    scope: mapping.scope,
    score: null,
    attributes: commonAttributes(props),
  };
  switch (mapping.family) {
    case 'priority':
      base.attributes = {
        ...base.attributes,
        ...attrs({ old_priority: props.oldPriority, new_priority: props.newPriority }),
      };
      break;
    case 'media':
      base.attributes = { ...base.attributes, ...attrs({ media_id: idText(props.mediaId) }) };
      break;
    case 'survey':
      return surveyDetails(base, props.surveyAnswer!);
    case 'ticket':
    case 'invitation':
    case 'agent_presence':
    case 'requestor_presence':
    case 'consent':
      break;
  }
  const own: Detail = {
    ...base,
    type: mapping.canonical,
    state: mapping.canonical === 'ticket.state_changed' ? mapping.state : null,
  };
  if (canonicalTypesOf(mapping).length === 1) return [own];
  // The state change beside it is about the ticket, not a person: an invited requestor must not
  // count as a participant through it (the fold leaves invitations out of the headcount).
  return [
    own,
    { ...base, type: 'ticket.state_changed', participant: null, reason: null, scope: null, state: mapping.state },
  ];
}
