import { decodeTime, isValid } from 'ulidx';
import { describe, expect, it } from 'vitest';
import { newUlid, participantKey, sessionNameKey } from '../../lib/ids.js';

describe('newUlid', () => {
  it('gives valid ULIDs of the given time that are unique and sort in the order they were made', () => {
    const at = Date.UTC(2026, 11, 4, 10);
    const ids = Array.from({ length: 10_000 }, () => newUlid(at));
    expect(ids.every((id) => isValid(id) && decodeTime(id) === at)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('draws every character of the random part evenly', () => {
    // Each id a millisecond later than every id before it, so each is drawn afresh (not incremented).
    const counts = new Map<string, number>();
    for (let i = 0; i < 4000; i++)
      for (const c of newUlid(Date.UTC(2030, 0, 1) + i).slice(10, 25)) counts.set(c, (counts.get(c) ?? 0) + 1);
    // 60,000 characters over 32 symbols: 1,875 each on average; a skewed source is far off.
    expect(counts.size).toBe(32);
    for (const n of counts.values()) expect(Math.abs(n - 1875)).toBeLessThan(300);
  });
});

describe('sessionNameKey', () => {
  it('is name: and 32 hex characters, the same for the same key, provider and name, and no participant key of the same text', () => {
    const key = sessionNameKey('pii-key-0123456789', 'zoom', 'Support call with Jana Novak');
    expect(key).toMatch(/^name:[0-9a-f]{32}$/);
    expect(sessionNameKey('pii-key-0123456789', 'zoom', 'Support call with Jana Novak')).toBe(key);
    expect(sessionNameKey('pii-key-9876543210', 'zoom', 'Support call with Jana Novak')).not.toBe(key);
    expect(sessionNameKey('pii-key-0123456789', 'zoom', 'Support call with Jana Nováková')).not.toBe(key);
    expect(key.slice('name:'.length)).not.toBe(
      participantKey('pii-key-0123456789', 'zoom', 'Support call with Jana Novak'),
    );
  });
});
