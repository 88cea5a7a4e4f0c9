/**
 * DESIGN §2: our topics are plain Confluent-Avro topics. Messages read raw with kafkajs have the
 * wire format's header (magic byte 0, 4-byte schema id); the schema text comes from the registry
 * over HTTP; and Apache Avro's own Python implementation (Debian's python3-avro, nothing of ours)
 * decodes the body to the same values as our codec.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { plannedZoomSession } from '../../ingest/demo/zoom.js';
import { AvroCodec, type RecordName } from '../../lib/avro.js';
import { ConfluentRegistry } from '../../lib/registry/confluent.js';
import { nowMicros } from '../../lib/time.js';
import { topicsFor, valueSubject } from '../../lib/topics.js';
import {
  Fleet,
  ci,
  cleanUpAfterEach,
  kafkaDescribe,
  kafkaEnv,
  need,
  post,
  query,
  randomPrefix,
  readTopics,
  waitFor,
  type TopicMessage,
} from './support.js';

const PYTHON = '/usr/bin/python3';

/** Decodes each (schema, Avro binary) pair with python3-avro; prints the values as JSON (bytes as {"$bytes": base64}, timestamps as epoch micros). */
const READER = `
import base64, datetime, io, json, sys
import avro.io, avro.schema

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

def plain(v):
    if isinstance(v, bytes):
        return {"$bytes": base64.b64encode(v).decode("ascii")}
    if isinstance(v, datetime.datetime):
        d = v - EPOCH
        return (d.days * 86400 + d.seconds) * 1000000 + d.microseconds
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v

out = []
for item in json.load(open(sys.argv[1])):
    schema = avro.schema.parse(open(item["schema"]).read())
    data = open(item["payload"], "rb").read()
    stream = io.BytesIO(data)
    value = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(stream))
    out.append({"value": plain(value), "consumed": stream.tell(), "length": len(data)})
print(json.dumps(out))
`;

function pythonAvroMissing(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import avro.schema, avro.io'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} cannot run (${r.error.message})`;
  if (r.status !== 0)
    return `${PYTHON} cannot import avro (apt-get install python3-avro): ${r.stderr.trim().split('\n').at(-1)}`;
  return undefined;
}

/** Our decoded values in the reader's JSON shape: bytes as {"$bytes": base64}. */
function plain(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { $bytes: value.toString('base64') };
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

kafkaDescribe('Kafka mode, our topics read by an independent Avro reader', () => {
  const fleet = new Fleet();
  cleanUpAfterEach(fleet);

  it('messages on our topics decode with an independent Avro reader', async (ctx) => {
    const missing = pythonAvroMissing();
    if (missing) {
      if (ci) throw new Error(missing);
      ctx.skip(missing);
    }
    const prefix = randomPrefix();
    const topics = topicsFor(prefix);
    const dataDir = fleet.dataDir();
    const service = await fleet.start('run', dataDir, kafkaEnv(prefix));
    const session = plannedZoomSession(nowMicros() - 3600e6);
    for (const delivery of session.deliveries) expect((await post(service.url, delivery)).status).toBe(200);
    const key = `zoom:${session.sessionId}`;
    await waitFor(
      async () =>
        (
          await query(
            dataDir,
            `select 1 from session_facts where session_key = '${key}' and events = ${session.expected.events}`,
          )
        )[0],
      30_000,
      'the fact',
      () => fleet.output(),
    );

    const count = (ms: TopicMessage[], topic: string) => ms.filter((m) => m.topic === topic).length;
    const messages = await readTopics(
      [topics.raw('zoom'), topics.events, topics.facts],
      (ms) => count(ms, topics.raw('zoom')) >= 18 && count(ms, topics.events) >= 19 && count(ms, topics.facts) >= 1,
    );
    const records: Record<string, RecordName> = {
      [topics.raw('zoom')]: 'RawWebhook',
      [topics.events]: 'SessionEvent',
      [topics.facts]: 'SessionFact',
    };

    // The Confluent header, and the schema text from the registry's REST API.
    const { registryUrl } = need();
    const schemas = new Map<number, string>();
    for (const m of messages) {
      const value = m.value!;
      expect(value.length).toBeGreaterThan(5);
      expect(value[0]).toBe(0);
      const id = value.readUInt32BE(1);
      if (!schemas.has(id)) {
        const response = await fetch(`${registryUrl}/schemas/ids/${id}`);
        expect(response.status).toBe(200);
        schemas.set(id, ((await response.json()) as { schema: string }).schema);
      }
    }
    for (const topic of Object.keys(records)) {
      const latest = (await (await fetch(`${registryUrl}/subjects/${valueSubject(topic)}/versions/latest`)).json()) as {
        id: number;
      };
      expect(messages.filter((m) => m.topic === topic).every((m) => m.value!.readUInt32BE(1) === latest.id)).toBe(true);
    }

    // python3-avro decodes every message with the registry's schema text alone.
    const work = mkdtempSync(join(tmpdir(), 'sessionflow-avro-reader-'));
    let decoded: Array<{ value: Record<string, unknown>; consumed: number; length: number }>;
    try {
      for (const [id, text] of schemas) writeFileSync(join(work, `schema-${id}.avsc`), text);
      const manifest = messages.map((m, i) => {
        writeFileSync(join(work, `payload-${i}.avro`), m.value!.subarray(5));
        return {
          schema: join(work, `schema-${m.value!.readUInt32BE(1)}.avsc`),
          payload: join(work, `payload-${i}.avro`),
        };
      });
      writeFileSync(join(work, 'manifest.json'), JSON.stringify(manifest));
      writeFileSync(join(work, 'reader.py'), READER);
      const r = spawnSync(PYTHON, [join(work, 'reader.py'), join(work, 'manifest.json')], {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      expect(r.status, r.stderr).toBe(0);
      decoded = JSON.parse(r.stdout) as typeof decoded;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    expect(decoded).toHaveLength(messages.length);

    // The same values as our codec gives, field for field.
    const codec = new AvroCodec(new ConfluentRegistry({ url: registryUrl }));
    const bodies = new Set(session.deliveries.map((d) => d.body));
    for (const [i, m] of messages.entries()) {
      const theirs = decoded[i]!;
      expect(theirs.consumed).toBe(theirs.length); // the whole body, nothing left over
      const ours = (await codec.deserializer(records[m.topic]!).decode(m.value!)) as Record<string, unknown>;
      expect(theirs.value).toEqual(plain(ours));
      if (m.topic === topics.raw('zoom')) {
        expect(
          bodies.has(Buffer.from((theirs.value.body as { $bytes: string }).$bytes, 'base64').toString('utf8')),
        ).toBe(true);
        expect(theirs.value).toMatchObject({ provider: 'zoom', source: 'webhook', ingest_id: ours.ingest_id });
      } else if (m.topic === topics.events) {
        expect(theirs.value).toMatchObject({ session_key: key, event_id: ours.event_id, type: ours.type });
        expect(typeof theirs.value.event_id).toBe('string');
      } else {
        expect(theirs.value).toMatchObject({ session_key: key, provider: 'zoom' });
      }
    }
    const types = new Set(decoded.filter((_, i) => messages[i]!.topic === topics.events).map((d) => d.value.type));
    console.log(
      `[independent reader] python3-avro decoded ${messages.length} messages (${count(messages, topics.raw('zoom'))} raw, ${count(messages, topics.events)} events of ${types.size} types, ` +
        `${count(messages, topics.facts)} facts) with ${schemas.size} schemas from the registry, equal to our codec's values`,
    );
  });
});
