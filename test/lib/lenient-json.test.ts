import { describe, expect, it } from 'vitest';
import { escapeControlCharsInStrings, parseLenientJson } from '../../lib/lenient-json.js';

describe('escapeControlCharsInStrings', () => {
  it.each([
    ['{"text": "a\nb"}', '{"text": "a\\u000ab"}'],
    ['{\n  "t": "x\ty"\n}', '{\n  "t": "x\\u0009y"\n}'],
    ['{"t": "quote \\" then\nnewline"}', '{"t": "quote \\" then\\u000anewline"}'],
    ['{"ok": "\\n"}', '{"ok": "\\n"}'],
  ])('escapeControlCharsInStrings(%j) = %j', (input, expected) => {
    expect(escapeControlCharsInStrings(input)).toBe(expected);
    expect(() => JSON.parse(escapeControlCharsInStrings(input))).not.toThrow();
  });
});

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
