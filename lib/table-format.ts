/** Query results as the commands print them: an aligned table, CSV or JSON lines. */

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (typeof value === 'object')
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return String(value);
}

export function formatRows(columns: string[], rows: unknown[][], format: string): string {
  if (format === 'json') {
    return rows
      .map(
        (row) =>
          `${JSON.stringify(
            Object.fromEntries(
              columns.map((c, i) => [
                c,
                row[i] instanceof Uint8Array || typeof row[i] === 'bigint' || row[i] instanceof Date
                  ? cell(row[i])
                  : row[i],
              ]),
            ),
          )}\n`,
      )
      .join('');
  }
  if (format === 'csv') {
    const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
    return `${[columns.map(quote).join(','), ...rows.map((row) => row.map((v) => quote(cell(v))).join(','))].join('\n')}\n`;
  }
  const text = rows.map((row) => row.map(cell));
  const widths = columns.map((c, i) => Math.min(60, Math.max(c.length, ...text.map((r) => r[i]!.length))));
  const line = (cells: string[]) =>
    cells.map((c, i) => (c.length > widths[i]! ? `${c.slice(0, widths[i]! - 1)}…` : c.padEnd(widths[i]!))).join(' │ ');
  return `${[
    line(columns),
    widths.map((w) => '─'.repeat(w)).join('─┼─'),
    ...text.map(line),
    `(${rows.length} row${rows.length === 1 ? '' : 's'})`,
  ].join('\n')}\n`;
}
