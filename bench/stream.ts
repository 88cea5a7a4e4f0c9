/**
 * An endless stream of webhook deliveries as the providers send them, for the benchmark's load.
 *
 * Zoom Video SDK carries most of the traffic: `zoomOpen` sessions (500 by default) are open at
 * once, each the planned session of ingest/demo/zoom.ts (start, joins, a drop and rejoin, sharing,
 * recording with a pause, an alert, leaves, end, the recording after the end). A few mluvii
 * chats and Apizee tickets run beside them (ingest/demo/mluvii.ts, ingest/demo/apizee.ts). Each step
 * picks one open session at random and sends its next delivery, so sessions interleave as they do
 * in production; a session whose deliveries are all sent is replaced by a new one. Every delivery
 * is a distinct event (new session ids, participant ids and object ids for every session).
 *
 * Every session starts 20 minutes before it is made, so the event times it states (up to
 * 1200 s after its start) are in the recent past, as they are when a provider delivers them.
 */
import { plannedApizeeSession, apizeeHeaders } from '../ingest/demo/apizee.js';
import { plannedMluviiSession, mluviiHeaders } from '../ingest/demo/mluvii.js';
import { plannedZoomSession, zoomHeaders } from '../ingest/demo/zoom.js';
import type { Micros } from '../lib/time.js';

export type Provider = 'zoom' | 'apizee' | 'mluvii';

export interface Credentials {
  zoomSecret: string;
  apizeeSecret: string;
  mluviiUser: string;
  mluviiPassword: string;
}

export interface Delivery {
  provider: Provider;
  /** The route, e.g. /webhooks/zoom. */
  path: string;
  body: string;
  /** The session this delivery belongs to. */
  sessionKey: string;
}

export interface MixOptions {
  /** Zoom sessions open at once (500). */
  zoomOpen: number;
  /** mluvii chats open at once (40). */
  mluviiOpen: number;
  /** Apizee tickets open at once (20). */
  apizeeOpen: number;
}

export const DEFAULT_MIX: MixOptions = { zoomOpen: 500, mluviiOpen: 40, apizeeOpen: 20 };

/** One session's deliveries, in the order the provider sends them. */
interface OpenSession {
  provider: Provider;
  sessionKey: string;
  bodies: string[];
  next: number;
}

const LEAD_MICROS = 1200 * 1_000_000;

export function newSession(provider: Provider, now: Micros = Date.now() * 1000): OpenSession {
  const start = now - LEAD_MICROS;
  switch (provider) {
    case 'zoom': {
      const s = plannedZoomSession(start, 'acc_bench_1');
      return { provider, sessionKey: `zoom:${s.sessionId}`, bodies: s.deliveries.map((d) => d.body), next: 0 };
    }
    case 'mluvii': {
      const s = plannedMluviiSession(start);
      return { provider, sessionKey: s.sessionKey, bodies: s.deliveries.map((d) => d.body), next: 0 };
    }
    case 'apizee': {
      const s = plannedApizeeSession(start);
      return { provider, sessionKey: s.sessionKey, bodies: s.deliveries.map((d) => d.body), next: 0 };
    }
  }
}

export class DeliveryStream {
  private readonly open: OpenSession[] = [];
  /** Sessions started so far (the first pool included). */
  sessionsStarted = 0;

  constructor(mix: MixOptions = DEFAULT_MIX) {
    const add = (provider: Provider, n: number) => {
      for (let i = 0; i < n; i++) this.open.push(this.start(provider));
    };
    add('zoom', mix.zoomOpen);
    add('mluvii', mix.mluviiOpen);
    add('apizee', mix.apizeeOpen);
    if (this.open.length === 0) throw new Error('the mix has no open session');
  }

  private start(provider: Provider): OpenSession {
    this.sessionsStarted++;
    return newSession(provider);
  }

  next(): Delivery {
    const i = Math.floor(Math.random() * this.open.length);
    let session = this.open[i]!;
    if (session.next >= session.bodies.length) {
      session = this.start(session.provider);
      this.open[i] = session;
    }
    const body = session.bodies[session.next++]!;
    return { provider: session.provider, path: `/webhooks/${session.provider}`, body, sessionKey: session.sessionKey };
  }
}

/** The headers a provider sends with `body`: Zoom signs with a fresh timestamp, Apizee sends its secret, mluvii basic auth. */
export function headersFor(
  provider: Provider,
  body: string,
  credentials: Credentials,
  nowMs = Date.now(),
): Record<string, string> {
  switch (provider) {
    case 'zoom':
      return zoomHeaders(credentials.zoomSecret, body, nowMs);
    case 'apizee':
      return apizeeHeaders(credentials.apizeeSecret);
    case 'mluvii':
      return mluviiHeaders(credentials.mluviiUser, credentials.mluviiPassword);
  }
}

/** A Zoom `session.started` of a new session: the benchmark's freshness marker. */
export function markerDelivery(sessionId: string, now: Micros = Date.now() * 1000): Delivery {
  const iso = new Date(Math.floor(now / 1000)).toISOString().replace(/\.\d+Z$/, 'Z');
  const body = JSON.stringify({
    event: 'session.started',
    event_ts: Math.floor(now / 1000),
    payload: {
      account_id: 'acc_bench_marker',
      object: { session_id: sessionId, session_name: 'bench-marker', session_key: sessionId, start_time: iso },
    },
  });
  return { provider: 'zoom', path: '/webhooks/zoom', body, sessionKey: `zoom:${sessionId}` };
}
