import { describe, expect, it } from 'vitest';
import {
  PersonMatcher,
  normalizeSubjects,
  openSubjects,
  phoneMatches,
  phoneDigits,
  sealSubjects,
  subjectHashes,
  subjectProblems,
} from '../../lib/erasure.js';
import { isSessionflowError } from '../../lib/errors.js';

const none = { emails: [], phones: [], participants: [], sessions: [] };
const matcher = (emails: string[], phones: string[] = []) =>
  new PersonMatcher(normalizeSubjects({ ...none, emails, phones }));
const body = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('PersonMatcher: an e-mail in any spelling a body uses', () => {
  const m = matcher(['Jana.Novak+support@Example.EU']);
  it.each([
    ['plain', body({ email: 'jana.novak+support@example.eu' })],
    ['upper case', body({ email: 'JANA.NOVAK+SUPPORT@EXAMPLE.EU' })],
    ['.NET escapes + and @', Buffer.from('{"email":"jana.novak\\u002Bsupport\\u0040example.eu"}')],
    ['lower-case hex escapes', Buffer.from('{"email":"jana.novak\\u002bsupport\\u0040example.eu"}')],
    ['inside free text', body({ feedback: 'Write to <jana.novak+support@example.eu>.' })],
  ])('finds it %s', (_, bytes) => expect(m.matches(bytes)).toBe(true));

  it.each([
    ['a longer local part', body({ email: 'hjana.novak+support@example.eu' })],
    ['a longer domain', body({ email: 'jana.novak+support@example.eu.org' })],
    ['someone else', body({ email: 'petr.novak@example.eu' })],
  ])('does not take %s for it', (_, bytes) => expect(m.matches(bytes)).toBe(false));
});

describe('PersonMatcher: a phone number with or without country code and separators', () => {
  const m = matcher([], ['+420 777 123 456']);
  it.each([
    '+420 777 123 456',
    '+420777123456',
    '00420 777 123 456',
    '777 123 456',
    '777-123-456',
    '(+420) 777.123.456',
  ])('finds %s', (written) => expect(m.matches(body({ phone: written }))).toBe(true));
  it.each(['+420 777 123 457', '+421 777 123 456 9', '123 456'])('does not take %s for it', (written) =>
    expect(m.matches(body({ phone: written }))).toBe(false),
  );
  it('compares digits: the same number with a country code or a trunk 0', () => {
    expect(phoneDigits('06 12 48 73 95')).toBe('612487395');
    expect(phoneMatches(phoneDigits('+33 6 12 48 73 95'), phoneDigits('06 12 48 73 95'))).toBe(true);
  });
});

describe('erasure requests', () => {
  const subjects = normalizeSubjects({
    emails: [' Jana@Example.eu '],
    phones: ['+420 777 123 456'],
    participants: ['p1'],
    sessions: ['zoom:s1'],
  });

  it('are sealed: the sealed bytes hold no value, and open only with the same PII_KEY', () => {
    const sealed = sealSubjects('key-one-0123456789', subjects);
    expect(sealed.includes('jana@example.eu')).toBe(false);
    expect(sealed.includes('420777123456')).toBe(false);
    expect(openSubjects('key-one-0123456789', sealed)).toEqual(subjects);
    const refused = (() => {
      try {
        openSubjects('key-two-0123456789', sealed);
      } catch (err) {
        return err;
      }
    })();
    expect(isSessionflowError(refused, 'ERASURE_INVALID')).toBe(true);
  });

  it('are recorded as keyed hashes, the same for the same value however it was typed', () => {
    const hashes = subjectHashes('key-one-0123456789', subjects);
    expect(hashes).toEqual([
      expect.stringMatching(/^email:[0-9a-f]{32}$/),
      expect.stringMatching(/^phone:/),
      expect.stringMatching(/^participant:/),
      expect.stringMatching(/^session:/),
    ]);
    expect(subjectHashes('key-one-0123456789', normalizeSubjects({ ...none, emails: ['jana@example.eu'] }))).toEqual([
      hashes[0],
    ]);
    expect(hashes.join()).not.toContain('jana');
  });

  it('say what is wrong with what was typed', () => {
    expect(subjectProblems(none)).toEqual(['name someone to erase: --email, --phone, --participant or --session']);
    expect(subjectProblems({ ...none, emails: ['not-an-address'], phones: ['12 34'] })).toEqual([
      '--email "not-an-address" is not an e-mail address',
      '--phone "12 34" is not a phone number of at least 8 digits',
    ]);
  });
});
