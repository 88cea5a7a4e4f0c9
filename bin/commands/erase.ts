import type { Command } from 'commander';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import {
  normalizeSubjects,
  sealSubjects,
  subjectProblems,
  type ErasureRequest,
  type ErasureSubjects,
} from '../../lib/erasure.js';
import { newUlid } from '../../lib/ids.js';
import { liveHolder } from '../../lib/log/dir-lock.js';
import { openTransport } from '../../lib/log/open.js';
import { AvroCodec } from '../../lib/avro.js';
import { resolveSecrets } from '../../lib/secrets.js';
import { nowMicros } from '../../lib/time.js';
import { topicsFor } from '../../lib/topics.js';
import {
  answerFile,
  publishRequests,
  readAnswer,
  submitToInbox,
  type ErasureAnswer,
} from '../../processors/erasure-requests.js';
import { startPipeline } from '../pipeline.js';
import type { Config } from '../../lib/config.js';
import { fail, loadConfigOrExit, loggerFor } from '../context.js';

const AFTER = `
Removes the people named from the warehouse (events, spans, facts: their sessions are folded
again without them, or removed with --session), from every Parquet file that held them, from
the raw archive (a delivery whose body names them is removed whole), and from the embedded log.
A later redelivery of what was erased is dropped and counted. The erasure record (the restricted
\`erasures\` view) keeps counts and keyed hashes, never the values.

Works while the pipeline runs: the request goes through the log to the warehouse writer. With
nothing running (embedded mode), this command starts the writer itself until it is done.
In Kafka mode the raw topics keep deliveries until their retention.ms (RAW_RETENTION_DAYS).

Examples:
  sessionflow erase --email jana.novak@example.com --phone "+420 777 123 456" --dry-run
  sessionflow erase --participant 3f2a… --session zoom:acct:9dKf…`;

const collect = (value: string, previous: string[]) => [...previous, value];

interface Options {
  email: string[];
  phone: string[];
  participant: string[];
  session: string[];
  dryRun?: boolean;
  wait: string;
  format: string;
}

export function registerErase(program: Command): void {
  program
    .command('erase')
    .description(
      'erase people everywhere sessionflow keeps them (warehouse, Parquet, raw archive, embedded log); works while the pipeline runs',
    )
    .option('--email <address>', 'an e-mail address (repeatable)', collect, [])
    .option('--phone <number>', 'a phone number, with or without country code (repeatable)', collect, [])
    .option('--participant <key>', 'a participant_key (repeatable)', collect, [])
    .option('--session <key>', 'a session_key: the whole session goes (repeatable)', collect, [])
    .option('--dry-run', 'count what would be erased, change nothing')
    .option('--wait <seconds>', 'how long to wait for the writer to answer', '600')
    .option('--format <format>', 'table or json', 'table')
    .addHelpText('after', AFTER)
    .action(async (options: Options) => {
      const subjects: ErasureSubjects = {
        emails: options.email,
        phones: options.phone,
        participants: options.participant,
        sessions: options.session,
      };
      const problems = subjectProblems(subjects);
      if (problems.length > 0) fail(problems.join('\n'), 2);
      if (!['table', 'json'].includes(options.format)) fail('--format must be table or json', 2);
      const waitMs = Number(options.wait) * 1000;
      if (!(waitMs > 0)) fail('--wait must be a positive number of seconds', 2);
      const config = loadConfigOrExit();
      const { piiKey } = resolveSecrets(config);
      const request: ErasureRequest = {
        request_id: newUlid(),
        requested_at: nowMicros(),
        dry_run: options.dryRun === true,
        subjects: sealSubjects(piiKey, normalizeSubjects(subjects)),
      };
      const answer = await carryOut(config, request, waitMs);
      await rm(answerFile(config.dataDir, request.request_id), { force: true });
      print(answer, options.format);
      if (answer.error) process.exitCode = 1;
    });
}

/** Hands the request to the writer (starting one when nothing runs) and waits for its answer. */
async function carryOut(config: Config, request: ErasureRequest, waitMs: number): Promise<ErasureAnswer> {
  const say = (line: string) => process.stderr.write(`erase: ${line}\n`);
  if (config.kafka) {
    const transport = await openTransport(config, loggerFor(config, 'error'));
    try {
      const topics = topicsFor(config.topicPrefix);
      await transport.log.createTopics(topics.specs(config.topicPartitions, config.bodyLimitBytes));
      await publishRequests(transport.log, new AvroCodec(transport.registry), topics, [request]);
    } finally {
      await transport.close();
    }
    say(`request ${request.request_id} is on the erasures topic; waiting for the warehouse writer…`);
    return waitForAnswer(config, request.request_id, waitMs, 'is the warehouse stage running, with this DATA_DIR?');
  }
  await submitToInbox(config.dataDir, request);
  const holder = liveHolder(join(config.dataDir, 'log'));
  if (holder !== undefined) {
    say(`request ${request.request_id} handed to the running pipeline (PID ${holder}); waiting…`);
    return waitForAnswer(config, request.request_id, waitMs, 'is the pipeline still running?');
  }
  say(`the pipeline is not running: starting the warehouse writer for request ${request.request_id}…`);
  // Its log would drown the answer: errors only (the warehouse thread takes the level from the config).
  const quiet = { ...config, port: 0, host: '127.0.0.1', logLevel: 'error' };
  const pipeline = await startPipeline(quiet, loggerFor(quiet), { ingest: false, normalize: false, warehouse: true });
  try {
    return await waitForAnswer(config, request.request_id, waitMs, 'see the log above');
  } finally {
    await pipeline.stop();
  }
}

async function waitForAnswer(config: Config, id: string, waitMs: number, hint: string): Promise<ErasureAnswer> {
  const until = Date.now() + waitMs;
  for (;;) {
    const answer = await readAnswer(config.dataDir, id);
    if (answer) return answer;
    if (Date.now() > until)
      fail(
        `no answer to request ${id} within ${waitMs / 1000} s (${hint}); it stays queued and is carried out when the writer gets to it`,
      );
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function print(answer: ErasureAnswer, format: string): void {
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    return;
  }
  if (answer.error) {
    process.stderr.write(`erase: request ${answer.request_id} refused: ${answer.error}\n`);
    return;
  }
  const r = answer.result!;
  const rows: Array<[string, number | string | null]> = [
    ['deliveries removed from the raw archive', r.deliveries],
    ['events removed', r.events],
    ['dead letters removed', r.dead_letters],
    ['sessions folded again without them', r.sessions_refolded],
    ['sessions removed', r.sessions_removed],
    ['Parquet partitions written again', r.partitions],
    ['embedded log records erased', answer.log_records ?? '-'],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  process.stdout.write(
    `${answer.dry_run ? 'dry run (nothing changed), would erase' : 'erased'}; request ${answer.request_id}\n`,
  );
  for (const [label, value] of rows) process.stdout.write(`  ${label.padEnd(width)}  ${value}\n`);
  if (r.providers.length > 0) process.stdout.write(`  providers: ${r.providers.join(', ')}\n`);
  for (const line of answer.kept) process.stdout.write(`  not erased: ${line}\n`);
}
