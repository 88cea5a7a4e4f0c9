/**
 * Erasure of a person (DESIGN section 9): what a request names, how it travels, and how a stored
 * byte sequence is found to name them.
 *
 * A request names people by e-mail, phone number, participant key or session key. It travels
 * through the log (topic erasures.v1) to the single warehouse writer, in both modes. Its subjects
 * are sealed (AES-256-GCM, with a key derived from PII_KEY), so the topic holds no readable
 * personal value, and a request sealed with another key is refused rather than half-applied.
 *
 * What is kept afterwards is never the value: `subjectHash` is a keyed hash (HMAC-SHA256 with
 * PII_KEY), enough to say which request erased what and to recognise the same request again.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { SessionflowError } from './errors.js';
import * as field from './record.js';
import type { RecordOf } from './record.js';

export interface ErasureSubjects {
  emails: string[];
  phones: string[];
  participants: string[];
  sessions: string[];
}

/** The request as it travels (schemas/ErasureRequest.avsc; lib/record.ts says how a record is declared). */
export const ERASURE_REQUEST_FIELDS = {
  request_id: field.string,
  requested_at: field.timestamp,
  dry_run: field.boolean,
  /** iv (12 bytes), GCM tag (16), then the subjects as JSON, encrypted. */
  subjects: field.bytes,
};
export interface ErasureRequest extends RecordOf<typeof ERASURE_REQUEST_FIELDS> {}

const SUBJECTS = z.object({
  emails: z.array(z.string()),
  phones: z.array(z.string()),
  participants: z.array(z.string()),
  sessions: z.array(z.string()),
});

const sealKey = (piiKey: string) =>
  Buffer.from(hkdfSync('sha256', piiKey, 'sessionflow', 'erasure request subjects', 32));

export function sealSubjects(piiKey: string, subjects: ErasureSubjects): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealKey(piiKey), iv);
  const text = Buffer.concat([cipher.update(JSON.stringify(subjects), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), text]);
}

/** The subjects of a sealed request; ERASURE_INVALID when it was sealed with another PII_KEY (or is damaged). */
export function openSubjects(piiKey: string, sealed: Buffer): ErasureSubjects {
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealKey(piiKey), sealed.subarray(0, 12));
    decipher.setAuthTag(sealed.subarray(12, 28));
    const text = Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8');
    return normalizeSubjects(SUBJECTS.parse(JSON.parse(text)));
  } catch (cause) {
    throw new SessionflowError(
      'ERASURE_INVALID',
      'the request cannot be opened with this PII_KEY (sealed with another key, or damaged)',
      { cause },
    );
  }
}

export const normalizeEmail = (email: string): string => email.trim().toLowerCase();

/**
 * A phone number's digits, without the international `00` and without leading zeros: "+420 777
 * 123 456", "00420777123456" and "420-777-123-456" are all 420777123456; a national "0777 123 456"
 * is 777123456, which `phoneMatches` finds inside the international form.
 */
export const phoneDigits = (phone: string): string => phone.replace(/\D/g, '').replace(/^0+/, '');

/** The shortest phone number matched: fewer digits than this would match numbers of other people. */
export const MIN_PHONE_DIGITS = 8;

/** Problems with what the user typed, one line each; empty when the subjects can be erased. */
export function subjectProblems(subjects: ErasureSubjects): string[] {
  const problems: string[] = [];
  for (const email of subjects.emails)
    if (!/^[^@\s]+@[^@\s]+$/.test(email.trim()))
      problems.push(`--email ${JSON.stringify(email)} is not an e-mail address`);
  for (const phone of subjects.phones) {
    if (!/^[+\d][\d\s().\-/]*$/.test(phone.trim()) || phoneDigits(phone).length < MIN_PHONE_DIGITS) {
      problems.push(`--phone ${JSON.stringify(phone)} is not a phone number of at least ${MIN_PHONE_DIGITS} digits`);
    }
  }
  for (const key of [...subjects.participants, ...subjects.sessions])
    if (key.trim() === '') problems.push('a --participant or --session key is empty');
  if (Object.values(subjects).every((list) => list.length === 0))
    problems.push('name someone to erase: --email, --phone, --participant or --session');
  return problems;
}

