// lib/progress.ts, used by the warehouse's long runs (rebuild, replay); kept beside their tests.
import { describe, expect, it } from 'vitest';
import { createProgress, formatDuration } from '../../lib/progress.js';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { stream: { isTTY, columns: 200, write: (text: string) => writes.push(text) }, writes };
}

describe('progress', () => {
  it('redraws one line on a terminal, at most every redrawMs, with rate and ETA', () => {
    const { stream, writes } = fakeStream(true);
    let ms = 0;
    const progress = createProgress({ label: 'rebuild', unit: 'sessions', stream, now: () => ms, redrawMs: 100 });
    ms = 500; // the clock starts at the first update, not when the progress is made
    progress.update(0, 10_000);
    ms = 1500;
    progress.update(1000, 10_000);
    ms = 1550;
    progress.update(1050, 10_000); // too soon: not drawn
    ms = 2500;
    progress.update(2000, 10_000);
    ms = 10_500;
    progress.update(10_000, 10_000);
    progress.finish();
    expect(writes).toEqual([
      '\r\x1b[2Krebuild: 0% 0/10,000 sessions, 0 sessions/s',
      '\r\x1b[2Krebuild: 10% 1,000/10,000 sessions, 1,000 sessions/s, ETA 9.0 s',
      '\r\x1b[2Krebuild: 20% 2,000/10,000 sessions, 1,000 sessions/s, ETA 8.0 s',
      '\r\x1b[2Krebuild: 100% 10,000/10,000 sessions, 1,000 sessions/s',
      '\r\x1b[2Krebuild: 10,000 sessions in 10 s (1,000 sessions/s)\n',
    ]);
  });

  it('writes a plain line every N percent when not on a terminal', () => {
    const { stream, writes } = fakeStream(false);
    let ms = 0;
    const progress = createProgress({ label: 'replay', unit: 'raw webhooks', stream, now: () => ms, everyPercent: 25 });
    for (let done = 0; done <= 100; done += 5) {
      ms = 7000 + done * 100;
      progress.update(done, 100);
    }
    progress.finish('100 raw webhooks normalized again');
    expect(writes).toEqual([
      'replay: 0% 0/100 raw webhooks, 0 raw webhooks/s\n',
      'replay: 25% 25/100 raw webhooks, 10 raw webhooks/s, ETA 7.5 s\n',
      'replay: 50% 50/100 raw webhooks, 10 raw webhooks/s, ETA 5.0 s\n',
      'replay: 75% 75/100 raw webhooks, 10 raw webhooks/s, ETA 2.5 s\n',
      'replay: 100% 100/100 raw webhooks, 10 raw webhooks/s\n',
      'replay: 100 raw webhooks normalized again\n',
    ]);
  });

  it('formats durations for people', () => {
    expect([0.42, 12.4, 185, 3725].map(formatDuration)).toEqual(['0.4 s', '12 s', '3 m 05 s', '1 h 02 m']);
  });
});
