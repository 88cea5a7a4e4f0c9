/**
 * A realistic mluvii session as the webhook bodies mluvii would send (shared/providers/
 * mluvii-webhooks.md, one `{eventType, data}` per request), for `sessionflow demo` and the
 * end-to-end tests. Times are Europe/Prague wall-clock with their offset and six fraction digits,
 * some with the colon before the fraction the session life-cycle table shows, so the facts they
 * give are known to the microsecond. The client's name, e-mail and phone (a HeroCard they fill
 * in), the second operator's name and a file name are made up but look real: the raw archive
 * keeps them, the canonical events and facts must not.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { mluviiAuthorization } from '../providers/mluvii.js';
import type { Micros } from '../../lib/time.js';
import type { PlannedFacts } from './apizee.js';

export interface MluviiDelivery {
  /** eventType */
  event: string;
  body: string;
}

export interface PlannedMluviiSession {
  sessionKey: string;
  sessionId: number;
  deliveries: MluviiDelivery[];
  /** The facts these deliveries must give. */
  expected: PlannedFacts;
  /**
   * Their times, UTC microseconds. SessionCreated states no time (it is stamped when received),
   * so created_at is started_at and last_event_at depends on the delivery: not planned.
   */
  times: { created_at: Micros; started_at: Micros; ended_at: Micros; first_event_at: Micros };
  /** Every personal value the bodies carry: never in an event or fact. */
  personal: string[];
}

const GUESTS = [
  { name: 'Tereza Malíková', email: 'tereza.malikova@example.cz', phone: '+420 603 218 447' },
  { name: 'Jakub Procházka', email: 'jakub.prochazka@example.cz', phone: '+420 736 904 512' },
  { name: 'Lucie Horáková', email: 'lucie.horakova@example.com', phone: '+420 777 410 268' },
] as const;

const OPERATORS = ['Kateřina Dvořáková', 'Martin Svoboda', 'Petra Novotná'] as const;

const pick = <T>(items: readonly T[]): T => items[randomInt(items.length)]!;

// mluvii's ids: one sequence per process, started at random, so sessions never collide.
let nextSessionId = randomInt(7_000_000, 900_000_000);
let nextActivityId = randomInt(50_000_000, 1_500_000_000);

const PRAGUE = new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/Prague', timeZoneName: 'longOffset' });

/**
 * A UTC instant as mluvii writes it: Prague wall-clock time, six fraction digits, the offset;
 * `colon` puts a colon before the fraction, as the session life-cycle table does:
 *   "2024-05-02T16:05:24.454661+02:00"   "2024-05-02T08:58:58:888364+02:00"
 */
export function mluviiTime(micros: Micros, colon = false): string {
  const ms = Math.floor(micros / 1000);
  const zone = PRAGUE.formatToParts(new Date(ms)).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /^GMT([+-])(\d{2}):(\d{2})$/.exec(zone);
  const offsetMinutes = m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
  const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 19);
  const fraction = String(micros - Math.floor(micros / 1e6) * 1e6).padStart(6, '0');
  const offset = m ? `${m[1]}${m[2]}:${m[3]}` : '+00:00';
  return `${local}${colon ? ':' : '.'}${fraction}${offset}`;
}

/** Every field a session activity body has, null unless the activity sets it (as in the documented examples). */
const ACTIVITY_FIELDS = {
  heroCard: null,
  heroCardParams: null,
  callScript: null,
  client: null,
  text: null,
  previewUrl: null,
  file: null,
  associatedSharedFileUrl: null,
  toOperatorUserId: null,
  toOperatorFullName: null,
  toGroupId: null,
  toGroupName: null,
  toPhoneNumber: null,
  note: null,
  chatbotMessageContent: null,
  submissionIdentification: null,
  userId: null,
  chatbotId: null,
  chatbotHeroCardSubmissionKey: null,
  chatbotHeroCardSubmissionValue: null,
  formFieldSetUUID: null,
  terminationReason: null,
};