export function normalizeSubjects(subjects: ErasureSubjects): ErasureSubjects {
  const unique = (values: string[]) => [...new Set(values)].sort();
  return {
    emails: unique(subjects.emails.map(normalizeEmail)),
    phones: unique(subjects.phones.map(phoneDigits)),
    participants: unique(subjects.participants.map((k) => k.trim())),
    sessions: unique(subjects.sessions.map((k) => k.trim())),
  };
}

/** The keyed hashes the erasure record keeps instead of the values: `email:<hash>`, `phone:<hash>`, ... */
export function subjectHashes(piiKey: string, subjects: ErasureSubjects): string[] {
  const hash = (kind: string, value: string) =>
    `${kind}:${createHmac('sha256', piiKey).update(`erasure\u001f${kind}\u001f${value}`).digest('hex').slice(0, 32)}`;
  return [
    ...subjects.emails.map((v) => hash('email', v)),
    ...subjects.phones.map((v) => hash('phone', v)),
    ...subjects.participants.map((v) => hash('participant', v)),
    ...subjects.sessions.map((v) => hash('session', v)),
  ];
}

/** A keyed hash of a delivery's body or dedup key: how a redelivery of an erased delivery is recognised. */
export const deliveryHash = (
  piiKey: string,
  kind: 'body' | 'dedup',
  provider: string,
  value: Buffer | string,
): string =>
  createHmac('sha256', piiKey).update(`${kind}\u001f${provider}\u001f`).update(value).digest('hex').slice(0, 32);

/**
 * The text a byte sequence shows a reader: JSON's `\uXXXX` and `\/` escapes undone (mluvii's
 * .NET serializer writes `+` as `\u002B`, PHP writes `/` as `\/`) and lower-cased, so an e-mail
 * is found however the body spells it.
 */
export function searchableText(bytes: Buffer): string {
  return bytes
    .toString('utf8')
    .replace(/\\u([0-9a-fA-F]{4})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    .replaceAll('\\/', '/')
    .toLowerCase();
}

/** Runs of digits with the separators phone numbers are written with. */
const PHONE_LIKE = /\+?\d[\d\s().\-/]{5,}\d/g;

/**
 * Whether two phone numbers (as `phoneDigits`) are the same: equal, or one is the other with a
 * country code in front, the shorter still MIN_PHONE_DIGITS long.
 */
export function phoneMatches(a: string, b: string): boolean {
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  return short.length >= MIN_PHONE_DIGITS && long.endsWith(short);
}

/**
 * Whether `text` holds `email` as a whole address: ana@example.eu is not in hana@example.eu nor in
 * ana@example.eu.org, but is in "mailto:ana@example.eu." and in "<ana@example.eu>".
 */
function containsEmail(text: string, email: string): boolean {
  for (let at = text.indexOf(email); at >= 0; at = text.indexOf(email, at + 1)) {
    const before = text[at - 1] ?? '';
    const after = text.slice(at + email.length, at + email.length + 2);
    if (/[a-z0-9._%+-]/.test(before)) continue;
    if (/^[a-z0-9-]/.test(after) || /^\.[a-z0-9]/.test(after)) continue;
    return true;
  }
  return false;
}

/** Finds whether stored bytes (a body, a log message) name one of the e-mails or phone numbers. */
export class PersonMatcher {
  constructor(private readonly subjects: Pick<ErasureSubjects, 'emails' | 'phones'>) {}

  get empty(): boolean {
    return this.subjects.emails.length === 0 && this.subjects.phones.length === 0;
  }

  matches(bytes: Buffer): boolean {
    if (this.empty) return false;
    const text = searchableText(bytes);
    if (this.subjects.emails.some((email) => containsEmail(text, email))) return true;
    if (this.subjects.phones.length === 0) return false;
    for (const [candidate] of text.matchAll(PHONE_LIKE)) {
      const digits = phoneDigits(candidate);
      if (this.subjects.phones.some((phone) => phoneMatches(phone, digits))) return true;
    }
    return false;
  }
}
