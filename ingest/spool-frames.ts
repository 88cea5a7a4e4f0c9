/**
 * The spool's frames: `[u32 length][u32 crc32][payload]`, payload
 * `[u16 topic length][topic][i32 key length, -1 for null][key][value]`. A frame is whole when its
 * length is possible, it fits in the file, its CRC matches and its payload reads; anything else
 * is not a frame, and `nextFrameAfter` finds where whole frames start again.
 */
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { SessionflowError } from '../lib/errors.js';

export interface SpoolRecord {
  topic: string;
  key: Buffer | null;
  value: Buffer;
}

export const HEADER = 8;
/** The smallest payload: a one-character topic and a null key. */
const MIN_PAYLOAD = 2 + 1 + 4;
/** Kafka topic names: at most 249 of these characters. */
const MAX_TOPIC = 249;
const TOPIC_CHAR = /^[A-Za-z0-9._-]+$/;

export function encodeFrame(record: SpoolRecord): Buffer {
  const topic = Buffer.from(record.topic, 'utf8');
  const keyLength = record.key ? record.key.length : -1;
  const frame = Buffer.alloc(HEADER + 2 + topic.length + 4 + Math.max(0, keyLength) + record.value.length);
  let at = frame.writeUInt16BE(topic.length, HEADER);
  at += topic.copy(frame, at);
  at = frame.writeInt32BE(keyLength, at);
  if (record.key) at += record.key.copy(frame, at);
  record.value.copy(frame, at);
  const payload = frame.subarray(HEADER);
  frame.writeUInt32BE(payload.length, 0);
  frame.writeUInt32BE(crc32(payload), 4);
  return frame;
}

export function decodePayload(payload: Buffer): SpoolRecord {
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

/** Whether `payload` has the shape of ours: a topic name, then a key that fits. */
function payloadReads(payload: Buffer): boolean {
  if (payload.length < MIN_PAYLOAD) return false;
  const topicLength = payload.readUInt16BE(0);
  if (topicLength < 1 || topicLength > MAX_TOPIC || 2 + topicLength + 4 > payload.length) return false;
  if (!TOPIC_CHAR.test(payload.toString('latin1', 2, 2 + topicLength))) return false;
  const keyLength = payload.readInt32BE(2 + topicLength);
  return keyLength >= -1 && 2 + topicLength + 4 + Math.max(0, keyLength) <= payload.length;
}

/** A possible frame length at `at` of a file of `size` bytes. */
const possibleLength = (length: number, at: number, size: number, maxFrameBytes: number) =>
  length >= MIN_PAYLOAD && HEADER + length <= maxFrameBytes && at + HEADER + length <= size;

/** The whole frame at `at`, or undefined when the bytes there are not one. */
export async function readFrame(
  file: FileHandle,
  at: number,
  size: number,
  maxFrameBytes: number,
): Promise<{ payload: Buffer; end: number } | undefined> {
  if (at + HEADER > size) return undefined;
  const header = Buffer.alloc(HEADER);
  await readFully(file, header, at);
  const length = header.readUInt32BE(0);
  if (!possibleLength(length, at, size, maxFrameBytes)) return undefined;
  const payload = Buffer.alloc(length);
  await readFully(file, payload, at + HEADER);
  if (crc32(payload) !== header.readUInt32BE(4) || !payloadReads(payload)) return undefined;
  return { payload, end: at + HEADER + length };
}

/**
 * The offset of the first whole frame after `from` (where the spool resynchronises after bytes
 * that are not a frame), or `size` when there is none. Candidates are sifted in memory (a possible
 * length, then a topic name) before their CRC is checked, so a long run of garbage costs a read.
 */
export async function nextFrameAfter(
  file: FileHandle,
  from: number,
  size: number,
  maxFrameBytes: number,
): Promise<number> {
  const CHUNK = 64 * 1024;
  const LOOKAHEAD = HEADER + 2 + MAX_TOPIC;
  for (let start = from + 1; start + HEADER + MIN_PAYLOAD <= size; start += CHUNK) {
    const buffer = Buffer.alloc(Math.min(CHUNK + LOOKAHEAD, size - start));
    await readFully(file, buffer, start);
    for (let i = 0; i < CHUNK && i + HEADER + MIN_PAYLOAD <= buffer.length; i++) {
      const at = start + i;
      if (!possibleLength(buffer.readUInt32BE(i), at, size, maxFrameBytes)) continue;
      const topicLength = buffer.readUInt16BE(i + HEADER);
      if (topicLength < 1 || topicLength > MAX_TOPIC) continue;
      const topicEnd = Math.min(buffer.length, i + HEADER + 2 + topicLength);
      if (!TOPIC_CHAR.test(buffer.toString('latin1', i + HEADER + 2, topicEnd))) continue;
      if (await readFrame(file, at, size, maxFrameBytes)) return at;
    }
  }
  return size;
}

async function readFully(file: FileHandle, buffer: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buffer.length; ) {
    const { bytesRead } = await file.read(buffer, done, buffer.length - done, position + done);
    if (bytesRead === 0)
      throw new SessionflowError(
        'INTERNAL',
        `spool file ends at ${position + done}, ${buffer.length - done} bytes short`,
      );
    done += bytesRead;
  }
}
