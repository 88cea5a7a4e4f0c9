import type { Command } from 'commander';
import { AvroCodec } from '../../lib/avro.js';
import { openTransport } from '../../lib/log/open.js';
import { topicsFor } from '../../lib/topics.js';
import { createLogRawSink } from '../../ingest/raw-sink.js';
import { createJifelinePuller } from '../../ingest/pull/jifeline.js';
import { jifelinePullOptions } from '../../ingest/pull/jifeline-options.js';
import { fail, loadConfigOrExit, loggerFor } from '../context.js';

export function registerPoll(program: Command): void {
  program
    .command('poll')
    .description(
      'pull a provider that has no webhooks (Jifeline) into raw.<provider>.v1, from the cursor stored in DATA_DIR',
    )
    .argument('<provider>', 'jifeline')
    .option('--once', 'one pass from the stored cursor to the end of the feed, then exit')
    .addHelpText(
      'after',
      '\nNeeds JIFELINE_CLIENT_ID and JIFELINE_CLIENT_SECRET (see .env.example). ' +
        '`sessionflow run` and `ingest` already pull when they are set;\n' +
        'use this command instead of them, not beside them on the same DATA_DIR.',
    )
    .action(async (provider: string, options: { once?: boolean }) => {
      if (provider !== 'jifeline') fail(`no poller for ${provider} (known: jifeline)`, 2);
      const config = loadConfigOrExit();
      const pullOptions =
        jifelinePullOptions(config) ?? fail('set JIFELINE_CLIENT_ID and JIFELINE_CLIENT_SECRET to pull Jifeline', 2);
      const logger = loggerFor(config);
      const topics = topicsFor(config.topicPrefix);
      const transport = await openTransport(config, logger);
      await transport.log.createTopics(topics.specs(config.topicPartitions, config.bodyLimitBytes));
      const sink = await createLogRawSink(transport.log, new AvroCodec(transport.registry), topics);
      const puller = createJifelinePuller(pullOptions, { sink, logger });
      const close = async () => {
        await puller.stop();
        await transport.close();
      };
      if (options.once) {
        const events = await puller.pollOnce();
        logger.info({ events }, 'jifeline: feed drained');
        await close();
        return;
      }
      puller.start();
      for (const signal of ['SIGTERM', 'SIGINT'] as const)
        process.on(signal, () => void close().then(() => process.exit(0)));
    });
}
