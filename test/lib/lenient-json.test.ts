import { describe, expect, it } from 'vitest';
import { parseLenientJson } from '../../lib/lenient-json.js';

describe('parseLenientJson', () => {
  it('reads JSON as sent, control characters escaped in it included', () => {
    expect(parseLenientJson('{"ok": "a\\nb", "n": [1, 2]}')).toEqual({ ok: 'a\nb', n: [1, 2] });
  });

  it('reads a string broken across lines (the documented SessionActivityWelcomeMessage)', () => {
    const text =
      '{"text": "Dobrý den, jsme rádi, že využíváte chat firmy mluvii. \n             Co vás k nám přivádí? "}';
    expect(() => JSON.parse(text)).toThrow(SyntaxError);
    expect(parseLenientJson(text)).toEqual({
      text: 'Dobrý den, jsme rádi, že využíváte chat firmy mluvii. \n             Co vás k nám přivádí? ',
    });
  });

  it.each(['', 'not json', '{"a": 1', '{"a": "b\n"'])('throws for %j, as JSON.parse does', (text) => {
    expect(() => parseLenientJson(text)).toThrow(SyntaxError);
  });
});
