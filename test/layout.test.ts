/**
 * The layers of the README's Layout section, as the imports have them: `lib/` under everything,
 * `ingest/` and `processors/` beside each other on it, `bin/` on top. A module that reaches
 * across (the ingest into an adapter, a command into another command) fails here with its line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../lib/paths.js';

const root = projectRoot();

/** What each top-level folder may import from the product's folders (itself included). */
const MAY_IMPORT: Record<string, readonly string[]> = {
  lib: ['lib'],
  ingest: ['lib', 'ingest'],
  processors: ['lib', 'processors'],
  bin: ['lib', 'ingest', 'processors', 'bin'],
};

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

/** Every relative import of a file: [line number, the file it names, relative to the root]. */
function importsOf(file: string): Array<[number, string]> {
  const found: Array<[number, string]> = [];
  readFileSync(join(root, file), 'utf8')
    .split('\n')
    .forEach((line, i) => {
      for (const m of line.matchAll(/(?:from\s+|import\(\s*)'(\.{1,2}\/[^']+)'/g)) {
        found.push([i + 1, relative(root, resolve(root, dirname(file), m[1]!))]);
      }
    });
  return found;
}

describe('the layers', () => {
  it('lib, ingest, processors and bin import only the layers under them', () => {
    const crossings: string[] = [];
    for (const [layer, allowed] of Object.entries(MAY_IMPORT)) {
      for (const file of sources(layer)) {
        for (const [line, target] of importsOf(file)) {
          const top = target.split('/')[0]!;
          if (top in MAY_IMPORT && !allowed.includes(top)) crossings.push(`${file}:${line} imports ${target}`);
        }
      }
    }
    expect(crossings).toEqual([]);
  });

  it('no command imports another: what two commands share is in bin/context.ts or a layer below', () => {
    const crossings = sources('bin/commands').flatMap((file) =>
      importsOf(file)
        .filter(([, target]) => target.startsWith('bin/commands/'))
        .map(([line, target]) => `${file}:${line} imports ${target}`),
    );
    expect(crossings).toEqual([]);
  });
});
