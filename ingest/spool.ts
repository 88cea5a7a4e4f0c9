/**
 * The local spool: when Kafka does not acknowledge in time, deliveries are appended here and
 * fsync'd before the provider gets its 2xx; a drainer republishes them in order once Kafka is
 * back (DESIGN section 4).
 *
 * One append-only file of CRC frames (spool-frames.ts) and a position file (the byte offset
 * drained so far, replaced atomically). An append resolves only when all of its bytes are written
 * and fsync'd: a short write (a full disk takes part of it, without an error) or a failed fsync is
 * an error, and the partial frame is cut off again, so the file only ever grows by whole frames.
 * Bytes that are not a whole frame (a CRC or length that does not check out), found at open or
 * while draining, are copied to `bad-<ULID>.bin` in the spool folder and counted, and reading
 * resumes at the next whole frame: nothing after them is lost. The position is saved before the
 * file is emptied, and a position past the end (a crash in between) means all was drained.
 */
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ulid } from 'ulidx';
import { SerialQueue } from '../lib/duckdb.js';
import { fsyncPath } from '../lib/atomic-file.js';
import { isSessionflowError, SessionflowError } from '../lib/errors.js';
import { GroupCommit } from '../lib/group-commit.js';
import { createLogger, type Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import { decodePayload, encodeFrame, nextFrameAfter, readFrame, type SpoolRecord } from './spool-frames.js';

export type { SpoolRecord } from './spool-frames.js';

export type SetAsideReason = 'bad_frame' | 'torn_tail' | 'too_large';

export interface SpoolOptions {
  logger?: Logger;
  metrics?: Pick<Metrics, 'spoolSetAside'>;
  /** A frame longer than this is refused on append, and a header claiming more is corrupt. */
  maxFrameBytes?: number;
  /** Bytes of frames that concurrent appends share in one write and fsync, at most. */
  maxWriteBytes?: number;
}

export class Spool {
  /** Concurrent appends share one write and one fsync, up to maxWriteBytes. */
  private readonly appends: GroupCommit<Buffer[]>;
  /** File writes, truncation and reads one at a time. */
  private readonly io = new SerialQueue();
  private readonly logger: Logger;
  private readonly maxFrameBytes: number;
  /** Stretches that are not frames, already set aside: start → where whole frames resume. */
  private readonly skips = new Map<number, number>();
  /** Bytes past `size` that a failed write left and a failed truncate could not cut. */
  private cutOwed = false;
  /** The position file may say more than `position` (saving 0 after emptying the file failed). */
  private positionOwed = false;
  private setAsideCount = 0;
  private position = 0;
  private size: number;
  private records = 0;
  /** Grouped writes made (each one write and one fsync). */
  readonly stats = { writes: 0 };

  private constructor(
    /** The spool's folder. */
    readonly dir: string,
    private readonly file: FileHandle,
    size: number,
    private readonly options: SpoolOptions,
  ) {
    this.size = size;
    this.logger = options.logger ?? createLogger('silent');
    this.maxFrameBytes = options.maxFrameBytes ?? 64 * 1024 * 1024;
    this.appends = new GroupCommit((batches) => this.io.run(() => this.write(batches)), {
      maxWeight: options.maxWriteBytes ?? 8 * 1024 * 1024,
      weigh: (frames) => frames.reduce((sum, f) => sum + f.length, 0),
    });
  }

  static async open(dir: string, options: SpoolOptions = {}): Promise<Spool> {
    await mkdir(dir, { recursive: true });
    const path = join(dir, 'spool.log');
    const posPath = join(dir, 'spool.pos');
    const saved = existsSync(posPath) ? Number(readFileSync(posPath, 'utf8').trim()) || 0 : 0;
    const file = await open(path, existsSync(path) ? 'r+' : 'w+');
    try {
      const spool = new Spool(dir, file, (await file.stat()).size, options);
      if (saved > spool.size) {
        // A crash after the position was saved and before the file was emptied: all of it was drained.
        spool.logger.warn(
          { position: saved, size: spool.size },
          'spool: the saved position is past the end of the file; taking it as drained',
        );
        await spool.savePosition(spool.size);
      }
      spool.position = Math.min(saved, spool.size);
      // Count the whole frames after the drained position (setting aside what is not a frame).
      for (let frame = await spool.frameFrom(spool.position); frame; frame = await spool.frameFrom(frame.end)) {
        spool.records++;
      }
      return spool;
    } catch (err) {
      // Nothing was cut that is not kept elsewhere; the next start tries again.
      await file.close();
      throw err;
    }
  }

  /** Records appended and not yet drained. */
  get pending(): number {
    return this.records;
  }

  /** Appends and fsyncs; resolves once every byte of the records is on disk. */
  append(records: SpoolRecord[]): Promise<void> {
    const frames = records.map(encodeFrame);
    const tooLong = frames.find((f) => f.length > this.maxFrameBytes);
    if (tooLong)
      return Promise.reject(
        new SessionflowError(
          'BODY_TOO_LARGE',
          `a spool frame of ${tooLong.length} bytes is over ${this.maxFrameBytes}`,
        ),
      );
    return this.appends.submit(frames);
  }

  private async write(batches: Buffer[][]): Promise<void> {
    if (this.positionOwed) await this.savePosition(this.position);
    if (this.cutOwed) await this.cut(this.size);
    const frames = batches.flat();
    const data = Buffer.concat(frames);
    try {
      const { bytesWritten } = await this.file.write(data, 0, data.length, this.size);
      if (bytesWritten !== data.length)
        throw new SessionflowError('SPOOL_WRITE_FAILED', `${bytesWritten} of ${data.length} bytes written`);
      await this.file.sync();
    } catch (err) {
      await this.cut(this.size).catch(() => (this.cutOwed = true));
      throw isSessionflowError(err) ? err : new SessionflowError('SPOOL_WRITE_FAILED', undefined, { cause: err });
    }
    this.size += data.length;
    this.records += frames.length;
    this.stats.writes += 1;
  }

  /** The next records to drain, oldest first (at most `max` of them and about `maxBytes`), and the position to acknowledge once they are published. */
  peek(max: number, maxBytes = Infinity): Promise<{ records: SpoolRecord[]; next: number }> {
    return this.io.run(async () => {
      const records: SpoolRecord[] = [];
      let [at, bytes] = [this.position, 0];
      while (records.length < max) {
        const frame = await this.frameFrom(at);
        if (!frame) {
          at = Math.max(at, this.size);
          break;
        }
        if (records.length > 0 && bytes + frame.payload.length > maxBytes) break;
        records.push(decodePayload(frame.payload));
        bytes += frame.payload.length;
        at = frame.end;
      }
      return { records, next: at };
    });
  }

  /** Marks everything before `next` as published; empties the file once all is drained. */
  ack(next: number, count: number): Promise<void> {
    return this.io.run(async () => {
      // Durable before anything is cut: a crash in between leaves a position past the end, which open() takes as drained.
      await this.savePosition(next);
      this.position = next;
      this.records = Math.max(0, this.records - count);
      if (this.position < this.size) return;
      await this.cut(0);
      [this.size, this.position, this.records] = [0, 0, 0];
      this.skips.clear();
      this.positionOwed = true;
      await this.savePosition(0);
    });
  }

  /**
   * Keeps `data` in a file of its own under the spool folder (durably, under a unique name),
   * logs and counts it. Resolves with the file's path.
   */
  async setAside(reason: SetAsideReason, data: Buffer, detail: Record<string, unknown> = {}): Promise<string> {
    const file =
      reason === 'too_large'
        ? join(this.dir, 'too-large', `${ulid()}-${String(detail.topic ?? 'unknown')}.avro`)
        : join(this.dir, `bad-${ulid()}.bin`);
    await writeDurably(file, data);
    this.options.metrics?.spoolSetAside.inc({ reason });
    const fields = { reason, file, bytes: data.length, setAside: ++this.setAsideCount, ...detail };
    if (reason === 'torn_tail')
      this.logger.warn(fields, 'spool: bytes at the end are not a whole frame (a crash while appending?); set aside');
    else
      this.logger.error(
        fields,
        reason === 'too_large'
          ? 'spool: a delivery is larger than its topic accepts (max.message.bytes); set aside, not published'
          : 'spool: bytes that are not a whole frame (CRC or length); set aside, reading on at the next whole frame',
      );
    return file;
  }

  async close(): Promise<void> {
    await this.appends.idle();
    await this.io.idle();
    await this.file.close();
  }

  /**
   * The first whole frame at or after `at`, or undefined at the end. What is not a frame is set
   * aside on the way: a stretch followed by whole frames is skipped from then on, one that runs
   * to the end is cut off once it is safely kept elsewhere.
   */
  private async frameFrom(at: number): Promise<{ payload: Buffer; end: number } | undefined> {
    while (at < this.size) {
      const skipTo = this.skips.get(at);
      if (skipTo !== undefined) {
        at = skipTo;
        continue;
      }
      const frame = await readFrame(this.file, at, this.size, this.maxFrameBytes);
      if (frame) return frame;
      const resume = await nextFrameAfter(this.file, at, this.size, this.maxFrameBytes);
      const bad = Buffer.alloc(resume - at);
      await this.file.read(bad, 0, bad.length, at);
      const tail = resume >= this.size;
      await this.setAside(tail ? 'torn_tail' : 'bad_frame', bad, { offset: at });
      if (tail) {
        await this.cut(at);
        this.size = at;
        return undefined;
      }
      this.skips.set(at, resume);
      at = resume;
    }
    return undefined;
  }

  private async cut(size: number): Promise<void> {
    await this.file.truncate(size);
    await this.file.sync();
    this.cutOwed = false;
  }

  private async savePosition(position: number): Promise<void> {
    const path = join(this.dir, 'spool.pos');
    await writeDurably(`${path}.tmp`, Buffer.from(String(position)));
    await rename(`${path}.tmp`, path);
    await fsyncPath(this.dir);
    this.positionOwed = false;
  }
}

/** Writes a whole file and fsyncs it and its folder; a short write is an error. */
async function writeDurably(path: string, data: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const file = await open(path, 'w');
  try {
    const { bytesWritten } = await file.write(data, 0, data.length, 0);
    if (bytesWritten !== data.length)
      throw new SessionflowError('SPOOL_WRITE_FAILED', `${path}: ${bytesWritten} of ${data.length} bytes written`);
    await file.sync();
  } finally {
    await file.close();
  }
  await fsyncPath(dirname(path));
}

/**
 * Raw retention (RAW_RETENTION_DAYS) for what the spool set aside: bad stretches (`bad-*.bin`) and
 * deliveries too large for their topic (`too-large/*.avro`) hold bodies, and are removed once
 * older than `cutoffMs` (by mtime). The spool file itself holds only what Kafka has not taken yet.
 * Returns how many files went.
 */
export async function expireSetAside(dir: string, cutoffMs: number): Promise<number> {
  const candidates: string[] = [];
  const list = async (folder: string, keep: (name: string) => boolean) => {
    try {
      for (const name of await readdir(folder)) if (keep(name)) candidates.push(join(folder, name));
    } catch {
      // no such folder: nothing was set aside there
    }
  };
  await list(dir, (name) => name.startsWith('bad-') && name.endsWith('.bin'));
  await list(join(dir, 'too-large'), (name) => name.endsWith('.avro'));
  let removed = 0;
  for (const path of candidates) {
    if ((await stat(path)).mtimeMs >= cutoffMs) continue;
    await rm(path, { force: true });
    removed += 1;
  }
  return removed;
}
