/**
 * Realistic Zoom Video SDK sessions as the webhook bodies Zoom would send, for `sessionflow demo`
 * and the end-to-end tests. Every event carries its own time in event_ts and in the payload's
 * time fields, so the facts they give are known in advance.
 */
import { randomBytes } from 'node:crypto';
import type { SessionFact } from '../../lib/canonical.js';
import { microsToIso } from '../../lib/time.js';
import { zoomSignature } from '../providers/zoom.js';

export interface ZoomDelivery {
  event: string;
  body: string;
}

export interface PlannedSession {
  sessionId: string;
  deliveries: ZoomDelivery[];
  /**
   * The facts these deliveries must give (DESIGN section 6). agents and guests: the host (named by the
   * callouts' host_id) and the two guests; wait_seconds: from the start to the host's join;
   * events: the canonical events, one per delivery, and the alert's second issue.
   */
  expected: Pick<
    SessionFact,
    | 'duration_seconds'
    | 'participants'
    | 'agents'
    | 'guests'
    | 'wait_seconds'
    | 'peak_concurrent'
    | 'participant_seconds'
    | 'recordings'
    | 'recording_seconds'
    | 'recording_files'
    | 'recording_bytes'
    | 'shares'
    | 'sharing_seconds'
    | 'alerts'
    | 'events'
  >;
}

const SEC = 1_000_000;

/**
 * A session starting at `startMicros`: host and two guests, one guest drops and rejoins, the
 * host shares their screen for 4 minutes, recording runs 10 minutes with a 2-minute pause,
 * one quality alert with two issues, then the recording arrives after the end.
 */
