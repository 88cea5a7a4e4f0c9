import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config.js';

describe('SESSION_NAMES', () => {
  it('is hash unless set, and takes keep and drop', () => {
    expect(parseConfig({}).sessionNames).toBe('hash');
    expect(parseConfig({ SESSION_NAMES: 'keep' }).sessionNames).toBe('keep');
    expect(parseConfig({ SESSION_NAMES: 'drop' }).sessionNames).toBe('drop');
  });

  it('refuses any other value, naming the variable among every problem', () => {
    expect(() => parseConfig({ SESSION_NAMES: 'plain', PORT: 'x' })).toThrow(
      /SESSION_NAMES: .*hash.*keep.*drop[\s\S]*PORT:|PORT:[\s\S]*SESSION_NAMES: .*hash.*keep.*drop/,
    );
  });
});

describe('ZOOM_HOST_PATTERN and ZOOM_TIMESTAMP_TOLERANCE_MINUTES', () => {
  it('compile the pattern, case aside; none by default', () => {
    expect(parseConfig({}).zoomHostPattern).toBeUndefined();
    expect(parseConfig({ ZOOM_HOST_PATTERN: '^agent-' }).zoomHostPattern?.test('Agent-17')).toBe(true);
  });

  it('refuse a pattern that is not a regular expression, and a window past a day', () => {
    expect(() => parseConfig({ ZOOM_HOST_PATTERN: '(' })).toThrow(/ZOOM_HOST_PATTERN: is not a regular expression/);
    expect(() => parseConfig({ ZOOM_TIMESTAMP_TOLERANCE_MINUTES: '2000' })).toThrow(/ZOOM_TIMESTAMP_TOLERANCE_MINUTES/);
    expect(parseConfig({}).zoomToleranceMinutes).toBe(90);
  });
});
