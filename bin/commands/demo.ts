import type { Command } from 'commander';
import { readDevSecrets } from '../../lib/secrets.js';
import { microsToIso, nowMicros } from '../../lib/time.js';
import { fail, loadConfigOrExit } from '../context.js';
import { plannedZoomSession, zoomHeaders } from '../demo-zoom.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('post realistic signed Zoom Video SDK sessions to a running sessionflow, so facts appear')
    .option('--url <url>', 'base URL of the running service (default: http://127.0.0.1:$PORT)')
    .option('--sessions <n>', 'how many sessions to send', (v) => Number.parseInt(v, 10), 3)
    .option('--secret <token>', 'Zoom secret token to sign with (default: ZOOM_WEBHOOK_SECRET_TOKEN, else the development secret in DATA_DIR)')
    .addHelpText('after', '\nStart the service first (npm start), then run: npx sessionflow demo\nAfterwards: npx sessionflow sql "select * from session_facts"')
    .action(async (options: { url?: string; sessions: number; secret?: string }) => {
      const config = loadConfigOrExit();
      if (!Number.isInteger(options.sessions) || options.sessions < 1 || options.sessions > 1000) fail('--sessions must be a whole number from 1 to 1000', 2);
      const secret = options.secret ?? config.secrets.zoom[0] ?? readDevSecrets(config.dataDir).ZOOM_WEBHOOK_SECRET_TOKEN;
      if (!secret) fail(`no Zoom secret: pass --secret, set ZOOM_WEBHOOK_SECRET_TOKEN, or start the service once in development so it makes ${config.dataDir}/dev-secrets.json`, 2);
      const base = (options.url ?? `http://127.0.0.1:${config.port}`).replace(/\/$/, '');
      const url = `${base}/webhooks/zoom`;
      // Sessions that ended a few minutes ago, one every 25 minutes back from now.
      let sent = 0;
      for (let i = 0; i < options.sessions; i++) {
        const start = nowMicros() - (options.sessions - i) * 25 * 60e6 - 30 * 60e6;
        const session = plannedZoomSession(start);
        for (const delivery of session.deliveries) {
          let response: Response;
          try {
            response = await fetch(url, { method: 'POST', headers: zoomHeaders(secret, delivery.body), body: delivery.body });
          } catch (err) {
            fail(`cannot reach ${url} (${(err as Error).cause ?? (err as Error).message}); is the service running? Start it with npm start`);
          }
          if (!response.ok) fail(`${url} answered ${response.status} to ${delivery.event}: ${await response.text()}`);
          sent++;
        }
        process.stdout.write(`session zoom:${session.sessionId} started ${microsToIso(start)}: ${session.deliveries.length} webhooks sent\n`);
      }
      process.stdout.write(`\n${sent} webhooks acknowledged. In a second or two:\n  npx sessionflow sql "select session_key, duration_seconds, participants, recording_seconds from session_facts"\n`);
    });
}
