import { join } from 'node:path';
import type { Command } from 'commander';
import { AvroCodec } from '../../lib/avro.js';
import type { Config } from '../../lib/config.js';
import { openTransport, type Transport } from '../../lib/log/open.js';
import { topicsFor } from '../../lib/topics.js';
import { createLogRawSink } from '../../ingest/raw-sink.js';
import { createApizeeBackfill, isTicketId, type BackfillProgress } from '../../ingest/pull/apizee.js';
import { apizeeApiOptions } from '../../ingest/pull/apizee-options.js';
import { isLocked, lockHolderPid } from '../../processors/warehouse/standby.js';
import { createProgress } from '../../lib/progress.js';
import { fail, loadConfigOrExit, loggerFor } from '../context.js';

/**
 * Another process has the embedded log open (IN_USE): its lock (DATA_DIR/log/LOCK), or DuckDB's
 * lock on an older version's log.duckdb that is about to be migrated.
 */
export const isLogLocked = isLocked;

/** What the backfill says when `sessionflow run` holds the embedded log. */
export function lockedLogMessage(dataDir: string, err?: unknown): string {
  const pid = lockHolderPid(err);
  return [
    `${join(dataDir, 'log')} is in use by another process${pid === undefined ? '' : ` (PID ${pid})`}, ` +
      'a running `sessionflow run`?: the embedded log opens in one process at a time.',
    'Stop the service, run the backfill, then start the service again: it normalizes what the backfill stored.',
    'A running service with Apizee API access set (APIZEE_API_USERNAME and APIZEE_API_PASSWORD, or APIZEE_API_TOKEN) ' +
      'already reconciles the tickets its webhooks name (APIZEE_API_RECONCILE_INTERVAL_MINUTES).',
  ].join('\n  ');
}

/**
 * Apizee's List Tickets (apizee-tickets.md) filters on created, started and ended times, not on
 * updates, and the reference names neither its path nor its parameters: there is no documented
 * way to find "every ticket updated since", so --since is refused with this explanation.
 */
const NO_SINCE = [
  '--since is not available for Apizee: ' +
    'its tickets reference documents no way to list the tickets updated since a date',
  '(List Tickets filters on created, started and ended times only, and its path and parameter names are not given).',
  'Name the tickets with --ticket <id> (repeat it); ' +
    'the running service reconciles the tickets its webhooks name on its own.',
].join('\n  ');

const AFTER = `
Each event of GET /api/v3/tickets/{ticketId}/events is stored in raw.apizee.v1 as its own RawWebhook
(source backfill), in the body the webhook would have delivered: an event both delivered and backfilled
is one event downstream, so the backfill can be stopped (Ctrl-C) and run again at will.
Needs APIZEE_API_USERNAME and APIZEE_API_PASSWORD (the token is got and renewed from them), or a
fixed APIZEE_API_TOKEN (see .env.example); at most APIZEE_API_REQUESTS_PER_MINUTE requests a minute (10).
Embedded mode: DATA_DIR/log opens in one process at a time, so stop \`sessionflow run\` first.`;

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerBackfill(program: Command): void {
  program
    .command('backfill')
    .description(
      'fetch events a provider failed to deliver through its REST API into raw.<provider>.v1 ' +
        '(Apizee: the timelines of the tickets named)',
    )
    .argument('<provider>', 'apizee')
    .option('--ticket <id>', 'an Apizee ticket id; repeat for several tickets', collect, [])
    .option('--since <date>', 'every ticket updated since then (not available for Apizee: says why)')
    .addHelpText('after', AFTER)
    .action(async (provider: string, options: { ticket: string[]; since?: string }) => {
      if (provider !== 'apizee') fail(`no backfill for ${provider} (known: apizee)`, 2);
      if (options.since !== undefined) fail(NO_SINCE, 2);
      const tickets = [...new Set(options.ticket.map((t) => t.trim()))];
      if (tickets.length === 0)
        fail('name at least one ticket: sessionflow backfill apizee --ticket <id> [--ticket <id> ...]', 2);
      const bad = tickets.filter((t) => !isTicketId(t));
      if (bad.length > 0) fail(`not Apizee ticket ids (numbers): ${bad.join(', ')}`, 2);
      const config = loadConfigOrExit();
      await backfillApizee(config, tickets);
    });
}

async function backfillApizee(config: Config, tickets: string[]): Promise<void> {
  const apiOptions =
    apizeeApiOptions(config) ??
    fail(
      'set APIZEE_API_USERNAME and APIZEE_API_PASSWORD, or APIZEE_API_TOKEN ' +
        '(and APIZEE_API_URL if not https://cloud.apizee.com), to read Apizee tickets; see .env.example',
      2,
    );
  const tty = process.stderr.isTTY === true;
  // On a terminal the progress line says what the info logs would; warnings and errors still show.
  const logger = loggerFor(
    config,
    tty && ['info', 'debug', 'trace'].includes(config.logLevel) ? 'warn' : config.logLevel,
  );
  let transport: Transport;
  try {
    transport = await openTransport(config, logger);
  } catch (err) {
    if (isLogLocked(err)) fail(lockedLogMessage(config.dataDir, err), 1);
    throw err;
  }
  const stop = new AbortController();
  let signals = 0;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (signals++ > 0) process.exit(130);
      process.stderr.write(
        `\nsessionflow: stopping after the ticket in hand (what is stored stays; ${signal} again to quit at once)\n`,
      );
      stop.abort(new Error(`${signal}: backfill stopped`));
    });
  }

  const topics = topicsFor(config.topicPrefix);
  const bar = createProgress({ label: 'apizee backfill', unit: 'tickets', everyPercent: 10 });
  let written = 0;
  const progress = (p: BackfillProgress) => {
    written = p.eventsWritten;
    bar.update(p.ticketsDone, p.ticketsTotal);
  };
  let code = 0;
  try {
    await transport.log.createTopics(topics.specs(config.topicPartitions, config.bodyLimitBytes));
    const sink = await createLogRawSink(transport.log, new AvroCodec(transport.registry), topics);
    const backfill = createApizeeBackfill(apiOptions, { sink, logger });
    bar.update(0, tickets.length);
    const outcomes = await backfill.tickets(tickets, { signal: stop.signal, onTicket: progress });
    bar.finish(`${written} events written`);
    const failed = outcomes.filter((o) => o.error);
    for (const o of failed) process.stderr.write(`sessionflow: ticket ${o.ticketId}: ${o.error!.message}\n`);
    const events = outcomes.reduce((n, o) => n + o.events, 0);
    const done = outcomes.length - failed.length;
    process.stderr.write(
      `sessionflow: ${done} of ${tickets.length} tickets backfilled, ` +
        `${events} events stored in ${topics.raw('apizee')}\n`,
    );
    if (outcomes.length < tickets.length) {
      process.stderr.write(
        stop.signal.aborted
          ? 'sessionflow: stopped; run the same command again to finish ' +
              '(events stored twice are one event downstream)\n'
          : 'sessionflow: the remaining tickets were not tried\n',
      );
    }
    code = stop.signal.aborted ? 130 : failed.length > 0 || outcomes.length < tickets.length ? 1 : 0;
  } finally {
    await transport.close();
  }
  logger.flush();
  process.exit(code);
}
