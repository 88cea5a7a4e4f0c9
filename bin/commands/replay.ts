import type { Command } from 'commander';
import { PROVIDERS } from '../../lib/canonical.js';
import { resolveSecrets } from '../../lib/secrets.js';
import { microsToIso, parseIsoMicros, type Micros } from '../../lib/time.js';
import { normalizeRaw } from '../../processors/normalize.js';
import { count, fail, loadConfigOrExit, loggerFor, positiveInteger, runOffline } from '../context.js';

const AFTER = `
Reads raw_webhooks in DATA_DIR/warehouse.duckdb, normalizes each body again with the current adapters
and PII_KEY, and stores the result like a batch: events already stored collapse by event_id, so
replaying unchanged data changes nothing. Dead letters the adapters no longer produce are removed in
the same transaction that stores the delivery's events (the body stays in raw_webhooks).
Works on the warehouse file itself: stop sessionflow run/warehouse first. Ctrl-C stops after the
chunk in hand and leaves the warehouse consistent; run the command again (or from --from) to finish.
Times: 2024-05-02 (midnight UTC) or 2024-05-02T14:00:00Z; --from inclusive, --to exclusive, on received_at.`;

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description(
      'normalize the raw archive again with the current adapters and store what it yields (after an adapter fix)',
    )
    .option('--provider <provider>', `only this provider (${PROVIDERS.join(', ')})`)
    .option('--from <time>', 'only deliveries received at or after this time')
    .option('--to <time>', 'only deliveries received before this time')
    .option('--chunk <deliveries>', 'raw webhooks per transaction', '1000')
    .addHelpText('after', AFTER)
    .action(async (options: { provider?: string; from?: string; to?: string; chunk: string }) => {
      if (options.provider !== undefined && !(PROVIDERS as readonly string[]).includes(options.provider)) {
        fail(`--provider must be one of ${PROVIDERS.join(', ')}`, 2);
      }
      const from = options.from === undefined ? undefined : parseTime(options.from, '--from');
      const to = options.to === undefined ? undefined : parseTime(options.to, '--to');
      if (from !== undefined && to !== undefined && from >= to) fail('--from must be before --to', 2);
      const chunkSize = positiveInteger(options.chunk, '--chunk');
      const config = loadConfigOrExit();
      const logger = loggerFor(config);
      const { piiKey } = resolveSecrets(config);
      await runOffline(config, logger, {
        name: 'replay',
        unit: 'raw webhooks',
        run: (warehouse, control) =>
          warehouse.replay({
            provider: options.provider,
            from,
            to,
            chunkSize,
            normalize: (raw) =>
              normalizeRaw(raw, piiKey, { sessionNames: config.sessionNames, zoomHostPattern: config.zoomHostPattern }),
            ...control,
          }),
        summary: (report) =>
          `${count(report.replayed)} of ${count(report.total)} raw webhooks normalized again: ` +
          `${count(report.insertedEvents)} new events (${count(report.sessions)} sessions folded again), ` +
          `${count(report.insertedDeadLetters)} new dead letters, ` +
          `${count(report.resolvedDeadLetters)} dead letters resolved`,
        resume: (report) =>
          'run the same replay again to finish' +
          (report.lastReceivedAt === undefined
            ? ''
            : ` (or continue with --from ${microsToIso(report.lastReceivedAt)})`),
      });
    });
}

function parseTime(text: string, name: string): Micros {
  const micros = parseIsoMicros(/^\d{4}-\d{2}-\d{2}$/.test(text.trim()) ? `${text.trim()}T00:00:00Z` : text);
  return micros ?? fail(`${name}: ${text} is not a date (2024-05-02) or an ISO date-time (2024-05-02T14:00:00Z)`, 2);
}
