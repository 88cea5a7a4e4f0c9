import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config.js';

describe('SESSION_NAMES', () => {
  it('is hash unless set, and takes keep and drop', () => {
    expect(parseConfig({}).sessionNames).toBe('hash');
    expect(parseConfig({ SESSION_NAMES: 'keep' }).sessionNames).toBe('keep');
    expect(parseConfig({ SESSION_NAMES: 'drop' }).sessionNames).toBe('drop');
  });

  it('refuses any other value, naming the variable among every problem', () => {
    expect(() => parseConfig({ SESSION_NAMES: 'plain', PORT: 'x' })).toThrow(/SESSION_NAMES: .*hash.*keep.*drop[\s\S]*PORT:|PORT:[\s\S]*SESSION_NAMES: .*hash.*keep.*drop/);
  });
});
