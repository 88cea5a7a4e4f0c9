/**
 * A realistic Apizee ticket as the `conversationevent.create` webhook bodies Apizee would send
 * (shared/providers/apizee-session-events.md), for `sessionflow demo` and the end-to-end tests.
 * Every body carries its own `time` (Unix seconds), so the facts they give are known in advance.
 * The people are made up, but their names, e-mails, phones, position and OCR'd text look real:
 * the raw archive keeps them, the canonical events and facts must not.
 */
import { randomInt } from 'node:crypto';
import type { SessionFact } from '../../lib/canonical.js';
import type { Micros } from '../../lib/time.js';

export interface ApizeeDelivery {
  /** props.eventType */
  event: string;
  body: string;
}

/** The facts of DESIGN section 6 that do not depend on when the deliveries arrive. */
export type PlannedFacts = Omit<
  SessionFact,
  'created_at' | 'started_at' | 'ended_at' | 'first_event_at' | 'last_event_at' | 'updated_at'
>;

export interface PlannedApizeeSession {
  sessionKey: string;
  ticketId: number;
  deliveries: ApizeeDelivery[];
  /** The facts these deliveries must give. */
  expected: PlannedFacts;
  /** Their times, UTC microseconds. */
  times: Pick<SessionFact, 'created_at' | 'started_at' | 'ended_at' | 'first_event_at' | 'last_event_at'>;
  /** Every personal value the bodies carry (names, e-mails, phones, position, OCR text, feedback): never in an event or fact. */
  personal: string[];
}

interface Person {
  email: string;
  phone: string;
  firstname: string;
  lastname: string;
}

const AGENTS: readonly Person[] = [
  {
    email: 'julien.moreau@assistance.example.com',
    phone: '+33 2 98 41 22 10',
    firstname: 'Julien',
    lastname: 'Moreau',
  },
  {
    email: 'sophie.lebrun@assistance.example.com',
    phone: '+33 2 98 41 22 17',
    firstname: 'Sophie',
    lastname: 'Lebrun',
  },
  { email: 'karim.haddad@assistance.example.com', phone: '+33 2 98 41 22 31', firstname: 'Karim', lastname: 'Haddad' },
];

const REQUESTORS: ReadonlyArray<Person & { street: string; geoloc: { lat: number; lng: number } }> = [
  {
    email: 'camille.martin@example.org',
    phone: '06 12 48 73 95',
    firstname: 'Camille',
    lastname: 'Martin',
    street: '12 rue de Siam, 29200 Brest',
    geoloc: { lat: 48.3904716, lng: -4.4860088 },
  },
  {
    email: 'yann.le-goff@example.net',
    phone: '07 81 22 09 64',
    firstname: 'Yann',
    lastname: 'Le Goff',
    street: '4 impasse des Mouettes, 22700 Perros-Guirec',
    geoloc: { lat: 48.8146272, lng: -3.4439311 },
  },
  {
    email: 'ines.carvalho@example.org',
    phone: '06 55 30 17 42',
    firstname: 'Inès',
    lastname: 'Carvalho',
    street: '87 boulevard Voltaire, 75011 Paris',
    geoloc: { lat: 48.8583201, lng: 2.3786523 },
  },
];

const pick = <T>(items: readonly T[]): T => items[randomInt(items.length)]!;

// Apizee's ids are sequences of its own: one per process, started at random so that two demo
// runs (or two test files) never send the same ticket or the same objectId.
let nextTicketId = randomInt(100_000, 900_000_000);
let nextConversationId = randomInt(100_000, 900_000_000);
let nextObjectId = randomInt(1_000_000, 1_000_000_000);
let nextMediaId = randomInt(1_000_000, 900_000_000);
let nextAnswerId = randomInt(10_000, 900_000_000);

/**
 * A ticket created at `startMicros` (whole seconds: Apizee's `time`): the agent creates it and
 * has it assigned, invites the requestor, who clicks the link, accepts the invitation and the
 * consent; the video session starts, the agent and then the requestor join, the requestor allows
 * camera and microphone and shares their position; the agent takes a picture of the boiler's
 * plate, sends it, runs OCR on it; the requestor leaves, then the agent; the requestor answers
 * the two-question survey; the agent completes and closes the ticket.
 */
