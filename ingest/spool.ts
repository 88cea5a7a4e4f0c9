/**
 * The local spool: when Kafka does not acknowledge in time, deliveries are appended here and
 * fsync'd before the provider gets its 2xx; a drainer republishes them in order once Kafka is
 * back (DESIGN section 4).
 *
 * One append-only file of frames `[u32 length][u32 crc32][payload]`, payload
 * `[u16 topic length][topic][i32 key length, -1 for null][key][value]`, and a position file (the
 * byte offset drained so far, replaced atomically). A torn frame at the end (a crash while
 * appending, never acknowledged) is cut off at open. Once everything is drained the file is
 * emptied.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { SerialQueue } from '../lib/duckdb.js';
import { GroupCommit } from '../lib/group-commit.js';

export interface SpoolRecord {
  topic: string;
  key: Buffer | null;
  value: Buffer;
}

const HEADER = 8;

export class Spool {
  /** Concurrent appends share one write and one fsync. */
  private readonly appends = new GroupCommit<Buffer[]>((batches) => this.io.run(() => this.write(batches)));
  /** File writes, truncation and reads one at a time. */
  private readonly io = new SerialQueue();
  private size: number;
  private records: number;

  private constructor(
    /** The spool's folder. */
    readonly dir: string,
    private readonly file: FileHandle,
    private position: number,
    size: number,
    records: number,
  ) {
    this.size = size;
    this.records = records;
  }

  static async open(dir: string): Promise<Spool> {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'spool.log');
    const posPath = join(dir, 'spool.pos');
    const position = existsSync(posPath) ? Number(readFileSync(posPath, 'utf8').trim()) || 0 : 0;
    const file = await open(path, existsSync(path) ? 'r+' : 'w+');
    const { size } = await file.stat();
    // Count whole frames after the drained position; cut a torn tail.
    let at = position;
    let records = 0;
    const header = Buffer.alloc(HEADER);
    while (at + HEADER <= size) {
      await file.read(header, 0, HEADER, at);
      const length = header.readUInt32BE(0);
      if (at + HEADER + length > size) break;
      const payload = Buffer.alloc(length);
      await file.read(payload, 0, length, at + HEADER);
      if (crc32(payload) !== header.readUInt32BE(4)) break;
      at += HEADER + length;
      records++;
    }
    if (at < size) {
      await file.truncate(at);
      await file.sync();
    }
    return new Spool(dir, file, Math.min(position, at), at, records);
  }

  /** Records appended and not yet drained. */
  get pending(): number {
    return this.records;
  }

  /** Appends and fsyncs; resolves once the records are on disk. */
  append(records: SpoolRecord[]): Promise<void> {
    return this.appends.submit(records.map(encodeFrame));
  }

  private async write(batches: Buffer[][]): Promise<void> {
    const frames = batches.flat();
    const data = Buffer.concat(frames);
    try {
      await this.file.write(data, 0, data.length, this.size);
      await this.file.sync();
    } catch (err) {
      await this.file.truncate(this.size).catch(() => undefined);
      throw err;
    }
    this.size += data.length;
    this.records += frames.length;
  }

  /** The next records to drain, oldest first, and the position to acknowledge once they are published. */
  peek(max: number): Promise<{ records: SpoolRecord[]; next: number }> {
    return this.io.run(() => this.read(max));
  }

  private async read(max: number): Promise<{ records: SpoolRecord[]; next: number }> {
    const records: SpoolRecord[] = [];
    let at = this.position;
    const header = Buffer.alloc(HEADER);
    while (records.length < max && at + HEADER <= this.size) {
      await this.file.read(header, 0, HEADER, at);
      const length = header.readUInt32BE(0);
      const payload = Buffer.alloc(length);
      await this.file.read(payload, 0, length, at + HEADER);
      records.push(decodePayload(payload));
      at += HEADER + length;
    }
    return { records, next: at };
  }

  /** Marks everything before `next` as published; empties the file once all is drained. */
  ack(next: number, count: number): Promise<void> {
    return this.io.run(async () => {
      this.position = next;
      this.records -= count;
      if (this.position >= this.size) {
        await this.file.truncate(0);
        await this.file.sync();
        this.size = 0;
        this.position = 0;
      }
      writePositionAtomically(join(this.dir, 'spool.pos'), this.position);
    });
  }

  async close(): Promise<void> {
    await this.appends.idle();
    await this.io.idle();
    await this.file.close();
  }
}

function encodeFrame(record: SpoolRecord): Buffer {
  const topic = Buffer.from(record.topic, 'utf8');
  const keyLength = record.key ? record.key.length : -1;
  const payload = Buffer.alloc(2 + topic.length + 4 + Math.max(0, keyLength) + record.value.length);
  let at = payload.writeUInt16BE(topic.length, 0);
  at += topic.copy(payload, at);
  at = payload.writeInt32BE(keyLength, at);
  if (record.key) at += record.key.copy(payload, at);
  record.value.copy(payload, at);
  const header = Buffer.alloc(HEADER);
  header.writeUInt32BE(payload.length, 0);
  header.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([header, payload]);
}

function decodePayload(payload: Buffer): SpoolRecord {
  const topicLength = payload.readUInt16BE(0);
  let at = 2;
  const topic = payload.toString('utf8', at, at + topicLength);
  at += topicLength;
  const keyLength = payload.readInt32BE(at);
  at += 4;
  const key = keyLength >= 0 ? Buffer.from(payload.subarray(at, at + keyLength)) : null;
  at += Math.max(0, keyLength);
  return { topic, key, value: Buffer.from(payload.subarray(at)) };
}

function writePositionAtomically(path: string, position: number): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, String(position));
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
}
