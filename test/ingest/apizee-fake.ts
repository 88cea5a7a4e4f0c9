/**
 * A local stand-in for the Apizee REST API as apizee-session-events.md and the providers README
 * describe it: `GET /api/v3/tickets/{ticketId}/events` behind a bearer token (401 without it, 403
 * for a ticket the user may not read, 404 for an unknown one), 10 requests per rolling minute per
 * user (a 429 with X-RateLimit-Reset past it; the window is shorter here so tests are fast).
 *
 * The reference gives the events answer no schema, so the fake serves either shape the client reads:
 * flat items `{ id, eventType, eventCode, conversationId, created, ...attributes }` (by default:
 * not the webhook's body, so the client's rebuilding is what the tests check) or the webhook's body
 * itself, as a bare array or under `data` with a `total`. `limit`/`offset` page it. Tests script
 * failures (500, 429 with headers) and delays.
 *
 * `POST /api/v3/token` as Apizee's Authentication page documents it: query parameters
 * `grant_type=password`, `username`, `password`; `200 {access_token, created_at, expires_in}`
 * (86400 in its example), 401 for other credentials. The events endpoint takes TOKEN (a token got
 * by hand) and every token issued and not yet expired or revoked; token requests count against the
 * same rate limit as the events requests (Apizee's limit is per user across all endpoints).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const TOKEN = 'apizee-token-1';
/** The Apizee user the fake knows (APIZEE_API_USERNAME / APIZEE_API_PASSWORD). */
export const USERNAME = 'reconcile@example.com';
export const PASSWORD = 'pw &=?+ with spaces and %';

/** A webhook body of apizee-session-events.md (conversationevent.create). */
export interface WebhookBody {
  event: string;
  time: number;
  object: string;
  objectId: number;
  props: { eventType: string; eventCode?: number; conversationId?: number; ticketId: number; [key: string]: unknown };
}

export interface EventsRequest {
  ticketId: string;
  limit: number | null;
  offset: number | null;
  status: number;
  /** When the request arrived (epoch ms). */
  at: number;
  /** The bearer token it carried. */
  token: string | null;
}

export interface TokenRequest {
  /** Where each parameter came from: the query string (as documented) or a form body. */
  query: Record<string, string>;
  body: string;
  status: number;
  /** The token issued, when one was. */
  issued: string | null;
  at: number;
}

type Scripted = { status: number; headers?: Record<string, string> };

export interface FakeOptions {
  /** `flat` (default): REST records; `webhook`: the webhook bodies themselves. */
  shape?: 'flat' | 'webhook';
  /** `array` (default): a bare JSON array; `data`: `{ data: [...], total }`. */
  envelope?: 'array' | 'data';
  /** The server's own page cap (the documented default for Apizee lists is 10). */
  maxLimit?: number;
  /** Answers every page from offset 0 (an API that ignores offset). */
  ignoreOffset?: boolean;
  /** The rate limit the fake enforces with 429s: requests per window. */
  limit?: { perWindow: number; windowMs: number };
}

/** The flat REST record of a webhook body: the ticket only in the path, the time as an ISO date. */
export function flatRecord(body: WebhookBody): Record<string, unknown> {
  const { ticketId: _ticket, ...props } = body.props;
  return { id: body.objectId, created: new Date(body.time * 1000).toISOString().replace('.000Z', '+00:00'), ...props };
}

export class FakeApizee {
  /** The webhook bodies of each ticket's timeline, in order. */
  readonly tickets = new Map<string, WebhookBody[]>();
  readonly forbidden = new Set<string>();
  readonly requests: EventsRequest[] = [];
  /** What the events endpoint answers next, before it looks at anything else. */
  readonly script: Scripted[] = [];
  /** What the token endpoint answers next, before it looks at anything else. */
  readonly tokenScript: Scripted[] = [];
  readonly tokenRequests: TokenRequest[] = [];
  /** expires_in of the tokens issued, seconds (Apizee's example: a day). */
  expiresIn: number = 86400;
  /** Answer the events endpoint 401 even for valid tokens (a user without API access). */
  refuseEveryToken = false;
  delayMs = 0;
  /** Issued tokens still valid, with when they expire (epoch ms). */
  private readonly valid = new Map<string, number>();
  private issuedCount = 0;
  private readonly server: Server;
  private readonly arrivals: number[] = [];

