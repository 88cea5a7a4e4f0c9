/**
 * One record of a segment file, as Kafka frames its own (a length, a CRC, then the record):
 *
 *   [u32 length of what follows the crc][u32 crc32 of it]
 *   [u8 magic = 1][i64 offset][i64 timestamp, epoch ms][i32 key length, -1 for null][key][value]
 *
 * Big-endian. The CRC (node:zlib crc32, as ingest/spool.ts) covers everything after it, so a torn
 * or flipped frame is told from a good one before anything in it is believed.
 */
import { crc32 } from 'node:zlib';

export const FRAME_HEADER = 4 + 4 + 1 + 8 + 8 + 4;
const BODY_MIN = FRAME_HEADER - 8;
const MAGIC = 1;
/**
 * An erased frame (sessionflow erase): the same length, offset and timestamp, the key and value
 * zeroed and the CRC made anew. Reads skip it, as Kafka's readers skip a compacted-away offset.
 */
const ERASED = 2;
const TWO_32 = 0x1_0000_0000;

export interface Frame {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer;
  /** The frame was erased in place: its key and value are zeros, and reads skip it. */
  erased?: true;
}

export const frameSize = (key: Buffer | null, value: Buffer) => FRAME_HEADER + (key?.length ?? 0) + value.length;

const writeU64 = (buf: Buffer, n: number, at: number) => {
  buf.writeUInt32BE(Math.floor(n / TWO_32), at);
  buf.writeUInt32BE(n % TWO_32, at + 4);
};
const readU64 = (buf: Buffer, at: number) => buf.readUInt32BE(at) * TWO_32 + buf.readUInt32BE(at + 4);

/** Writes one frame at `at` of `buf` (which has room for it); returns where the next one starts. */
export function writeFrame(
  buf: Buffer,
  at: number,
  offset: number,
  timestamp: number,
  key: Buffer | null,
  value: Buffer,
): number {
  const start = at;
  const length = BODY_MIN + (key?.length ?? 0) + value.length;
  buf.writeUInt32BE(length, at);
  at += 8; // the crc is written last, over the body
  buf[at++] = MAGIC;
  writeU64(buf, offset, at);
  writeU64(buf, timestamp, at + 8);
  at += 16;
  buf.writeInt32BE(key ? key.length : -1, at);
  at += 4;
  if (key) at += key.copy(buf, at);
  at += value.copy(buf, at);
  buf.writeUInt32BE(crc32(buf.subarray(start + 8, at)), start + 4);
  return at;
}

export type Parsed =
  | { ok: true; frame: Frame; end: number }
  /** Not all of the frame is in `buf[at, limit)`: `need` bytes are (from `at`), if its length field is right. */
  | { ok: false; incomplete: true; need: number }
  | { ok: false; incomplete: false };

/**
 * Reads the frame at `at`, checking its length, magic and CRC. `key` and `value` are views of
 * `buf`. An incomplete frame is reported as such; anything else wrong is "bad".
 */
export function parseFrame(buf: Buffer, at: number, limit = buf.length): Parsed {
  if (limit - at < 8) return { ok: false, incomplete: true, need: FRAME_HEADER };
  const length = buf.readUInt32BE(at);
  if (length < BODY_MIN) return { ok: false, incomplete: false };
  if (limit - at - 8 < length) return { ok: false, incomplete: true, need: 8 + length };
  const body = at + 8;
  if (buf[body] !== MAGIC && buf[body] !== ERASED) return { ok: false, incomplete: false };
  const end = body + length;
  if (crc32(buf.subarray(body, end)) !== buf.readUInt32BE(at + 4)) return { ok: false, incomplete: false };
  const keyLength = buf.readInt32BE(body + 17);
  if (keyLength < -1 || BODY_MIN + Math.max(0, keyLength) > length) return { ok: false, incomplete: false };
  const keyAt = body + 21;
  const valueAt = keyAt + Math.max(0, keyLength);
  return {
    ok: true,
    end,
    frame: {
      offset: readU64(buf, body + 1),
      timestamp: readU64(buf, body + 9),
      key: keyLength >= 0 ? buf.subarray(keyAt, valueAt) : null,
      value: buf.subarray(valueAt, end),
      ...(buf[body] === ERASED && { erased: true as const }),
    },
  };
}

/** Erases the whole frame that starts at `at` of `buf` (parsed as good) in place; returns where it ends. */
export function eraseFrame(buf: Buffer, at: number): number {
  const body = at + 8;
  const end = body + buf.readUInt32BE(at);
  buf[body] = ERASED;
  buf.fill(0, body + 21, end);
  buf.writeUInt32BE(crc32(buf.subarray(body, end)), at + 4);
  return end;
}
