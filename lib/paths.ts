import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SessionflowError } from './errors.js';

let root: string | undefined;

/** The package root (where package.json, schemas/ and sql/ are), from source or from dist/. */
export function projectRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir)
      throw new SessionflowError('INTERNAL', `package.json not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  root = dir;
  return root;
}

export function schemaPath(...parts: string[]): string {
  return join(projectRoot(), 'schemas', ...parts);
}

export function sqlPath(...parts: string[]): string {
  return join(projectRoot(), 'sql', ...parts);
}
