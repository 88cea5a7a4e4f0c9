/**
 * What each mluvii event adds to the canonical envelope: participant, reason, state, count and
 * non-personal attributes. Bodies reach here already checked against their family's schema,
 * so the shapes below hold. Message texts, form labels and values, names (toOperatorFullName,
 * toGroupName), phone numbers, notes, file names and URLs are never read into an event.
 */
import type { ParticipantRef } from '../../../lib/canonical.js';
import { participantKey } from '../../../lib/ids.js';
import { blankToNull, isRecord } from '../../../lib/json-values.js';
import { attrs } from '../event.js';
import { avOperatorId, clientRole } from './quirks.js';
import type { MluviiMapping } from './table.js';

type Opt<T> = T | null | undefined;

/** The fields of `data` the adapter reads, over all families (each family's schema says which it has). */
export interface MluviiData {
  id?: number;
  sessionId?: number;
  activityId?: number;
  tenantId?: Opt<number>;
  departmentId?: Opt<number>;
  companyId?: Opt<number>;
  channel?: Opt<string>;
  source?: Opt<string>;
  started?: Opt<string>;
  ended?: Opt<string>;
  created?: Opt<string>;
  time?: Opt<string>;
  type?: Opt<string>;
  client?: Opt<string>;
  userId?: Opt<number>;
  operatorId?: Opt<number>;
  /** SessionAVRequestState, on an A/V request when sent. */
  state?: Opt<string>;
  chatbotId?: Opt<number>;
  operatorGroupId?: Opt<number>;
  routingRuleSetId?: Opt<number>;
  heroCard?: Opt<unknown[]>;
  callScript?: Opt<unknown[]>;
  previewUrl?: Opt<{ contentType?: Opt<number>; originalActivityId?: Opt<number> }>;
  file?: Opt<{ id?: Opt<number>; operatorOwner?: Opt<number>; departmentOwner?: Opt<number> }>;
  toOperatorUserId?: Opt<number>;
  toGroupId?: Opt<number>;
  toPhoneNumber?: Opt<string>;
  formFieldSetUUID?: Opt<string>;
  terminationReason?: Opt<string>;
  result?: Opt<string>;
  originalFormID?: Opt<number>;
  submittedByClient?: Opt<boolean>;
  params?: unknown;
  name?: string;
  status?: string;
  availabilityStatus?: Opt<string>;
  availabilityStatusReason?: Opt<string>;
}

/** A mluvii body that fits its family's schema. */
export interface MluviiBody {
  eventType: string;
  data: MluviiData;
}

/** The per-event part of the canonical events of one mluvii body. */
export interface Detail {
  participant: ParticipantRef | null;
  reason: string | null;
  state: string | null;
  count: number | null;
  attributes: Record<string, string>;
}

/** People and bots, each keyed with PII_KEY. Operator ids are tenant-wide, so an operator has one key across sessions. */
const people = (piiKey: string) => ({
  operator: (userId: number): ParticipantRef => ({
    key: participantKey(piiKey, 'mluvii', String(userId)),
    role: 'agent',
    provider_user_id: String(userId),
  }),
  chatbot: (id: number): ParticipantRef => ({
    key: participantKey(piiKey, 'mluvii', `chatbot:${id}`),
    role: 'chatbot',
    provider_user_id: String(id),
  }),
  // mluvii names no id for the client of a session: one pseudonym per session, no provider_user_id.
  guest: (sessionId: string): ParticipantRef => ({
    key: participantKey(piiKey, 'mluvii', `guest:${sessionId}`),
    role: 'guest',
    provider_user_id: null,
  }),
  contact: (id: number): ParticipantRef => ({
    key: participantKey(piiKey, 'mluvii', `contact:${id}`),
    role: 'guest',
    provider_user_id: String(id),
  }),
});

/** Who did an activity: `client` first, else whichever of userId and chatbotId is set. */
function actorOf(data: MluviiData, sessionId: string, p: ReturnType<typeof people>): ParticipantRef | null {
  const role = clientRole(data.client);
  if (role === 'guest') return p.guest(sessionId);
  if ((role === 'agent' || role === null) && data.userId !== null && data.userId !== undefined)
    return p.operator(data.userId);
  if ((role === 'chatbot' || role === null) && data.chatbotId !== null && data.chatbotId !== undefined)
    return p.chatbot(data.chatbotId);
  return null;
}

