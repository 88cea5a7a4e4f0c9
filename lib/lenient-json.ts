/**
 * JSON as a provider really sends it, read the same way by the ingest (the dedup and message
 * keys of a delivery) and by its adapter (the events): were they to read a body differently, a
 * delivery would get keys from one reading and events from another. Strict JSON is read as
 * sent; only text JSON.parse refuses gets a repair, so valid bodies never change. The raw
 * archive keeps the bytes as received either way.
 */

/**
 * A documented mluvii example breaks a string across lines (SessionActivityWelcomeMessage):
 *   "text": "Dobrý den, jsme rádi, že využíváte chat firmy mluvii.
 *            Co vás k nám přivádí? ",
 * A raw control character inside a JSON string is not JSON. Escapes U+0000..U+001F inside
 * string literals only (whitespace between tokens stays as it is).
 */
export function escapeControlCharsInStrings(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    const code = ch.charCodeAt(0);
    if (inString && ch === '\\') {
      out += ch + (text[i + 1] ?? '');
      i++;
    } else if (ch === '"') {
      inString = !inString;
      out += ch;
    } else if (inString && code < 0x20) {
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    } else {
      out += ch;
    }
  }
  return out;
}

/**
 * JSON.parse, and when it refuses the text, JSON.parse once more with the control characters
 * inside strings escaped. Throws JSON.parse's own error for the text as sent when neither reads it.
 */
export function parseLenientJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    try {
      return JSON.parse(escapeControlCharsInStrings(text));
    } catch {
      throw error;
    }
  }
}
