/** `sessionflow audit`: the options and the verdict's exit code; the audit itself is processors/warehouse/audit.ts. */
import type { Command } from 'commander';
import { formatRows } from '../../lib/table-format.js';
import { resolveSecrets } from '../../lib/secrets.js';
import { AUDIT_COLUMNS, auditDataset, auditVerdict } from '../../processors/warehouse/audit.js';
import { openDataset } from '../../processors/warehouse/query.js';
import { fail, loadConfigOrExit } from '../context.js';

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description(
      'prove nothing was silently dropped: every archived delivery has events, a dead letter or is a duplicate; works while the pipeline runs',
    )
    .option('--format <format>', 'table, csv or json', 'table')
    .addHelpText(
      'after',
      '\nPer provider and in total: archived = with_events + dead_lettered + duplicates + no_events + unexplained.\n' +
        'Deliveries no longer archived are counted apart: erased (sessionflow erase), expired (RAW_RETENTION_DAYS),\n' +
        'refused_erased (a redelivery of erased data, dropped on arrival).\n' +
        'Exit code 0 when unexplained is 0 everywhere, 1 otherwise. With csv or json the verdict goes to stderr.\n' +
        'A batch the pipeline is exporting this very second can show as unexplained: run it again.',
    )
    .action(async (options: { format: string }) => {
      if (!['table', 'csv', 'json'].includes(options.format)) fail('--format must be table, csv or json', 2);
      const config = loadConfigOrExit();
      const dataset = await openDataset(config.dataDir, { restricted: true });
      let code: number;
      try {
        const result = await auditDataset(dataset, () => resolveSecrets(config).piiKey, {
          sessionNames: config.sessionNames,
          zoomHostPattern: config.zoomHostPattern,
        });
        const verdict = auditVerdict(result);
        process.stdout.write(
          formatRows(
            [...AUDIT_COLUMNS],
            result.rows.map((r) => AUDIT_COLUMNS.map((c) => r[c])),
            options.format,
          ),
        );
        (options.format === 'table' ? process.stdout : process.stderr).write(`${verdict.line}\n`);
        code = verdict.code;
      } catch (err) {
        fail((err as Error).message);
      } finally {
        await dataset.close();
      }
      process.exitCode = code;
    });
}