  constructor(private readonly options: FakeOptions = {}) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  add(ticketId: string, ...events: WebhookBody[]): void {
    this.tickets.set(ticketId, [...(this.tickets.get(ticketId) ?? []), ...events]);
  }

  /** Every token issued so far, in order. */
  get issued(): string[] {
    return this.tokenRequests.flatMap((r) => (r.issued === null ? [] : [r.issued]));
  }

  /** Apizee forgets every token it issued (they expired or were revoked): the next use is answered 401. */
  expireTokens(): void {
    this.valid.clear();
  }

  /** Requests answered 429 (by the fake's own limit or by the script). */
  get rateLimited(): number {
    return this.requests.filter((r) => r.status === 429).length;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname === '/api/v3/token') return this.token(req, res, url, at);
    const match = /^\/api\/v3\/tickets\/([^/]+)\/events$/.exec(url.pathname);
    if (req.method !== 'GET' || !match)
      return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"No route"}');
    const ticketId = decodeURIComponent(match[1]!);
    const number = (name: string) => (url.searchParams.has(name) ? Number(url.searchParams.get(name)) : null);
    const limit = number('limit');
    const offset = number('offset');
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? null;
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ ticketId, limit, offset, status, at, token: bearer });
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));

    const limited = this.rateLimited429(at);
    if (limited) return answer(429, { message: 'Too Many Requests' }, limited);
    const scripted = this.script.shift();
    if (scripted) return answer(scripted.status, { message: 'scripted' }, scripted.headers);
    const known = bearer === TOKEN || (bearer !== null && (this.valid.get(bearer) ?? 0) > at);
    if (!known || (this.refuseEveryToken && bearer !== TOKEN))
      return answer(401, { code: 401, message: 'Unauthorized' });
    if (this.forbidden.has(ticketId)) return answer(403, { code: 403, message: 'Forbidden' });
    const events = this.tickets.get(ticketId);
    if (events === undefined) return answer(404, { code: 404, message: 'Not found' });

    const cap = Math.min(limit ?? 10, this.options.maxLimit ?? Infinity);
    const from = this.options.ignoreOffset ? 0 : (offset ?? 0);
    const items = events.slice(from, from + cap).map((e) => (this.options.shape === 'webhook' ? e : flatRecord(e)));
    answer(200, this.options.envelope === 'data' ? { data: items, total: events.length } : items);
  }

  /** The rate limit's 429 headers when this arrival is over it; the arrival counts otherwise. */
  private rateLimited429(at: number): Record<string, string> | undefined {
    const window = this.options.limit;
    if (!window) return undefined;
    const recent = this.arrivals.filter((t) => t > at - window.windowMs);
    if (recent.length >= window.perWindow)
      return { 'x-ratelimit-reset': String(Math.ceil((recent[0]! + window.windowMs) / 1000)) };
    this.arrivals.push(at);
    return undefined;
  }

  private async token(req: IncomingMessage, res: ServerResponse, url: URL, at: number): Promise<void> {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    const query = Object.fromEntries(url.searchParams);
    const answer = (
      status: number,
      json: unknown,
      headers: Record<string, string> = {},
      issued: string | null = null,
    ) => {
      this.tokenRequests.push({ query, body, status, issued, at });
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(json));
    };
    if (req.method !== 'POST') return answer(405, { message: 'Method Not Allowed' });
    const limited = this.rateLimited429(at);
    if (limited) return answer(429, { message: 'Too Many Requests' }, limited);
    const scripted = this.tokenScript.shift();
    if (scripted) return answer(scripted.status, { message: 'scripted' }, scripted.headers);
    if (query.grant_type !== 'password') return answer(400, { code: 400, message: 'grant_type' });
    if (query.username !== USERNAME || query.password !== PASSWORD)
      return answer(401, { code: 401, message: 'Bad credentials' });
    const token = `issued-${++this.issuedCount}-eyJ0eXAiOiJKV1QiLCJhbGc`;
    this.valid.set(token, at + this.expiresIn * 1000);
    answer(
      200,
      {
        access_token: token,
        created_at: new Date(at).toISOString().replace('Z', '+00:00'),
        expires_in: this.expiresIn,
      },
      {},
      token,
    );
  }
}
