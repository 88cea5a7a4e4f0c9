import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { openDataset } from '../../processors/warehouse/query.js';
import { fail, loadConfigOrExit } from '../context.js';

export function registerSql(program: Command): void {
  program
    .command('sql')
    .description('run SQL (or a .sql file) on the Parquet dataset; works while the pipeline runs')
    .argument('<query>', 'a query such as "select * from session_facts", or the path of a .sql file')
    .option('--format <format>', 'table, csv or json', 'table')
    .addHelpText('after', '\nTables: session_facts, participant_sessions, session_events, raw_webhooks, dead_letters.\nExample: npx sessionflow sql "select provider, count(*), avg(duration_seconds) from session_facts group by 1"')
    .action(async (query: string, options: { format: string }) => {
      if (!['table', 'csv', 'json'].includes(options.format)) fail('--format must be table, csv or json', 2);
      const config = loadConfigOrExit();
      const text = query.trim().toLowerCase().endsWith('.sql') && existsSync(query) ? readFileSync(query, 'utf8') : query;
      const dataset = await openDataset(config.dataDir);
      try {
        const result = await dataset.query(text);
        process.stdout.write(render(result.columns, result.rows, options.format));
      } catch (err) {
        fail((err as Error).message);
      } finally {
        await dataset.close();
      }
    });
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (typeof value === 'object') return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return String(value);
}

export function render(columns: string[], rows: unknown[][], format: string): string {
  if (format === 'json') {
    return rows.map((row) => JSON.stringify(Object.fromEntries(columns.map((c, i) => [c, row[i] instanceof Uint8Array || typeof row[i] === 'bigint' || row[i] instanceof Date ? cell(row[i]) : row[i]]))) + '\n').join('');
  }
  if (format === 'csv') {
    const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
    return [columns.map(quote).join(','), ...rows.map((row) => row.map((v) => quote(cell(v))).join(','))].join('\n') + '\n';
  }
  const text = rows.map((row) => row.map(cell));
  const widths = columns.map((c, i) => Math.min(60, Math.max(c.length, ...text.map((r) => r[i]!.length))));
  const line = (cells: string[]) => cells.map((c, i) => (c.length > widths[i]! ? c.slice(0, widths[i]! - 1) + '…' : c.padEnd(widths[i]!))).join(' │ ');
  return [line(columns), widths.map((w) => '─'.repeat(w)).join('─┼─'), ...text.map(line), `(${rows.length} row${rows.length === 1 ? '' : 's'})`].join('\n') + '\n';
}
