/**
 * One segment file of a partition: frames (frame.ts) appended in offset order, named by the
 * offset it starts at (`00000000000000000042.log`), as Kafka names its own. Only the last
 * segment of a partition takes appends; the others are closed and only read, deleted or
 * compacted.
 *
 * In memory: how many bytes are good and durable (`size`: nothing past it is read), the offsets
 * and newest timestamp it holds, and a sparse index (an offset every INDEX_INTERVAL bytes) from
 * which a read scans forward to the offset it wants.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { SessionflowError } from '../errors.js';
import { parseFrame, type Frame } from './frame.js';

const INDEX_INTERVAL = 32 * 1024;
/** What a read takes from the file at once: a batch is read in a few chunks of this. */
const READ_CHUNK = 1024 * 1024;

export const segmentName = (base: number) => `${String(base).padStart(20, '0')}.log`;
export const SEGMENT_FILE = /^(\d{20})\.log$/;

export class Segment {
  size = 0;
  records = 0;
  /** Offset of the first and last frame; -1 while empty. */
  firstOffset = -1;
  lastOffset = -1;
  maxTimestamp = 0;
  private readonly indexOffsets: number[] = [];
  private readonly indexPositions: number[] = [];
  private lastIndexed = -Infinity;
  /** Open for appends while this is the partition's last segment. */
  fd: number | undefined;

  constructor(
    readonly dir: string,
    readonly base: number,
  ) {}

  get path(): string {
    return join(this.dir, segmentName(this.base));
  }

  /** Counts a frame that is now good and durable at `position`. */
  note(offset: number, position: number, bytes: number, timestamp: number): void {
    if (this.firstOffset < 0) this.firstOffset = offset;
    this.lastOffset = offset;
    this.records++;
    if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
    if (position - this.lastIndexed >= INDEX_INTERVAL) {
      this.indexOffsets.push(offset);
      this.indexPositions.push(position);
      this.lastIndexed = position;
    }
    this.size = position + bytes;
  }

  /** A position at or before the frame of `offset` (the sparse index's floor). */
  positionFor(offset: number): number {
    let [lo, hi, found] = [0, this.indexOffsets.length - 1, 0];
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.indexOffsets[mid]! <= offset) {
        found = this.indexPositions[mid]!;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /**
   * Frames from `offset` on, starting the scan at `position` (a frame boundary at or before it),
   * up to `maxRecords` or until the values reach `maxBytes` (the frame that reaches it is the
   * last). Synchronous: a read never interleaves with a compaction or deletion of this file.
   * Returns the frames and the position after the last one.
   */
  read(offset: number, position: number, maxRecords: number, maxBytes: number): { frames: Frame[]; next: number } {
    const frames: Frame[] = [];
    let bytes = 0;
    const own = this.fd;
    const fd = own ?? openSync(this.path, 'r');
    try {
      let at = position;
      while (at < this.size && frames.length < maxRecords && bytes < maxBytes) {
        let chunk = readAt(fd, at, Math.min(READ_CHUNK, this.size - at));
        let parsed = parseFrame(chunk, 0);
        if (!parsed.ok && parsed.incomplete && parsed.need <= this.size - at) {
          chunk = readAt(fd, at, parsed.need); // one frame larger than a chunk
          parsed = parseFrame(chunk, 0);
        }
        let used = 0;
        while (parsed.ok) {
          used = parsed.end;
          if (parsed.frame.offset >= offset && !parsed.frame.erased) {
            frames.push(parsed.frame);
            bytes += parsed.frame.value.length;
            if (frames.length >= maxRecords || bytes >= maxBytes) break;
          }
          parsed = parseFrame(chunk, used);
        }
        if (used === 0)
          throw new SessionflowError('INTERNAL', `${this.path}: no readable frame at byte ${at} of ${this.size}`);
        at += used;
      }
      return { frames, next: at };
    } finally {
      if (own === undefined) closeSync(fd);
    }
  }
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}
