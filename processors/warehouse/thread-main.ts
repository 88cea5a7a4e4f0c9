/**
 * The warehouse writer's worker thread, started by thread.ts: opens the warehouse (as a standby
 * while another process holds the file), then answers each call posted to it, in the order they
 * came. After `close` it lets the thread end.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SessionflowError } from '../../lib/errors.js';
import { createLogger } from '../../lib/logger.js';
import type { RawWebhook } from '../../lib/canonical.js';
import { openWarehouseWhenFree } from './standby.js';
import { reportError, type Call, type Reply, type ThreadOptions } from './thread.js';
import type { WarehouseBatch, WarehouseWriter } from './types.js';

const port = parentPort;
if (!port)
  throw new SessionflowError(
    'INTERNAL',
    'thread-main.js runs as the warehouse worker thread (processors/warehouse/thread.ts)',
  );
const options = workerData as ThreadOptions;
const logger = createLogger(options.logLevel, undefined, { secretHeaders: options.secretHeaders });
const post = (reply: Reply) => port.postMessage(reply);

let warehouse: WarehouseWriter;
try {
  warehouse = await openWarehouseWhenFree({ ...options, logger });
  post({ kind: 'open' });
} catch (err) {
  post({ kind: 'open-failed', error: reportError(err) });
  logger.flush();
  port.close();
  process.exitCode = 1;
}

/** A Buffer crosses as a plain Uint8Array: made a Buffer again over the same bytes. */
function asBuffers(batch: WarehouseBatch): WarehouseBatch {
  const raw = batch.raw.map(
    (r): RawWebhook => ({ ...r, body: Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength) }),
  );
  return { ...batch, raw };
}

function dispatch(call: Call): Promise<unknown> {
  const [arg] = call.args as [never];
  switch (call.method) {
    case 'applyBatch':
      return warehouse.applyBatch(asBuffers(arg));
    case 'sweepIdle':
      return warehouse.sweepIdle(arg);
    case 'erase':
      return warehouse.erase(arg);
    case 'expireRaw':
      return warehouse.expireRaw(arg);
    case 'pendingFacts':
      return warehouse.pendingFacts(arg);
    case 'factsPublished':
      return warehouse.factsPublished(arg);
    case 'outboxSize':
      return warehouse.outboxSize();
    case 'offsets':
      return warehouse.offsets();
    case 'flush':
      return warehouse.flush();
    case 'close':
      return warehouse.close();
  }
}

port.on('message', (call: Call) => {
  dispatch(call).then(
    (value) => {
      post({ kind: 'result', id: call.id, value, writable: warehouse.writable });
      if (call.method === 'close') {
        logger.flush();
        port.close();
      }
    },
    (err: unknown) => post({ kind: 'error', id: call.id, error: reportError(err), writable: warehouse.writable }),
  );
});
