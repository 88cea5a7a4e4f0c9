/**
 * Apizee's payloads, as they really arrive: each oddity is one small function whose comment
 * quotes the input it handles (shared/providers/apizee-session-events.md and README.md).
 * Table-tested in test/processors/adapters/apizee.test.ts.
 */
import { blankToNull, idText } from '../../../lib/json-values.js';

export interface ApizeePerson {
  id?: number | string | null;
  email?: string | null;
  phone?: string | null;
}

/**
 * People come without a user id, only as contact details:
 *   "agent": { "email": "john.doe@apizee.com", "phone": "+3316565454", "firstname": "John", "lastname": "Doe" }
 *   "requestor": { "email": "", "phone": "0605040302", ... }
 * (a ticket needs "Recipient phone numbers ... required field if no email provided", so a
 * requestor invited by SMS only has no e-mail).
 * The pseudonym's input is the user id when one is sent, else the e-mail (trimmed, lower-case),
 * else the phone number without spaces, dots, dashes or brackets; null when there is none of
 * them. Only the id is ever emitted (as provider_user_id); the rest is only hashed.
 */
export function personIdentifier(person: ApizeePerson): string | null {
  const id = idText(person.id);
  if (id !== null) return id;
  const email = blankToNull(person.email);
  if (email !== null) return email.toLowerCase();
  const phone = blankToNull(person.phone)?.replace(/[\s.\-()]/g, '') ?? '';
  return phone === '' ? null : phone;
}

/**
 * A person record with nothing to tell who it is ("email": "", "phone": "") is still the
 * ticket's agent or requestor: a requestor is one per ticket (multi-participant tickets aside),
 * so the ticket and the role stand in for the identity.
 */
export function fallbackIdentifier(ticketId: string, subject: 'agent' | 'requestor'): string {
  return `ticket:${ticketId}:${subject}`;
}

const SURVEY_SCORES: ReadonlyMap<string, number> = new Map([
  ['not satisfied', 1],
  ['satisfied', 2],
  ['very satisfied', 3],
]);

/**
 * Survey answers are labels, not numbers:
 *   "answer": "Not satisfied" //Not satisfied, Satisfied, Very satisfied
 * scored 1, 2, 3 (DESIGN section 6), whatever the case or spacing ("very  Satisfied "). Any
 * other answer (blank, another label) has no score: null, and the fold leaves it out.
 */
export function surveyScore(answer: string | null | undefined): number | null {
  const label = blankToNull(answer)?.toLowerCase().replace(/\s+/g, ' ');
  return label === undefined ? null : (SURVEY_SCORES.get(label) ?? null);
}

/**
 * The reference spells its types in mixed case, one of them against its siblings' pattern:
 *   "ticket.invitationClicked", "ticket.invitationNotclicked", "media.OCRDone", "geo.ansAllowed"
 * An exact match wins; otherwise a match ignoring case ("ticket.invitationNotClicked" is
 * the same type). provider_type always keeps what was sent.
 */
export function lookupType<T>(table: ReadonlyMap<string, T>, eventType: string): T | undefined {
  const exact = table.get(eventType);
  if (exact !== undefined) return exact;
  const wanted = eventType.toLowerCase();
  for (const [type, value] of table) if (type.toLowerCase() === wanted) return value;
  return undefined;
}

/**
 * Apizee names its webhooks `<object>.<event>`; the one documented here is
 *   { "event": "create", "object": "conversationevent", "objectId": 1266, "props": { "eventType": ... } }
 * A body about another object (a webhook of the Apizee settings we do not map, with no
 * props.eventType) is named by its own object and event, for example "ticket.update", and kept
 * as provider.other. Null for a conversation event (or a body that names no object).
 */
export function foreignObjectType(body: { event?: unknown; object?: unknown }): string | null {
  const object = typeof body.object === 'string' ? blankToNull(body.object) : null;
  if (object === null || object === 'conversationevent') return null;
  const event = typeof body.event === 'string' ? blankToNull(body.event) : null;
  return event === null ? object : `${object}.${event}`;
}
