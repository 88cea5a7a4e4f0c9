/**
 * Opening a segment after a stop, clean or not: every frame is read and its CRC checked.
 *
 * - A torn tail of the partition's last segment (a crash in the middle of an append: never
 *   acknowledged, since an append is acknowledged only after its fdatasync) is cut off.
 * - A bad frame with good frames after it (a flipped bit, a damaged block) is never cut away with
 *   them: its bytes are set aside in a file of their own and the segment is rewritten without
 *   them, so the good frames after it stay readable. The same in a closed segment, whose frames
 *   were all acknowledged.
 */
import { closeSync, ftruncateSync, fsyncSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { fsyncDir, writeFileAtomicSync } from '../atomic-file.js';
import { SessionflowError } from '../errors.js';
import { FRAME_HEADER, parseFrame } from './frame.js';
import { Segment } from './segment.js';

export interface Recovery {
  segment: Segment;
  /** Bytes of a torn tail cut off. */
  cut: number;
  /** Bad stretches set aside, and their bytes. */
  regions: number;
  asideBytes: number;
}

/**
 * Reads and checks one segment. `after` is the last offset of the segments before it (frames must
 * go up from there); `setAside` keeps a bad stretch's bytes (it must be durable when it returns).
 */
export function recoverSegment(
  dir: string,
  base: number,
  last: boolean,
  after: number,
  setAside: (bytes: Buffer, position: number) => void,
): Recovery {
  const segment = new Segment(dir, base);
  const buf = readFileSync(segment.path);
  const good: Array<[number, number]> = [];
  let [at, lastOffset, cut, regions, asideBytes] = [0, after, 0, 0, 0];
  while (at < buf.length) {
    const parsed = parseFrame(buf, at);
    if (parsed.ok && parsed.frame.offset > lastOffset) {
      good.push([at, parsed.end]);
      lastOffset = parsed.frame.offset;
      at = parsed.end;
      continue;
    }
    const resume = nextGoodFrame(buf, at + 1, lastOffset);
    if (resume < 0 && last) {
      cut = buf.length - at;
      break;
    }
    const end = resume < 0 ? buf.length : resume;
    setAside(buf.subarray(at, end), at);
    regions++;
    asideBytes += end - at;
    at = end;
  }

  if (regions > 0) {
    // Rewrite without the bad stretches (their bytes are kept aside): good frames keep their bytes.
    const clean = Buffer.concat(good.map(([from, to]) => buf.subarray(from, to)));
    writeFileAtomicSync(`${segment.path}.cleaned`, clean);
    renameSync(`${segment.path}.cleaned`, segment.path);
    fsyncDir(dir);
  } else if (cut > 0) {
    const fd = openSync(segment.path, 'r+');
    try {
      ftruncateSync(fd, buf.length - cut);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  let position = 0;
  for (const [from, to] of good) {
    const parsed = parseFrame(buf, from);
    if (!parsed.ok) throw new SessionflowError('INTERNAL', 'unreachable: a frame checked a moment ago');
    segment.note(parsed.frame.offset, position, to - from, parsed.frame.timestamp);
    position += to - from;
  }
  return { segment, cut, regions, asideBytes };
}

/** Where the next good frame (offset above `after`) starts at or past `from`, or -1. */
function nextGoodFrame(buf: Buffer, from: number, after: number): number {
  for (let at = from; at + FRAME_HEADER <= buf.length; at++) {
    if (buf[at + 8] !== 1) continue; // the magic byte: most positions fail here
    const parsed = parseFrame(buf, at);
    if (parsed.ok && parsed.frame.offset > after) return at;
  }
  return -1;
}

/** Leftovers of an interrupted rewrite or atomic write: never the live file. */
export function removeLeftovers(dir: string, names: string[]): void {
  for (const name of names)
    if (name.endsWith('.cleaned') || name.endsWith('.tmp')) rmSync(`${dir}/${name}`, { force: true });
}
