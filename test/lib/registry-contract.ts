/** The contract every Registry implementation keeps (embedded and Confluent-compatible). */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Registry } from '../../lib/registry/types.js';

export interface RegistryHarness {
  open(): Promise<Registry>;
}

const record = (name: string, fields: object[]) => ({
  type: 'record',
  name,
  namespace: 'io.sessionflow.contract',
  fields,
});
const v1 = record('Thing', [{ name: 'id', type: 'string', doc: 'The id.' }]);
const v2 = record('Thing', [
  { name: 'id', type: 'string', doc: 'The id.' },
  { name: 'note', type: ['null', 'string'], default: null, doc: 'Added later, with a default.' },
]);
const breaking = record('Thing', [
  { name: 'id', type: 'string', doc: 'The id.' },
  { name: 'count', type: 'long', doc: 'Added without a default: old data cannot be read.' },
]);

export function registryContract(name: string, harness: RegistryHarness): void {
  describe(`Registry contract: ${name}`, () => {
    const open: Registry[] = [];
    const client = async () => {
      const r = await harness.open();
      open.push(r);
      return r;
    };
    afterEach(async () => {
      for (const r of open.splice(0)) await r.close();
    });
    const subject = () => `contract-${randomUUID().slice(0, 8)}-value`;

    it('gives the same id for the same schema and finds it by id', async () => {
      const registry = await client();
      const s = subject();
      const id = await registry.register(s, v1);
      expect(await registry.register(s, v1)).toBe(id);
      expect(JSON.parse(await registry.lookup(id))).toMatchObject({
        name: 'Thing',
        fields: [{ name: 'id', type: 'string' }],
      });
    });

    it('accepts a BACKWARD-compatible change under a new id and refuses a breaking one', async () => {
      const registry = await client();
      const s = subject();
      const id1 = await registry.register(s, v1);
      const id2 = await registry.register(s, v2);
      expect(id2).not.toBe(id1);
      await expect(registry.register(s, breaking)).rejects.toThrow(/compatib/i);
      expect(JSON.parse(await registry.lookup(id1)).fields).toHaveLength(1);
    });

    it('keeps ids across clients', async () => {
      const s = subject();
      const first = await client();
      const id = await first.register(s, v1);
      const second = await client();
      expect(JSON.parse(await second.lookup(id)).name).toBe('Thing');
    });

    it('rejects an id it does not know', async () => {
      const registry = await client();
      await expect(registry.lookup(987_654_321)).rejects.toThrow();
    });
  });
}
