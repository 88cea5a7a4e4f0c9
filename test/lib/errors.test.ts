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

  it.each(Object.keys(ERRORS))('%s is documented in the README', (code) => {
    expect(section).toContain(`\`${code}\``);
  });

  it.each(Object.entries(ERRORS).filter(([, spec]) => 'status' in spec))(
    '%s is documented with its HTTP status',
    (code, spec) => {
      const row = section.split('\n').find((line) => line.includes(`\`${code}\``))!;
      expect(row).toContain(`| ${(spec as { status: number }).status} |`);
    },
  );
});
