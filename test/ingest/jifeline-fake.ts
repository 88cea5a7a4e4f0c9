/**
 * A local stand-in for the Jifeline Partner API and Partner Websockets API, as their references
 * describe them: an OAuth2 client-credentials token endpoint (form-encoded, `expires_in`), `GET
 * /v2/system/events` with `after_id` and `limit` over ULID-sorted events answering
 * `{query, result}`, and a websocket taking `subscribe-to-event` and pushing `event-received`
 * frames. Tests script failures (500, 429 with headers, delays), revoke tokens and drop sockets.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface FakeEvent {
  id: string;
  type: string;
  occurred_at: string;
  payload: { ticket: { id: string; ticket_number?: number }; customer?: { id: string; name: string } };
}

export interface EventsRequest {
  afterId: string | null;
  limit: number;
  status: number;
  at: number;
}

type Scripted = { status: number; headers?: Record<string, string> };

export const CLIENT = { id: 'client-1', secret: 'secret-1' };

export class FakeJifeline {
  readonly events: FakeEvent[] = [];
  readonly requests: EventsRequest[] = [];
  /** What the events endpoint answers next, before it looks at anything else. */
  readonly script: Scripted[] = [];
  tokenRequests = 0;
  /** expires_in of the tokens issued from now on. */
  expiresIn = 3600;
  /** Delay before the events endpoint answers. */
  delayMs = 0;
  connections = 0;
  readonly subscriptions: Array<Set<string>> = [];
  private readonly tokens = new Map<string, { expiresAtMs: number; revoked: boolean }>();
  private readonly sockets = new Map<WebSocket, Set<string>>();
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private issued = 0;

  constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.wss = new WebSocketServer({
      server: this.server,
      path: '/wssprd',
      verifyClient: (info, done) =>
        this.valid(info.req.headers.authorization) ? done(true) : done(false, 401, 'Unauthorized'),
    });
    this.wss.on('connection', (ws) => {
      this.connections++;
      const subscribed = new Set<string>();
      this.subscriptions.push(subscribed);
      this.sockets.set(ws, subscribed);
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as { action: string; event_type: string };
        if (frame.action === 'subscribe-to-event') subscribed.add(frame.event_type);
      });
      ws.on('close', () => this.sockets.delete(ws));
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  add(...events: FakeEvent[]): void {
    this.events.push(...events);
    this.events.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** Sends the event to every socket subscribed to its type; the number of sockets reached. */
  push(event: FakeEvent): number {
    let sent = 0;
    for (const [ws, types] of this.sockets) {
      if (!types.has(event.type)) continue;
      ws.send(
        JSON.stringify({
          action: 'event-received',
          event_id: event.id,
          event_type: event.type,
          message: event.payload,
        }),
      );
      sent++;
    }
    return sent;
  }

  /** Drops every websocket connection without a close handshake. */
  dropSockets(): void {
    for (const ws of this.sockets.keys()) ws.terminate();
  }

  /** Subscriptions of the sockets open now. */
  openSubscriptions(): Array<Set<string>> {
    return [...this.sockets.values()];
  }

  revoke(token: string): void {
    const held = this.tokens.get(token);
    if (held) held.revoked = true;
  }

  /** The token most recently issued. */
  get lastToken(): string {
    return `tok-${this.issued}`;
  }

  private valid(authorization: string | undefined): boolean {
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    const held = token === undefined ? undefined : this.tokens.get(token);
    return held !== undefined && !held.revoked && Date.now() < held.expiresAtMs;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (req.method === 'POST' && url.pathname === '/oauth2/token') return this.token(req, res);
    if (req.method === 'GET' && url.pathname === '/v2/system/events') return this.eventsPage(req, res, url);
    res.writeHead(404).end();
  }

  private async token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let text = '';
    for await (const chunk of req) text += String(chunk);
    const form = new URLSearchParams(text);
    this.tokenRequests++;
    const ok =
      req.headers['content-type'] === 'application/x-www-form-urlencoded' &&
      form.get('grant_type') === 'client_credentials' &&
      form.get('client_id') === CLIENT.id &&
      form.get('client_secret') === CLIENT.secret;
    if (!ok) return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
    const token = `tok-${++this.issued}`;
    this.tokens.set(token, { expiresAtMs: Date.now() + this.expiresIn * 1000, revoked: false });
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ access_token: token, expires_in: this.expiresIn, token_type: 'Bearer' }));
  }

  private async eventsPage(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const afterId = url.searchParams.get('after_id');
    const limit = Number(url.searchParams.get('limit') ?? 25);
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ afterId, limit, status, at: Date.now() });
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const scripted = this.script.shift();
    if (scripted) return answer(scripted.status, { title: 'scripted' }, scripted.headers);
    if (!this.valid(req.headers.authorization)) return answer(401, { title: 'Unauthorized' });
    const result = this.events.filter((e) => afterId === null || e.id > afterId).slice(0, limit);
    answer(200, { query: { limit, ...(afterId === null ? {} : { after_id: afterId }) }, result });
  }
}