function participantOf(
  mapping: MluviiMapping,
  data: MluviiData,
  sessionId: string | null,
  piiKey: string,
): ParticipantRef | null {
  const p = people(piiKey);
  const operator = (id: Opt<number>) => (id === null || id === undefined ? null : p.operator(id));
  switch (mapping.who) {
    case 'user':
      return operator(data.userId);
    case 'operator':
      return operator(avOperatorId(data));
    case 'invitee':
      return operator(data.toOperatorUserId);
    case 'actor':
      return sessionId === null ? null : actorOf(data, sessionId, p);
    case 'submitter':
      return data.submittedByClient === true && sessionId !== null ? p.guest(sessionId) : null;
    case 'contact':
      return data.id === undefined ? null : p.contact(data.id);
    case 'none':
      return null;
  }
}

/** Where a forward went, without saying who (a phone number is personal data). */
function forwardTarget(to: {
  user?: Opt<number>;
  group?: Opt<number>;
  chatbot?: Opt<number>;
  phone?: Opt<string>;
}): string | null {
  if (to.user !== null && to.user !== undefined) return 'user';
  if (to.group !== null && to.group !== undefined) return 'group';
  if (to.chatbot !== null && to.chatbot !== undefined) return 'chatbot';
  return blankToNull(to.phone) === null ? null : 'phone';
}

function activityAttributes(data: MluviiData, mapping: MluviiMapping): Record<string, string> {
  const forward = mapping.canonical[0] === 'session.forwarded' || mapping.kind === 'forwarded';
  // The operator named by userId is the participant, except where the event is about someone else.
  const byUser = mapping.who === 'invitee' || mapping.who === 'none' ? data.userId : null;
  return attrs({
    activity_type: data.type,
    client: data.client,
    by_user_id: byUser,
    to_user_id: data.toOperatorUserId,
    to_group_id: data.toGroupId,
    forward_target: forward
      ? forwardTarget({ user: data.toOperatorUserId, group: data.toGroupId, phone: data.toPhoneNumber })
      : null,
    form_field_set_uuid: data.formFieldSetUUID,
    preview_content_type: data.previewUrl?.contentType,
    original_activity_id: data.previewUrl?.originalActivityId,
    file_id: data.file?.id,
    file_operator_owner: data.file?.operatorOwner,
    file_department_owner: data.file?.departmentOwner,
  });
}

function familyDetail(
  mapping: MluviiMapping,
  data: MluviiData,
): Partial<Detail> & { attributes: Record<string, string> } {
  const session = { source: data.source, mluvii_channel: data.channel };
  switch (mapping.family) {
    case 'session':
    case 'session_operator':
      return { attributes: attrs(session) };
    case 'session_forwarded':
      return {
        attributes: attrs({
          ...session,
          to_user_id: data.userId,
          to_group_id: data.operatorGroupId,
          to_chatbot_id: data.chatbotId,
          forward_target: forwardTarget({ user: data.userId, group: data.operatorGroupId, chatbot: data.chatbotId }),
        }),
      };
    case 'activity': {
      const fields = data.heroCard ?? data.callScript;
      return {
        reason: blankToNull(data.terminationReason),
        count: fields === null || fields === undefined ? null : fields.length,
        attributes: activityAttributes(data, mapping),
      };
    }
    case 'hero_card_submission': {
      const params = data.params;
      return {
        count: isRecord(params) ? Object.keys(params).length : null,
        attributes: attrs({
          result: data.result,
          original_form_id: data.originalFormID,
          submitted_by_client: data.submittedByClient,
        }),
      };
    }
    case 'email_thread':
      return { attributes: attrs({ user_id: data.userId, operator_group_id: data.operatorGroupId }) };
    case 'setting':
      return {
        attributes: attrs({
          setting: data.name,
          company_id: data.companyId,
          operator_group_id: data.operatorGroupId,
          user_id: data.userId,
          routing_rule_set_id: data.routingRuleSetId,
        }),
      };
    case 'user_status':
      return {
        state: data.status ?? null,
        reason: blankToNull(data.availabilityStatusReason),
        attributes: attrs({ availability_status: data.availabilityStatus }),
      };
    case 'av':
      return { state: blankToNull(data.state), attributes: {} };
    case 'session_ref':
    case 'email_operator':
    case 'guest_identity':
      return { attributes: {} };
  }
}

/** Reads the details of a body that fits its family's schema; sessionId is null for events about no session. */
export function readDetails(
  body: MluviiBody,
  mapping: MluviiMapping,
  sessionId: string | null,
  piiKey: string,
): Detail {
  const data = body.data;
  const family = familyDetail(mapping, data);
  return {
    participant: participantOf(mapping, data, sessionId, piiKey),
    reason: family.reason ?? null,
    state: family.state ?? null,
    count: family.count ?? null,
    attributes: { ...family.attributes, ...(mapping.kind === null ? {} : { kind: mapping.kind }) },
  };
}
