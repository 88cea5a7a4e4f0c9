import type { Command } from 'commander';
import type { Config } from '../../lib/config.js';
import { devSecretsPath, readDevSecrets } from '../../lib/secrets.js';
import { microsToIso, nowMicros, type Micros } from '../../lib/time.js';
import { fail, loadConfigOrExit } from '../context.js';
import { apizeeHeaders, plannedApizeeSession } from '../../ingest/demo/apizee.js';
import { mluviiHeaders, plannedMluviiSession } from '../../ingest/demo/mluvii.js';
import { plannedZoomSession, zoomHeaders } from '../../ingest/demo/zoom.js';

const PROVIDERS = ['zoom', 'apizee', 'mluvii'] as const;
type Provider = (typeof PROVIDERS)[number];

interface Demo {
  /** What one session is, for the printout. */
  story: string;
  plan(start: Micros): { sessionKey: string; deliveries: Array<{ event: string; body: string }> };
  /** The query that shows what the demo is about. */
  sql: string;
}

const DEMOS: Record<Provider, Demo> = {
  zoom: {
    story: 'host and two guests, a rejoin, screen share, paused recording, a quality alert',
    plan: (start) => {
      const s = plannedZoomSession(start);
      return { sessionKey: `zoom:${s.sessionId}`, deliveries: s.deliveries };
    },
    sql:
      'select session_key, duration_seconds, participants, peak_concurrent, recording_seconds, sharing_seconds,' +
      " alerts from session_facts where provider = 'zoom'",
  },
  apizee: {
    story: 'ticket: invitation, consent, camera/microphone/geolocation, picture, OCR, survey, closed',
    plan: plannedApizeeSession,
    sql:
      'select session_key, status, duration_seconds, wait_seconds, consent, camera_allowed, geolocation_allowed,' +
      " media_captures, ocr_scans, survey_score from session_facts where provider = 'apizee'",
  },
  mluvii: {
    story: 'chat: queue, operator, audio/video, hold, forward to a second operator, after-call work',
    plan: plannedMluviiSession,
    sql:
      'select session_key, duration_seconds, wait_seconds, av_seconds, hold_seconds, forwards, wrap_up_seconds' +
      " from session_facts where provider = 'mluvii'",
  },
};

/** The request headers of each provider, with the credentials the service checks; a message per missing secret. */
function credentials(
  config: Config,
  providers: readonly Provider[],
  zoomSecret: string | undefined,
): Record<Provider, (body: string) => Record<string, string>> {
  const dev = readDevSecrets(config.dataDir);
  const s = config.secrets;
  const missing: string[] = [];
  const zoom = zoomSecret ?? s.zoom[0] ?? dev.ZOOM_WEBHOOK_SECRET_TOKEN;
  const apizee = s.apizee[0] ?? dev.APIZEE_WEBHOOK_SECRET;
  const user = s.mluviiUser ?? dev.MLUVII_WEBHOOK_USER;
  const password = s.mluviiPassword[0] ?? dev.MLUVII_WEBHOOK_PASSWORD;
  if (providers.includes('zoom') && !zoom)
    missing.push('no Zoom secret: set ZOOM_WEBHOOK_SECRET_TOKEN or pass --secret');
  if (providers.includes('apizee') && !apizee) missing.push('no Apizee secret: set APIZEE_WEBHOOK_SECRET');
  if (providers.includes('mluvii') && (!user || !password))
    missing.push('no mluvii credentials: set MLUVII_WEBHOOK_USER and MLUVII_WEBHOOK_PASSWORD');
  if (missing.length > 0) {
    fail(
      `${missing.join('\n  ')}\n  the same values as the service's, or start the service once in development ` +
        `with DATA_DIR=${config.dataDir}: it makes ${devSecretsPath(config.dataDir)}, which this command reads`,
      2,
    );
  }
  return {
    zoom: (body) => zoomHeaders(zoom!, body),
    apizee: () => apizeeHeaders(apizee!, s.apizeeHeader),
    mluvii: () => mluviiHeaders(user!, password!),
  };
}

