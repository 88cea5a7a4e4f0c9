/**
 * One partition of the embedded log: a folder of segment files, the last of which takes appends.
 * Appends are written and fdatasync'd by the log's group commit (embedded.ts); here are the
 * segments, reads by offset, and what retention does to closed segments.
 */
import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../atomic-file.js';
import { SessionflowError } from '../errors.js';
import { eraseFrame, frameSize, parseFrame, writeFrame, type Frame } from './frame.js';
import { recoverSegment, removeLeftovers } from './recover.js';
import { SEGMENT_FILE, Segment, segmentName } from './segment.js';

/** Where a consumer's last read of a partition ended, so the next one starts there without the index. */
export interface ReadCursor {
  segment: Segment;
  offset: number;
  position: number;
}

export interface Damage {
  /** Keeps a bad stretch of a segment; durable when it returns. */
  setAside(segment: string, position: number, bytes: Buffer): void;
  /** Says what was cut or set aside (counts, never contents). */
  report(what: { segment: string; cutBytes: number; regions: number; asideBytes: number }): void;
}

export class Partition {
  private constructor(
    readonly dir: string,
    readonly segments: Segment[],
    /** The next offset to be written. */
    public nextOffset: number,
  ) {}

  /** The next offset when compaction last ran (nothing new to compact while it is the same). */
  compactedAt = -1;
  /** A failed append may have left bytes past the active segment's size: cut them before the next. */
  dirty = false;

  /** A new empty partition whose first offset is `base`. */
  static create(dir: string, base = 0): Partition {
    mkdirSync(dir, { recursive: true });
    const segment = new Segment(dir, base);
    segment.fd = openSync(segment.path, 'w+');
    fsyncSync(segment.fd);
    fsyncDir(dir);
    return new Partition(dir, [segment], base);
  }

  static open(dir: string, damage: Damage): Partition {
    mkdirSync(dir, { recursive: true });
    const names = readdirSync(dir);
    removeLeftovers(dir, names);
    const bases = names
      .flatMap((n) => SEGMENT_FILE.exec(n)?.[1] ?? [])
      .map(Number)
      .sort((a, b) => a - b);
    if (bases.length === 0) return Partition.create(dir);
    const segments: Segment[] = [];
    let last = -1;
    for (const [i, base] of bases.entries()) {
      const r = recoverSegment(dir, base, i === bases.length - 1, last, (bytes, position) =>
        damage.setAside(join(dir, segmentName(base)), position, bytes),
      );
      if (r.cut > 0 || r.regions > 0)
        damage.report({ segment: r.segment.path, cutBytes: r.cut, regions: r.regions, asideBytes: r.asideBytes });
      if (r.segment.lastOffset >= 0) last = r.segment.lastOffset;
      segments.push(r.segment);
    }
    const active = segments.at(-1)!;
    active.fd = openSync(active.path, 'r+');
    return new Partition(dir, segments, Math.max(active.base, last + 1));
  }

  /** An empty partition moved to start at `offset` (a migrated partition whose first records are gone). */
  startAt(offset: number): void {
    if (this.segments.length !== 1 || this.active.records > 0)
      throw new SessionflowError('INTERNAL', `${this.dir} is not empty`);
    this.close();
    unlinkSync(this.active.path);
    const segment = new Segment(this.dir, offset);
    segment.fd = openSync(segment.path, 'w+');
    fsyncDir(this.dir);
    this.segments.splice(0, 1, segment);
    this.nextOffset = offset;
  }

  get active(): Segment {
    return this.segments.at(-1)!;
  }

  /** Starts a new segment at the next offset; the one before is closed for appends. */
  roll(): Segment {
    const previous = this.active;
    const segment = new Segment(this.dir, this.nextOffset);
    segment.fd = openSync(segment.path, 'wx+');
    fsyncDir(this.dir);
    if (previous.fd !== undefined) closeSync(previous.fd);
    previous.fd = undefined;
    this.segments.push(segment);
    return segment;
  }

  /** Frames for `messages` from the next offset on, and where each lands relative to the buffer. */
  encode(
    messages: ReadonlyArray<{ key: Buffer | null; value: Buffer; offset?: number; timestamp?: number }>,
    timestamp: number,
  ): { buf: Buffer; frames: Array<[number, number, number, number]> } {
    let total = 0;
    for (const m of messages) total += frameSize(m.key, m.value);
    const buf = Buffer.allocUnsafe(total);
    const frames: Array<[number, number, number, number]> = [];
    let [at, offset] = [0, this.nextOffset];
    for (const m of messages) {
      offset = m.offset ?? offset;
      const ts = m.timestamp ?? timestamp;
      const end = writeFrame(buf, at, offset, ts, m.key, m.value);
      frames.push([offset, at, end - at, ts]);
      at = end;
      offset++;
    }
    return { buf, frames };
  }

  /** Counts frames written and fdatasync'd at the end of the active segment. */
  appended(frames: Array<[number, number, number, number]>): void {
    const active = this.active;
    const start = active.size;
    for (const [offset, at, bytes, ts] of frames) active.note(offset, start + at, bytes, ts);
    this.nextOffset = frames.at(-1)![0] + 1;
  }