const SEC = 1_000_000;

/**
 * A web chat starting at `startMicros`: it waits 42.467643 s in the queue for the first
 * operator, who asks for the client's contact details with a HeroCard (the client fills it in),
 * upgrades the chat to audio/video for 3 minutes with 45.5 s on hold, and forwards the session
 * to a second operator; the first is concluded (forwarded away, never "left"). The second shares
 * a file, ends the session (SessionOperatorLeft) and concludes after 162.872865 s of after-call work.
 */
export function plannedMluviiSession(startMicros: Micros, tenantId = 318): PlannedMluviiSession {
  const start = Math.floor(startMicros);
  const sessionId = nextSessionId++;
  const first = randomInt(1_000, 9_000);
  const second = first + randomInt(1, 900);
  const guest = pick(GUESTS);
  const secondName = pick(OPERATORS);
  const fileName = `reklamace_${guest.name
    .split(' ')[1]!
    .normalize('NFD')
    .replace(/[^A-Za-z]/g, '')}_faktura.pdf`;
  const at = (micros: number) => start + micros;
  const session = { id: sessionId, tenantId, channel: 'Chat', source: 'Default' };

  const deliveries: MluviiDelivery[] = [];
  const push = (eventType: string, data: Record<string, unknown>) =>
    deliveries.push({ event: eventType, body: JSON.stringify({ eventType, data }) });
  const lifecycle = (eventType: string, offset: number, extra: Record<string, unknown> = {}, colon = false) =>
    push(eventType, { ...session, ...extra, time: mluviiTime(at(offset), colon) });
  const activity = (eventType: string, offset: number, fields: Record<string, unknown>) =>
    push(eventType, {
      sessionId,
      activityId: nextActivityId++,
      time: mluviiTime(at(offset)),
      type: eventType.replace(/^SessionActivity/, ''),
      ...ACTIVITY_FIELDS,
      ...fields,
    });
  const av = (eventType: string, offset: number) =>
    push(eventType, { sessionId, operatorId: first, time: mluviiTime(at(offset)) });

  const ended = 905_965_191;
  push('SessionCreated', session);
  push('SessionStarted', { ...session, started: mluviiTime(at(0), true) });
  activity('SessionActivityWelcomeMessage', 131_027, {
    text: 'Dobrý den, vítejte na zákaznické lince. S čím vám můžeme pomoci?',
  });
  lifecycle('SessionOperatorJoined', 42_467_643, { userId: first }, true);
  const heroCard = [
    { inputType: 'RichText', label: '<p>Pro založení reklamace prosím vyplňte své kontaktní údaje.</p>', ordinal: 1 },
    { inputType: 'Text', label: 'Jméno', key: 'oo1_guest_ident', required: true, ordinal: 2 },
    { inputType: 'Text', label: 'E-mail', key: 'oo1_guest_email', required: true, ordinal: 3 },
    { inputType: 'Text', label: 'Telefon', key: 'oo1_guest_phone', required: false, ordinal: 4 },
    { inputType: 'Confirmation', label: 'Odeslat', ordinal: 5 },
  ];
  activity('SessionActivityHeroCard', 55_200_000, {
    heroCard,
    client: 'User',
    userId: first,
    formFieldSetUUID: randomUUID(),
  });
  push('SessionActivityHeroCardSubmission', {
    sessionId,
    result: 'Submitted',
    originalFormID: randomInt(1_000, 9_999),
    submittedByClient: true,
    params: { oo1_guest_ident: guest.name, oo1_guest_email: guest.email, oo1_guest_phone: guest.phone },
    time: mluviiTime(at(98_750_000)),
  });
  av('SessionActivityAvRequest', 120 * SEC);
  activity('SessionActivityOnHold', 150_250_000, { client: 'User', userId: first });
  activity('SessionActivityResumeGuest', 195_750_000, { client: 'User', userId: first });
  av('SessionActivityAvTerminated', 300 * SEC);
  activity('SessionActivitySessionForwarded', 330_568_252, {
    client: 'User',
    userId: first,
    toOperatorUserId: second,
    toOperatorFullName: secondName,
  });
  lifecycle('SessionForwarded', 330_568_252, { userId: second, operatorGroupId: null, chatbotId: null }, true);
  lifecycle('SessionOperatorConcluded', 330_600_000, { userId: first });
  lifecycle('SessionOperatorJoined', 347_100_000, { userId: second });
  activity('SessionActivitySharedFile', 420_400_000, {
    client: 'User',
    userId: second,
    file: {
      id: randomInt(2_000_000, 9_000_000),
      operatorOwner: second,
      departmentOwner: null,
      name: fileName,
      downloadUrl: null,
      isUploading: false,
      isDeleted: false,
    },
  });
  activity('SessionActivitySessionEnded', ended, { client: 'User', userId: second, terminationReason: 'OperatorLeft' });
  push('SessionEnded', { ...session, started: mluviiTime(at(0)), ended: mluviiTime(at(ended), true) });
  lifecycle('SessionOperatorLeft', ended, { userId: second }, true);
  lifecycle('SessionOperatorConcluded', 1_068_838_056, { userId: second }, true);

  // Derived by hand from DESIGN section 6:
  // - duration: SessionStarted → SessionEnded, 905.965191 s; wait (queue): first operator's join, 42.467643 s.
  // - spans: first operator 42.467643 → 330.6 (concluded when forwarded away: 288.132357 s),
  //   second 347.1 → 905.965191 (558.865191 s); they never overlap: peak 1. The client has
  //   no join or leave in mluvii's events, so no span, but takes part (the HeroCard it submitted).
  // - hold 150.25 → 195.75; audio/video 120 → 300; after-call work: the second operator left at
  //   905.965191 and concluded at 1068.838056 (162.872865 s); the first never left: none.
  // - one forward (SessionForwarded; its timeline twin SessionActivitySessionForwarded is not
  //   counted again), one message (welcome; the HeroCard is a form, not a message), one file; 19 bodies, 19 events.
  return {
    sessionKey: `mluvii:${sessionId}`,
    sessionId,
    deliveries,
    expected: {
      session_key: `mluvii:${sessionId}`,
      provider: 'mluvii',
      account_id: String(tenantId),
      session_id: String(sessionId),
      channel: 'chat',
      name: null,
      status: 'ended',
      duration_seconds: 905.965191,
      wait_seconds: 42.467643,
      participants: 3,
      agents: 2,
      guests: 1,
      peak_concurrent: 1,
      participant_seconds: 846.997548,
      consent: 'unknown',
      camera_allowed: null,
      microphone_allowed: null,
      geolocation_allowed: null,
      recordings: 0,
      recording_seconds: 0,
      recording_files: 0,
      recording_bytes: 0,
      shares: 0,
      sharing_seconds: 0,
      hold_seconds: 45.5,
      av_seconds: 180,
      wrap_up_seconds: 162.872865,
      media_captures: 0,
      ocr_scans: 0,
      files_shared: 1,
      messages: 1,
      forwards: 1,
      alerts: 0,
      survey_score: null,
      end_reason: 'OperatorLeft',
      events: 19,
      unknown_events: 0,
      conversations: 0,
      products_added: 0,
      products_removed: 0,
    },
    times: { created_at: at(0), started_at: at(0), ended_at: at(ended), first_event_at: at(0) },
    personal: [
      guest.name,
      ...guest.name.split(' '),
      guest.email,
      guest.phone,
      secondName,
      ...secondName.split(' '),
      fileName,
    ],
  };
}

/** The headers of a mluvii webhook whose callback URL carries `user:password@` (RFC 7617 basic auth). */
export function mluviiHeaders(user: string, password: string): Record<string, string> {
  return { 'content-type': 'application/json; charset=utf-8', authorization: mluviiAuthorization(user, password) };
}
