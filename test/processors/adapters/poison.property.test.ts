/**
 * Every adapter against poison: arbitrary bodies, and the golden fixtures with any value at any
 * path replaced by extreme numbers, huge arrays, wrong types, `__proto__` keys, NUL bytes, lone
 * surrogates, very long strings or times in the year 9999 and before 1970. An adapter never
 * throws; each event it returns fits SessionEvent, the rest are failures with a code of the
 * closed list; nothing reaches a built-in prototype.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROVIDERS } from '../../../lib/canonical.js';
import { adapterFor } from '../../../processors/adapters/index.js';
import {
  arbitraryBody,
  expectNoPollution,
  expectSound,
  fixtures,
  mutatedFixture,
  PII_KEY,
  rawOf,
} from '../../helpers/poison.js';

const CTX = { piiKey: PII_KEY };
const LONG = 'x'.repeat(1_000);
// POISON_RUNS=5000 for a longer hunt; the default keeps the file well under 30 s.
const RUNS = Number(process.env.POISON_RUNS ?? 300);

describe.each(PROVIDERS)('%s adapter against poison', (provider) => {
  const adapter = adapterFor(provider)!;
  const run = (body: string | Buffer) => {
    const result = adapter.normalize(rawOf(provider, body), CTX);
    expectSound(result, LONG);
    expectNoPollution();
    return result;
  };

  it('reads every fixture as it is', () => {
    for (const fixture of fixtures(provider)) run(fixture.text);
  });

  it('never throws on arbitrary bodies', () => {
    fc.assert(
      fc.property(arbitraryBody, (body) => void run(body)),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });

  it('never throws on mutated fixtures, and gives the same answer twice', () => {
    fc.assert(
      fc.property(mutatedFixture(provider), ({ body }) => {
        expect(run(body)).toStrictEqual(adapter.normalize(rawOf(provider, body), CTX));
      }),
      { numRuns: RUNS },
    );
  });
});