  /** Records from `from` on (from the first kept one when `from` was removed by retention). */
  read(
    from: number,
    maxRecords: number,
    maxBytes: number,
    cursor?: ReadCursor,
  ): { frames: Frame[]; cursor?: ReadCursor } {
    if (from >= this.nextOffset) return { frames: [] };
    let i = this.segmentIndex(from);
    for (; i < this.segments.length; i++) {
      const segment = this.segments[i]!;
      if (segment.records === 0 || segment.lastOffset < from) continue;
      const position =
        cursor && cursor.segment === segment && cursor.offset === from ? cursor.position : segment.positionFor(from);
      const { frames, next } = segment.read(from, position, maxRecords, maxBytes);
      if (frames.length > 0) return { frames, cursor: { segment, offset: frames.at(-1)!.offset + 1, position: next } };
    }
    return { frames: [] };
  }

  private segmentIndex(offset: number): number {
    let [lo, hi, found] = [0, this.segments.length - 1, 0];
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.segments[mid]!.base <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /**
   * Deletes the oldest closed segments whose records are all below `consumedBelow` and older than
   * `cutoff`. The active segment stays (its name keeps the next offset). Returns records removed.
   */
  deleteConsumed(consumedBelow: number, cutoff: number): number {
    let removed = 0;
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!;
      if (oldest.records > 0 && (oldest.lastOffset >= consumedBelow || oldest.maxTimestamp >= cutoff)) break;
      unlinkSync(oldest.path);
      this.segments.shift();
      removed += oldest.records;
    }
    if (removed > 0) fsyncDir(this.dir);
    return removed;
  }

  /**
   * Compaction (Kafka's cleanup.policy=compact): rewrites each closed segment without the records
   * a later record with the same key replaces (the latest per key is kept, wherever it is, and
   * records without a key stay). The active segment is left as it is, as Kafka leaves it.
   * Returns records removed.
   */
  async compact(): Promise<number> {
    if (this.segments.length < 2) return 0;
    const latest = new Map<string, number>();
    for (const segment of [...this.segments])
      for (const f of all(segment)) if (f.key) latest.set(f.key.toString('latin1'), f.offset);
    let removed = 0;
    for (const segment of this.segments.slice(0, -1)) {
      const frames = all(segment);
      const kept = frames.filter((f) => !f.key || latest.get(f.key.toString('latin1')) === f.offset);
      if (kept.length === frames.length) continue;
      removed += frames.length - kept.length;
      if (kept.length === 0) {
        unlinkSync(segment.path);
        this.segments.splice(this.segments.indexOf(segment), 1);
        continue;
      }
      const rewritten = new Segment(this.dir, segment.base);
      const buf = Buffer.allocUnsafe(kept.reduce((n, f) => n + frameSize(f.key, f.value), 0));
      let at = 0;
      for (const f of kept) {
        const end = writeFrame(buf, at, f.offset, f.timestamp, f.key, f.value);
        rewritten.note(f.offset, at, end - at, f.timestamp);
        at = end;
      }
      const cleaned = `${segment.path}.cleaned`;
      await writeFileAtomic(cleaned, buf);
      // The swap and the in-memory switch in one tick: reads are synchronous, so none sees a mix.
      renameSync(cleaned, segment.path);
      this.segments.splice(this.segments.indexOf(segment), 1, rewritten);
    }
    if (removed > 0) fsyncDir(this.dir);
    return removed;
  }

  /**
   * Erases in place every record `match` picks (sessionflow erase), in closed and active segments
   * alike: each becomes an erased frame of the same length (frame.ts), so offsets, positions and
   * the segment index stay as they were, and the bytes are gone once this returns (fdatasync).
   * Synchronous: no read or append of this process interleaves. Returns records erased.
   */
  erase(match: (frame: Frame) => boolean): number {
    let erased = 0;
    for (const segment of this.segments) {
      if (segment.records === 0) continue;
      const own = segment.fd;
      const fd = own ?? openSync(segment.path, 'r+');
      try {
        const buf = Buffer.allocUnsafe(segment.size);
        for (let got = 0; got < buf.length; ) {
          const n = readSync(fd, buf, got, buf.length - got, got);
          if (n === 0)
            throw new SessionflowError('INTERNAL', `${segment.path} is shorter than its ${segment.size} good bytes`);
          got += n;
        }
        let changed = false;
        for (let at = 0; at < buf.length; ) {
          const parsed = parseFrame(buf, at);
          if (!parsed.ok) throw new SessionflowError('INTERNAL', `${segment.path}: no readable frame at byte ${at}`);
          if (!parsed.frame.erased && match(parsed.frame)) {
            eraseFrame(buf, at);
            writeSync(fd, buf, at, parsed.end - at, at);
            changed = true;
            erased += 1;
          }
          at = parsed.end;
        }
        if (changed) fdatasyncSync(fd);
      } finally {
        if (own === undefined) closeSync(fd);
      }
    }
    return erased;
  }

  close(): void {
    const active = this.active;
    if (active.fd !== undefined) closeSync(active.fd);
    active.fd = undefined;
  }
}

/** Every frame of a segment (for compaction). */
function all(segment: Segment): Frame[] {
  return segment.records === 0 ? [] : segment.read(0, 0, Infinity, Infinity).frames;
}
