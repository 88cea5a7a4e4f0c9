import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionflowError } from '../../lib/errors.js';
import { openEmbeddedTransport, type Transport } from '../../lib/log/open.js';
import type { Log } from '../../lib/log/types.js';
import { createLogger } from '../../lib/logger.js';
import { publishRetrying } from '../../lib/log/publish.js';
import { tempDir } from '../helpers/tmp.js';

/** The real embedded log, with its first `failures` publishes refused as a broker outage would. */
function flaky(
  log: Log,
  failures: number,
  error = () => new SessionflowError('LOG_UNAVAILABLE', 'broker not available'),
) {
  const wrapped: Log = Object.create(log);
  let calls = 0;
  wrapped.publish = (topic, messages) => (++calls <= failures ? Promise.reject(error()) : log.publish(topic, messages));
  return { log: wrapped, calls: () => calls };
}

describe('publishRetrying', () => {
  let dir: ReturnType<typeof tempDir>;
  let transport: Transport;
  beforeEach(async () => {
    dir = tempDir('sessionflow-publish-');
    transport = await openEmbeddedTransport(dir.path);
    await transport.log.createTopics([{ topic: 't', partitions: 1 }]);
  });
  afterEach(async () => {
    await transport.close();
    dir.remove();
  });

  it('rides out an unavailable log and publishes once it is back', async () => {
    const target = flaky(transport.log, 3);
    await publishRetrying(
      target.log,
      't',
      [{ key: null, value: Buffer.from('x') }],
      new AbortController().signal,
      createLogger('silent'),
    );
    expect(target.calls()).toBe(4);
    expect((await transport.log.endOffsets('t')).get('t:0')).toBe(1);
  });

  it('throws any other error at once', async () => {
    const target = flaky(transport.log, 1, () => new SessionflowError('LOG_CLOSED'));
    await expect(
      publishRetrying(
        target.log,
        't',
        [{ key: null, value: Buffer.from('x') }],
        new AbortController().signal,
        createLogger('silent'),
      ),
    ).rejects.toThrow('the log is closed');
    expect(target.calls()).toBe(1);
  });

  it('gives up when the stage stops', async () => {
    const target = flaky(transport.log, Infinity);
    const stop = new AbortController();
    const publishing = publishRetrying(
      target.log,
      't',
      [{ key: null, value: Buffer.from('x') }],
      stop.signal,
      createLogger('silent'),
    );
    setTimeout(() => stop.abort(new Error('stopping')), 300);
    await expect(publishing).rejects.toThrow();
    expect((await transport.log.endOffsets('t')).get('t:0')).toBe(0);
  });
});

describe('publishRetrying when the stage is already stopping', () => {
  it('still makes its first attempt (a draining stage gets its last write in)', async () => {
    const dir = tempDir('sessionflow-publish-');
    const transport = await openEmbeddedTransport(dir.path);
    try {
      await transport.log.createTopics([{ topic: 't', partitions: 1 }]);
      const stopped = new AbortController();
      stopped.abort(new Error('stopping'));
      await publishRetrying(
        transport.log,
        't',
        [{ key: null, value: Buffer.from('last') }],
        stopped.signal,
        createLogger('silent'),
      );
      expect((await transport.log.endOffsets('t')).get('t:0')).toBe(1);
    } finally {
      await transport.close();
      dir.remove();
    }
  });
});