export function plannedZoomSession(startMicros: number, accountId = 'acc_demo_7Hq2'): PlannedSession {
  const sessionId = `${randomBytes(6).toString('base64url')}==`;
  const sessionName = `support-${sessionId.slice(0, 4).toLowerCase()}`;
  const at = (seconds: number) => startMicros + seconds * SEC;
  const object = { session_id: sessionId, session_name: sessionName, session_key: `ticket-${sessionId.slice(0, 6)}` };
  const users = {
    host: { id: '16778240', name: 'Dana Host', user_key: 'agent-17', participant_uuid: randomBytes(8).toString('hex') },
    g1: { id: '16779264', name: 'Ana Guest', user_key: 'cust-301', participant_uuid: randomBytes(8).toString('hex') },
    g2: { id: '16780288', name: 'Ben Guest', user_key: 'cust-302', participant_uuid: randomBytes(8).toString('hex') },
  };
  const d: ZoomDelivery[] = [];
  const push = (event: string, seconds: number, payloadObject: object) =>
    d.push({
      event,
      body: JSON.stringify({
        event,
        event_ts: Math.floor(at(seconds) / 1000),
        payload: { account_id: accountId, object: { ...object, ...payloadObject } },
      }),
    });
  const iso = (seconds: number) => microsToIso(at(seconds)).replace(/\.\d+Z$/, 'Z');
  const joined = (u: keyof typeof users, s: number) =>
    push('session.user_joined', s, { id: sessionId, user: { ...users[u], join_time: iso(s) } });
  const left = (u: keyof typeof users, s: number, reason: string) =>
    push('session.user_left', s, { id: sessionId, user: { ...users[u], leave_time: iso(s), leave_reason: reason } });
  const recording = (event: string, s: number, segmentStart: number) =>
    push(event, s, {
      start_time: iso(0),
      timezone: 'Europe/Prague',
      recording_file: {
        recording_start: iso(segmentStart),
        recording_end: event.endsWith('started') || event.endsWith('resumed') ? '' : iso(s),
      },
    });

  push('session.started', 0, { start_time: iso(0) });
  joined('host', 5);
  joined('g1', 30);
  joined('g2', 60);
  push('session.sharing_started', 120, {
    id: sessionId,
    user: {
      id: users.host.id,
      name: users.host.name,
      user_key: users.host.user_key,
      sharing_details: { content: 'application', date_time: iso(120) },
    },
  });
  recording('session.recording_started', 180, 180);
  left('g1', 240, 'Network connection error. ');
  push('session.alert', 250, { id: sessionId, issues: ['Unstable audio quality', 'Low Bandwidth'] });
  joined('g1', 270);
  recording('session.recording_paused', 300, 180);
  push('session.sharing_ended', 360, {
    id: sessionId,
    user: {
      id: users.host.id,
      name: users.host.name,
      user_key: users.host.user_key,
      sharing_details: { content: 'application', date_time: iso(360) },
    },
  });
  // The host phones a colleague, who does not pick up. Zoom's callout events name the host (host_id):
  // the only place its user events' host is said, so the fold makes Dana the host from here.
  const callee = { invitee_name: 'Petr Dvořák', phone_number: 420604112233, from_number: 12092592000 };
  push('session.user_phone_callout_ringing', 380, {
    user_key: users.host.user_key,
    host_id: users.host.id,
    participant: callee,
  });
  push('session.user_phone_callout_missed', 410, {
    user_key: users.host.user_key,
    host_id: users.host.id,
    participant: callee,
  });
  recording('session.recording_resumed', 420, 420);
  recording('session.recording_stopped', 900, 420);
  left('g2', 1000, 'left the session');
  left('g1', 1100, 'left the session');
  left('host', 1190, 'the host ended the session');
  push('session.ended', 1200, { start_time: iso(0), end_time: iso(1200) });
  const files = [
    {
      id: randomBytes(8).toString('hex'),
      file_type: 'MP4',
      file_extension: 'MP4',
      file_size: 48_211_000,
      recording_type: 'shared_screen_with_speaker_view',
      status: 'completed',
      recording_start: iso(180),
      recording_end: iso(900),
      file_name: 'recording.mp4',
      download_url: 'https://zoom.example/rec/download/abc',
    },
    {
      id: randomBytes(8).toString('hex'),
      file_type: 'M4A',
      file_extension: 'M4A',
      file_size: 3_912_000,
      recording_type: 'audio_only',
      status: 'completed',
      recording_start: iso(180),
      recording_end: iso(900),
      file_name: 'audio.m4a',
      download_url: 'https://zoom.example/rec/download/def',
    },
  ];
  d.push({
    event: 'session.recording_completed',
    body: JSON.stringify({
      event: 'session.recording_completed',
      event_ts: Math.floor(at(1500) / 1000),
      download_token: `dl_${randomBytes(16).toString('hex')}`,
      payload: {
        account_id: accountId,
        object: { ...object, start_time: iso(0), timezone: 'Europe/Prague', recording_files: files },
      },
    }),
  });

  // Spans: host 5→1190, g1 30→240 and 270→1100, g2 60→1000. Peak: host, g1, g2 (60..240, 270..1000) = 3.
  const participantSeconds = 1185 + 210 + 830 + 940;
  return {
    sessionId,
    deliveries: d,
    expected: {
      duration_seconds: 1200,
      participants: 3,
      agents: 1,
      guests: 2,
      wait_seconds: 5,
      peak_concurrent: 3,
      participant_seconds: participantSeconds,
      recordings: 1,
      recording_seconds: 120 + 480,
      recording_files: 2,
      recording_bytes: 48_211_000 + 3_912_000,
      shares: 1,
      sharing_seconds: 240,
      alerts: 2,
      events: d.length + 1,
    },
  };
}

/** The headers Zoom signs a delivery with. */
export function zoomHeaders(secret: string, body: string, nowMs = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  return {
    'content-type': 'application/json; charset=utf-8',
    'x-zm-request-timestamp': timestamp,
    'x-zm-signature': zoomSignature(secret, timestamp, body),
    'user-agent': 'Zoom Marketplace/1.0a',
  };
}
