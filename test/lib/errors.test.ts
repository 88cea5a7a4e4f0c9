import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../../lib/errors.js';
import { projectRoot } from '../../lib/paths.js';

describe('error codes', () => {
  const readme = readFileSync(join(projectRoot(), 'README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('## Error codes'),
    readme.indexOf('\n## ', readme.indexOf('## Error codes') + 1),
  );

  /** The cells of the code's row, `| code | HTTP | retriable | meaning |`, the padding of an aligned table trimmed. */
  const cellsOf = (code: string) =>
    section
      .split('\n')
      .map((line) => line.split('|').map((cell) => cell.trim()))
      .find((cells) => cells[1] === `\`${code}\``);

  it.each(Object.keys(ERRORS))('%s is documented in the README', (code) => {
    expect(cellsOf(code), 'a row of its own').toBeDefined();
  });

  it.each(Object.entries(ERRORS))('%s is documented as retriable or not, as it is', (code, spec) => {
    expect(cellsOf(code)?.[3]).toBe(spec.retriable ? 'yes' : 'no');
  });

  it.each(Object.entries(ERRORS).filter(([, spec]) => 'status' in spec))(
    '%s is documented with its HTTP status',
    (code, spec) => {
      expect(cellsOf(code)?.[2]).toBe(String((spec as { status: number }).status));
    },
  );
});
