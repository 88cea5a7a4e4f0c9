type Field = { name: string; type: unknown; doc?: string };

/** Every field of every record in an Avro schema, nested records included, with its path. */
export function avroFields(schema: unknown, path: string[] = []): Array<{ path: string; field: Field }> {
  if (Array.isArray(schema)) return schema.flatMap((branch) => avroFields(branch, path));
  if (!schema || typeof schema !== 'object') return [];
  const s = schema as { type?: unknown; fields?: Field[]; items?: unknown; values?: unknown };
  const own = (s.fields ?? []).flatMap((f) => [
    { path: [...path, f.name].join('.'), field: f },
    ...avroFields(f.type, [...path, f.name]),
  ]);
  return [
    ...own,
    ...avroFields(s.items, path),
    ...avroFields(s.values, path),
    ...(typeof s.type === 'object' ? avroFields(s.type, path) : []),
  ];
}

/** Paths of the fields with no `doc` (every field of our schemas has one). */
export function undocumentedFields(schema: unknown, name: string): string[] {
  return avroFields(schema, [name])
    .filter(({ field }) => !field.doc || field.doc.trim() === '')
    .map(({ path }) => path);
}
