/**
 * How an erasure request reaches the warehouse writer and how its answer comes back
 * (sessionflow erase, DESIGN section 9).
 *
 *   sessionflow erase ──► DATA_DIR/erase-requests/<id>.request.json   (embedded mode: the running
 *                         │                                            process holds the log)
 *                         └► erasures.v1 directly                      (Kafka mode)
 *   the process holding the embedded log ── bridgeInbox ──► erasures.v1
 *   warehouse sink ── Warehouse.erase ── the log's copies ──► DATA_DIR/erase-requests/<id>.answer.json
 *
 * The request file and the topic hold the subjects sealed (lib/erasure.ts), never in clear; the
 * request file is removed once the log has it. The answer holds counts only.
 */
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { AvroCodec } from '../lib/avro.js';
import { PersonMatcher, type ErasureRequest, type ErasureSubjects } from '../lib/erasure.js';
import type { Logger } from '../lib/logger.js';
import type { Log } from '../lib/log/types.js';
import { valueSubject, type Topics } from '../lib/topics.js';
import type { ErasureResult } from './warehouse/writer.js';

export const requestsDir = (dataDir: string): string => join(dataDir, 'erase-requests');
const requestFile = (dataDir: string, id: string) => join(requestsDir(dataDir), `${id}.request.json`);
export const answerFile = (dataDir: string, id: string): string => join(requestsDir(dataDir), `${id}.answer.json`);

/** What the writer answers, in the answer file: counts, never a personal value. */
export interface ErasureAnswer {
  request_id: string;
  dry_run: boolean;
  /** Why the request was refused; the other counts are then absent. */
  error?: string;
  result?: Omit<ErasureResult, 'ingestIds' | 'pairs' | 'participants' | 'sessions'>;
  /** Records erased in place from the embedded log; null in Kafka mode (or for a dry run). */
  log_records: number | null;
  /** What could not be erased, for the person who asked (Kafka's raw topics). */
  kept: string[];
}

const REQUEST_FILE = z.object({
  request_id: z.string(),
  requested_at: z.number(),
  dry_run: z.boolean(),
  subjects: z.string(),
});

async function ensureDir(dataDir: string): Promise<string> {
  const dir = requestsDir(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Leaves a request where the process holding the embedded log picks it up (atomically: whole or not at all). */
export async function submitToInbox(dataDir: string, request: ErasureRequest): Promise<void> {
  await ensureDir(dataDir);
  const path = requestFile(dataDir, request.request_id);
  const body = JSON.stringify({ ...request, subjects: request.subjects.toString('base64') });
  await writeFile(`${path}.tmp`, body, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/** Publishes requests to erasures.v1 (the encoded message is all the topic holds of them). */
export async function publishRequests(
  log: Log,
  codec: AvroCodec,
  topics: Topics,
  requests: ErasureRequest[],
): Promise<void> {
  const writer = await codec.serializer<ErasureRequest>(valueSubject(topics.erasures), 'ErasureRequest');
  await log.publish(
    topics.erasures,
    requests.map((r) => ({ key: Buffer.from(r.request_id), value: writer.encode(r) })),
  );
}

/**
 * In the process that holds the embedded log: moves requests from the inbox to erasures.v1, at
 * start and every `intervalMs`. A file is removed only once the log has the request; one that is
 * not a request is set aside as `.bad` and logged. Returns the stop.
 */
export function bridgeInbox(
  dataDir: string,
  deps: { log: Log; codec: AvroCodec; topics: Topics; logger: Logger },
  intervalMs = 500,
): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  const pass = async () => {
    let names: string[];
    try {
      names = (await readdir(requestsDir(dataDir))).filter((n) => n.endsWith('.request.json')).sort();
    } catch {
      return; // no request was ever made
    }
    for (const name of names) {
      const path = join(requestsDir(dataDir), name);
      let request: ErasureRequest;
      try {
        const file = REQUEST_FILE.parse(JSON.parse(await readFile(path, 'utf8')));
        request = { ...file, subjects: Buffer.from(file.subjects, 'base64') };
      } catch {
        deps.logger.error({ file: name }, 'erase: not a request file; set aside as .bad');
        await rename(path, `${path}.bad`).catch(() => undefined);
        continue;
      }
      try {
        await publishRequests(deps.log, deps.codec, deps.topics, [request]);
        await rm(path, { force: true });
        deps.logger.info({ request_id: request.request_id }, 'erase: request handed to the warehouse writer');
      } catch (err) {
        deps.logger.warn({ err, request_id: request.request_id }, 'erase: could not publish the request; retrying');
        return;
      }
    }
  };
  const tick = () => (running = running.then(pass));
  void tick();
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

export async function writeAnswer(dataDir: string, answer: ErasureAnswer): Promise<void> {
  await ensureDir(dataDir);
  const path = answerFile(dataDir, answer.request_id);
  await writeFile(`${path}.tmp`, `${JSON.stringify(answer, null, 2)}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

export async function readAnswer(dataDir: string, id: string): Promise<ErasureAnswer | undefined> {
  try {
    return JSON.parse(await readFile(answerFile(dataDir, id), 'utf8')) as ErasureAnswer;
  } catch {
    return undefined;
  }
}

/**
 * Which records of the log hold what the warehouse erased: a raw delivery, event or dead letter of
 * a removed delivery (by ingest_id), an event of an erased session, participant or participant in
 * a session, and anything that names the e-mail or phone number. Records are matched on their
 * bytes: the Avro encoding keeps strings and bodies as they are.
 */
export function logMatcher(
  subjects: ErasureSubjects,
  result: Pick<ErasureResult, 'ingestIds' | 'pairs' | 'participants' | 'sessions'>,
): (topic: string, frame: { key: Buffer | null; value: Buffer }) => boolean {
  const person = new PersonMatcher(subjects);
  const keys = new Set(result.sessions);
  const needles = [...result.ingestIds, ...result.participants, ...result.sessions].map(avroString);
  const pairs = result.pairs.map((p) => p.split('\u001f').map(avroString));
  return (_topic, { key, value }) =>
    (key !== null && keys.has(key.toString())) ||
    needles.some((n) => value.includes(n)) ||
    pairs.some((parts) => parts.every((n) => value.includes(n))) ||
    person.matches(value);
}

/**
 * A string as Avro writes it: its byte length (zigzag varint), then its bytes. Searched for in
 * this form, a key matches that field whole, never the start of a longer one (mluvii:12 in mluvii:123).
 */
function avroString(text: string): Buffer {
  const bytes = Buffer.from(text);
  const length: number[] = [];
  let n = bytes.length * 2;
  while (n > 0x7f) {
    length.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  length.push(n);
  return Buffer.concat([Buffer.from(length), bytes]);
}
