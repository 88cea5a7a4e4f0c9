/**
 * The two shapes one Jifeline event arrives in, read into one. The raw archive keeps each
 * delivery as it came (DESIGN section 3), so the adapter, not the poller, unifies them:
 *
 * - REST, one element of `GET /v2/system/events` `result`:
 *     { "id": "01HW…", "type": "tickets.ticket.created", "occurred_at": "…", "payload": { "ticket": … } }
 * - websocket, a frame pushed to a subscriber of the type:
 *     { "action": "event-received", "event_id": "01HW…", "event_type": "tickets.ticket.created", "message": {} }
 *   The reference shows `message` as `{}`: it is read as the payload ({ticket, parent_ticket,
 *   customer}), or as the whole event when it has a `payload` object of its own.
 *
 * Failures name the field path in the body as received (message.ticket.id, not payload.ticket.id).
 */
import { checkShape } from './schemas.js';
import { isRecord } from '../../../lib/json-values.js';
import { failure, type Step } from '../steps.js';

export interface Unified {
  /** The event in the REST shape: {id, type, occurred_at, payload}. */
  event: Record<string, unknown>;
  /** A path in `event` → the same field's path in the body as received. */
  pathOf(path: string): string;
  shape: 'rest' | 'websocket';
}

const same = (path: string): string => path;

/** Maps the head of a path (id, type, occurred_at, payload) to where a frame carries it. */
function framePaths(payloadAt: string): (path: string) => string {
  const heads: Record<string, string> = {
    id: 'event_id',
    type: 'event_type',
    occurred_at: 'message.occurred_at',
    payload: payloadAt,
  };
  return (path) => {
    const [head = '', ...rest] = path.split('.');
    const mapped = heads[head];
    if (mapped === undefined) return path;
    return [mapped, ...rest].join('.');
  };
}

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** The body as one event in the REST shape, or a failure when it is a frame that carries none. */
export function unify(body: Record<string, unknown>): Step<Unified> {
  if (!('action' in body)) return { ok: true, value: { event: body, pathOf: same, shape: 'rest' } };
  const shape = checkShape('WebsocketFrame', body, text(body.event_type));
  if (shape) return { ok: false, failure: shape };
  if (body.action !== 'event-received') {
    return {
      ok: false,
      failure: failure(
        'FIELD_INVALID',
        'action is not event-received: the frame carries no event',
        'action',
        text(body.event_type),
      ),
    };
  }
  const message = body.message as Record<string, unknown>;
  if (!isRecord(message))
    return {
      ok: false,
      failure: failure('FIELD_INVALID', 'message is not a JSON object', 'message', text(body.event_type)),
    };
  const whole = isRecord(message.payload);
  return {
    ok: true,
    value: {
      event: {
        id: body.event_id,
        type: body.event_type,
        occurred_at: message.occurred_at ?? null,
        payload: whole ? message.payload : message,
      },
      pathOf: framePaths(whole ? 'message.payload' : 'message'),
      shape: 'websocket',
    },
  };
}
