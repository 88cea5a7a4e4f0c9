/**
 * Which mluvii deliveries are retries, for the bodies that carry neither an `activityId` nor a
 * time of their own: UserStatusChanged, SessionCallParamsUpdated, EmailThreadParamsUpdated,
 * GuestIdentityUpdated, ApplicationSettingChanged (and SessionCreated,
 * SessionRecordingPostProcessingCompleted).
 *
 * What a retry looks like (mluvii's webhooks FAQ, shared/providers/README.md): when our answer
 * does not reach mluvii, "mluvii sends the same payload again", up to twice. No delivery id, no
 * attempt counter, no header tells it: the retry is the body it repeats, byte for byte. So is a
 * genuine repeat of these bodies. An operator going AWAY → ONLINE → AWAY sends
 *   {"eventType":"UserStatusChanged","data":{"userId":2710,"status":"AWAY","availabilityStatus":"AWAY",...}}
 * a second time, and every parameter change of a session sends {"id":7383872,"tenantId":62} again.
 * A hash of the body, which was the key, made each repeat a redelivery of the first.
 *
 * What does tell them apart is the stream: mluvii sends the events of an entity (session, e-mail,
 * user) "in the order they occur". A retry is sent again before anything newer about that entity
 * (our reading: the FAQ promises the order, it does not say how retries keep it) and soon after
 * the first attempt. So a delivery is a retry when it has the same bytes as the previous delivery
 * about the same entity and comes within REDELIVERY_WINDOW of that delivery's first attempt: it
 * takes that delivery's key. Anything else is an event of its own, keyed by its bytes and the time
 * it arrived. The key is archived with the delivery (raw_webhooks.dedup_key) and normalize derives
 * the event_id from it, so a replay gives the same rows.
 *
 * The order is the one this process sees. A retry after a restart, or one that reaches another
 * ingest replica, is kept as a second event (the same status again, one more parameter update);
 * replicas that share mluvii's deliveries also miss what went between, so /webhooks/mluvii belongs
 * on one replica (README, Kafka mode).
 */
import { contentKey } from '../../lib/ids.js';
import type { Micros } from '../../lib/time.js';

/**
 * mluvii does not say when it retries. 5 minutes is our choice: two retries after a request
 * timeout of a minute or two fit in it. Two identical bodies about one entity with nothing
 * between them inside it (two parameter changes in a row) are read as one event.
 */
export const REDELIVERY_WINDOW_MICROS = 5 * 60 * 1_000_000;

/** Entities remembered at most; past it the oldest are forgotten (their retries are kept as events). */
const REDELIVERY_STREAMS = 100_000;

export interface MluviiDelivery {
  /** The entity mluvii keeps the order of: `mluvii:<session>`, `mluvii:email:<thread>`, `user:<id>`, ... */
  stream: string;
  /** The key of its content alone: the activity, or eventType + id + userId + time, or the body's hash. */
  payload: string;
  /** True when the body has neither an activityId nor a time: only then does the stream decide. */
  timeless: boolean;
}

export interface MluviiRedeliveries {
  /** The dedup key of a delivery received at `at`; remembers it as its stream's latest. */
  keyOf(delivery: MluviiDelivery, at: Micros): string;
  /** Streams remembered now (for tests). */
  readonly size: number;
}

interface Latest {
  payload: string;
  key: string;
  /** When the delivery this one repeats (or this one) first arrived. */
  firstAt: Micros;
  lastAt: Micros;
}

export function createMluviiRedeliveries(
  options: { windowMicros?: number; maxStreams?: number } = {},
): MluviiRedeliveries {
  const windowMicros = options.windowMicros ?? REDELIVERY_WINDOW_MICROS;
  const maxStreams = options.maxStreams ?? REDELIVERY_STREAMS;
  // Insertion order is the order of lastAt (an entry is moved to the end when it is seen again):
  // what is past the window is at the front.
  const streams = new Map<string, Latest>();

  const forget = (at: Micros) => {
    for (const [stream, latest] of streams) {
      if (latest.lastAt >= at - windowMicros && streams.size <= maxStreams) break;
      streams.delete(stream);
    }
  };

  return {
    keyOf({ stream, payload, timeless }, at) {
      forget(at);
      const previous = streams.get(stream);
      const retry = previous !== undefined && previous.payload === payload && at - previous.firstAt <= windowMicros;
      const key = !timeless ? payload : retry ? previous.key : contentKey('mluvii', 'delivery', payload, at);
      streams.delete(stream);
      streams.set(stream, { payload, key, firstAt: retry ? previous.firstAt : at, lastAt: at });
      if (streams.size > maxStreams) forget(at);
      return key;
    },
    get size() {
      return streams.size;
    },
  };
}
