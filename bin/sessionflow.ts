#!/usr/bin/env node
import { Command } from 'commander';
import { registerAudit } from './commands/audit.js';
import { registerBackfill } from './commands/backfill.js';
import { registerDemo } from './commands/demo.js';
import { registerErase } from './commands/erase.js';
import { registerPoll } from './commands/poll.js';
import { registerRebuild } from './commands/rebuild.js';
import { registerReplay } from './commands/replay.js';
import { registerReport } from './commands/report.js';
import { registerRun } from './commands/run.js';
import { registerSql } from './commands/sql.js';

const program = new Command()
  .name('sessionflow')
  .description(
    'Session-platform webhooks (Zoom Video SDK, Apizee, mluvii, Jifeline) in, session facts out in DuckDB and Parquet.',
  )
  .version('0.1.0')
  .showHelpAfterError();

registerRun(program);
registerPoll(program);
registerBackfill(program);
registerDemo(program);
registerSql(program);
registerRebuild(program);
registerReplay(program);
registerReport(program);
registerAudit(program);
registerErase(program);

await program.parseAsync(process.argv);
