/**
 * The adapter registry: provider name → its adapter (one per provider, each pure). Apizee,
 * mluvii and Jifeline register here as they land.
 */
import type { Adapter } from './types.js';
import { zoomAdapter } from './zoom/index.js';

export const ADAPTERS: ReadonlyMap<string, Adapter> = new Map<string, Adapter>([[zoomAdapter.provider, zoomAdapter]]);

/** The adapter of a provider, or undefined when none is registered (normalize dead-letters with UNKNOWN_PROVIDER). */
export function adapterFor(provider: string): Adapter | undefined {
  return ADAPTERS.get(provider);
}
