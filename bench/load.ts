/**
 * Load generator, run as its own process so it does not share the event loop with the server:
 * `node dist/bench/load.js <url> <seconds> <connections> <secret>` prints autocannon's result as JSON.
 */
import autocannon from 'autocannon';
import { zoomHeaders } from '../bin/demo-zoom.js';

const [url, seconds = '5', connections = '32', secret = ''] = process.argv.slice(2);
let n = 0;
const result = await autocannon({
  url: url!,
  duration: Number(seconds),
  connections: Number(connections),
  requests: [
    {
      method: 'POST',
      setupRequest: (request) => {
        n++;
        const body = JSON.stringify({
          event: 'session.user_joined',
          event_ts: Date.now(),
          payload: { account_id: 'bench', object: { id: `s${n % 100}`, session_id: `s${n % 100}==`, session_name: 'bench', user: { id: String(n), name: 'Bench', join_time: new Date().toISOString(), participant_uuid: `p${n}` } } },
        });
        return { ...request, body, headers: zoomHeaders(secret, body) };
      },
    },
  ],
});
process.stdout.write(JSON.stringify({ requests: result.requests.average, latencyP50: result.latency.p50, latencyP99: result.latency.p99, non2xx: result.non2xx, errors: result.errors }) + '\n');
