/** The adapter registry: provider name → its adapter (one per provider, each pure). */
import { apizeeAdapter } from './apizee/index.js';
import { jifelineAdapter } from './jifeline/index.js';
import { mluviiAdapter } from './mluvii/index.js';
import type { Adapter } from './types.js';
import { zoomAdapter } from './zoom/index.js';

export const ADAPTERS: ReadonlyMap<string, Adapter> = new Map<string, Adapter>(
  [zoomAdapter, apizeeAdapter, mluviiAdapter, jifelineAdapter].map((adapter) => [adapter.provider, adapter]),
);

/** The adapter of a provider, or undefined when none is registered (normalize dead-letters with UNKNOWN_PROVIDER). */
export function adapterFor(provider: string): Adapter | undefined {
  return ADAPTERS.get(provider);
}