export function plannedApizeeSession(startMicros: Micros): PlannedApizeeSession {
  const t0 = Math.floor(startMicros / 1e6);
  const ticketId = nextTicketId++;
  const conversationId = nextConversationId++;
  const mediaId = nextMediaId++;
  const agent = pick(AGENTS);
  const { street, geoloc, ...requestor } = pick(REQUESTORS);
  const serial = `21${String(randomInt(10 ** 9, 10 ** 10))}${String(randomInt(10 ** 5, 10 ** 6))}`;
  const ocrLines = [
    'SAUNIER DUVAL ThemaPlus Condens F25',
    `N° série ${serial}`,
    `Client : ${requestor.firstname} ${requestor.lastname}`,
    street,
  ];
  const feedback = `Merci ${agent.firstname}, la chaudière redémarre. Rappelez-moi au ${requestor.phone} si besoin.`;

  const deliveries: ApizeeDelivery[] = [];
  const push = (
    seconds: number,
    eventType: string,
    eventCode: number,
    props: Record<string, unknown> = {},
    inConversation = true,
  ) =>
    deliveries.push({
      event: eventType,
      body: JSON.stringify({
        event: 'create',
        time: t0 + seconds,
        object: 'conversationevent',
        objectId: nextObjectId++,
        props: { eventType, eventCode, ...(inConversation ? { conversationId } : {}), ticketId, ...props },
      }),
    });
  const byAgent = { agent };
  const byRequestor = { requestor };

  push(0, 'ticket.new', 1, byAgent, false);
  push(12, 'ticket.assigned', 3, byAgent, false);
  push(40, 'ticket.invitationSent', 10, byRequestor);
  push(190, 'ticket.invitationClicked', 15, byRequestor);
  push(200, 'ticket.invitationAccepted', 12, byRequestor);
  push(205, 'consent.accepted', 20);
  push(230, 'ticket.sessionStarted', 21);
  push(232, 'session.agentContacted', 30, byAgent);
  push(236, 'session.established', 22, byRequestor);
  push(238, 'mediaDevice.cameraAllowed', 26, byRequestor);
  push(238, 'mediaDevice.micAllowed', 28, byRequestor);
  push(245, 'geo.ansAllowed', 23, { geoloc });
  push(410, 'media.pictureTaken', 40, { mediaId });
  push(412, 'media.pictureSent', 42, { mediaId });
  push(530, 'media.OCRDone', 41, { text: ocrLines.join('\n') });
  push(1010, 'session.userLeft', 32, byRequestor);
  push(1015, 'session.agentLeft', 31, byAgent);
  push(1050, 'survey.answered', 50, {
    ...byRequestor,
    surveyAnswer: {
      questions: [
        {
          id: nextAnswerId++,
          label: { fr: 'Le technicien a-t-il résolu votre problème ?', en: 'Did the technician solve your problem?' },
          answer: 'Very satisfied',
        },
        {
          id: nextAnswerId++,
          label: { fr: 'La qualité de la vidéo était-elle suffisante ?', en: 'Was the video quality good enough?' },
          answer: 'Satisfied',
        },
      ],
      feedback,
    },
  });
  push(1090, 'ticket.completed', 4, byAgent, false);
  push(1200, 'ticket.closed', 5, byAgent, false);

  // Derived by hand from DESIGN section 6:
  // - started_at: ticket.sessionStarted (230); ended_at: the ticket is closed, so the last leave
  //   that counts, the agent's (1015): 785 s; wait: agent joined 2 s after the start.
  // - spans: agent 232→1015 (783 s), requestor 236→1010 (774 s): peak 2.
  // - canonical events: ticket.new, invitationSent, sessionStarted and closed each add a
  //   ticket.state_changed (new, invited, inprogress, closed), the survey one survey.answered
  //   per question: 20 bodies, 25 events.
  return {
    sessionKey: `apizee:${ticketId}`,
    ticketId,
    deliveries,
    expected: {
      session_key: `apizee:${ticketId}`,
      provider: 'apizee',
      account_id: null,
      session_id: String(ticketId),
      channel: 'ticket',
      name: null,
      status: 'closed',
      duration_seconds: 785,
      wait_seconds: 2,
      participants: 2,
      agents: 1,
      guests: 1,
      peak_concurrent: 2,
      participant_seconds: 783 + 774,
      consent: 'accepted',
      camera_allowed: true,
      microphone_allowed: true,
      geolocation_allowed: true,
      recordings: 0,
      recording_seconds: 0,
      recording_files: 0,
      recording_bytes: 0,
      shares: 0,
      sharing_seconds: 0,
      hold_seconds: 0,
      av_seconds: 0,
      wrap_up_seconds: null,
      media_captures: 1,
      ocr_scans: 1,
      files_shared: 0,
      messages: 0,
      forwards: 0,
      alerts: 0,
      survey_score: (3 + 2) / 2,
      end_reason: 'agentLeft',
      events: 25,
      unknown_events: 0,
      conversations: 1,
      products_added: 0,
      products_removed: 0,
    },
    times: {
      created_at: t0 * 1e6,
      started_at: (t0 + 230) * 1e6,
      ended_at: (t0 + 1015) * 1e6,
      first_event_at: t0 * 1e6,
      last_event_at: (t0 + 1200) * 1e6,
    },
    personal: [
      ...[agent, requestor].flatMap((p) => [p.email, p.phone, p.firstname, p.lastname]),
      String(geoloc.lat),
      String(geoloc.lng),
      ...ocrLines,
      serial,
      feedback,
    ],
  };
}

/** The headers of an Apizee webhook: JSON, and the shared secret in the header we require (APIZEE_WEBHOOK_HEADER). */
export function apizeeHeaders(secret: string, headerName = 'x-webhook-secret'): Record<string, string> {
  return { 'content-type': 'application/json', [headerName.toLowerCase()]: secret };
}