async function post(url: string, headers: Record<string, string>, body: string, what: string): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers, body });
  } catch (err) {
    const reason = String((err as Error).cause ?? (err as Error).message);
    fail(`cannot reach ${url} (${reason}); is the service running? Start it with npm start`);
  }
  if (response.status === 401) {
    fail(
      `${url} refused ${what} (401: ${await response.text()}): ` +
        'the service has other credentials than this command found; give both the same environment or DATA_DIR',
    );
  }
  if (!response.ok) fail(`${url} answered ${response.status} to ${what}: ${await response.text()}`);
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'post realistic sessions of Zoom Video SDK, Apizee and mluvii, with their credentials, ' +
        'to a running sessionflow, so facts appear',
    )
    .option('--provider <name>', 'zoom, apizee, mluvii or all', 'all')
    .option('--sessions <n>', 'how many sessions per provider', (v) => Number.parseInt(v, 10), 3)
    .option('--url <url>', 'base URL of the running service (default: http://127.0.0.1:$PORT)')
    .option(
      '--secret <token>',
      'Zoom secret token to sign with (default: ZOOM_WEBHOOK_SECRET_TOKEN, else the development secret in DATA_DIR)',
    )
    .addHelpText(
      'after',
      `
Each provider's webhooks carry the credentials the service checks: Zoom's signature (ZOOM_WEBHOOK_SECRET_TOKEN),
Apizee's shared-secret header (APIZEE_WEBHOOK_SECRET in the header APIZEE_WEBHOOK_HEADER), mluvii's basic auth
(MLUVII_WEBHOOK_USER, MLUVII_WEBHOOK_PASSWORD). Each comes from the environment (and .env), else from
DATA_DIR/dev-secrets.json, which the service writes on its first start in development.

The sessions ended a few minutes ago, one every 25 minutes back from now; names, e-mails and phones in the bodies
are made up, and stay in the raw archive only.

Start the service first (npm start), then:
  npx sessionflow demo                                   three sessions of each provider
  npx sessionflow demo --provider mluvii --sessions 10
Afterwards: npx sessionflow sql "select provider, session_key, status, duration_seconds from session_facts"`,
    )
    .action(async (options: { provider: string; sessions: number; url?: string; secret?: string }) => {
      const config = loadConfigOrExit();
      const chosen = options.provider.trim().toLowerCase();
      if (chosen !== 'all' && !PROVIDERS.includes(chosen as Provider))
        fail(`--provider must be zoom, apizee, mluvii or all, not "${options.provider}"`, 2);
      if (!Number.isInteger(options.sessions) || options.sessions < 1 || options.sessions > 1000)
        fail('--sessions must be a whole number from 1 to 1000', 2);
      const providers: readonly Provider[] = chosen === 'all' ? PROVIDERS : [chosen as Provider];
      const headersOf = credentials(config, providers, options.secret);
      const base = (options.url ?? `http://127.0.0.1:${config.port}`).replace(/\/$/, '');

      let sent = 0;
      for (const provider of providers) {
        const url = `${base}/webhooks/${provider}`;
        process.stdout.write(`${provider}: ${DEMOS[provider].story}\n`);
        for (let i = 0; i < options.sessions; i++) {
          const start = nowMicros() - (options.sessions - i) * 25 * 60e6 - 30 * 60e6;
          const session = DEMOS[provider].plan(start);
          for (const delivery of session.deliveries) {
            await post(
              url,
              headersOf[provider](delivery.body),
              delivery.body,
              `${delivery.event} of ${session.sessionKey}`,
            );
            sent++;
          }
          const startedAt = microsToIso(start).replace(/\.\d+Z$/, 'Z');
          process.stdout.write(
            `  ${session.sessionKey} started ${startedAt}: ${session.deliveries.length} webhooks sent\n`,
          );
        }
      }
      const queries = providers.map((p) => `  npx sessionflow sql "${DEMOS[p].sql}"\n`).join('');
      process.stdout.write(`\n${sent} webhooks acknowledged. In a second or two, look at the facts:\n${queries}`);
    });
}
