/**
 * SIGTERM under a backlog, embedded mode: `sessionflow run` finishes the batch in hand (not the
 * backlog), commits, and exits 0 within 10 s; the next start on the same DATA_DIR goes on from
 * there, and every acknowledged delivery ends up stored exactly once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  backlogDeliveries,
  expectStoredOnce,
  postBacklog,
  prefillEmbeddedBacklog,
  storedCounts,
} from '../helpers/backlog.js';
import { eventually, startService, type Service } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

const SECRET = 'shutdown-e2e-zoom-secret-token';
const ENV = {
  ZOOM_WEBHOOK_SECRET_TOKEN: SECRET,
  PII_KEY: 'shutdown-e2e-pii-key-0123456789abcdef',
  LOG_LEVEL: process.env.TEST_SERVICE_LOG_LEVEL ?? 'info',
};

describe('embedded mode, SIGTERM under a backlog', () => {
  const dirs: Array<ReturnType<typeof tempDir>> = [];
  const services: Service[] = [];
  afterEach(async () => {
    for (const s of services.splice(0)) await s.kill9();
    for (const d of dirs.splice(0)) d.remove();
  });

  it('exits 0 within 10 s with the warehouse far behind, and the restart stores every acknowledged delivery once', {
    timeout: 180_000,
  }, async () => {
    const dir = tempDir('sessionflow-shutdown-');
    dirs.push(dir);
    // 22,000 deliveries already in the log when the service starts (more than its writer stores
    // in the seconds before the first HTTP deliveries are acknowledged), and more arriving over HTTP.
    const stored = await prefillEmbeddedBacklog(dir.path, SECRET, backlogDeliveries(1200));
    const service = await startService(dir.path, ENV);
    services.push(service);
    const backlog = postBacklog(service.url, SECRET, backlogDeliveries(50), 16);
    await eventually(
      async () => (backlog.acked().length >= 5 ? true : undefined),
      60_000,
      '5 acknowledged deliveries over HTTP',
      10,
    );
    const ackedAtTerm = stored.length + backlog.acked().length;
    const behind = await storedCounts(dir.path);
    const termAt = Date.now();
    const code = await Promise.race([
      service.stop(),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 30_000)),
    ]);
    const exitMs = Date.now() - termAt;
    backlog.stop();
    await backlog.done;
    const acked = [...stored, ...backlog.acked()];
    console.log(
      `[shutdown embedded] SIGTERM with ${ackedAtTerm} deliveries acknowledged and ${behind.raw} in the dataset; exit ${String(code)} after ${exitMs} ms; ` +
        `${acked.length} acknowledged in all, ${backlog.posted.length - backlog.acked().length} refused while stopping`,
    );
    const steps = service
      .output()
      .split('\n')
      .filter((l) => l.includes('"shutdown step done"'))
      .map((l) => JSON.parse(l) as { step: string; ms: number });
    console.log(`[shutdown embedded] steps: ${steps.map((s) => `${s.step} ${s.ms} ms`).join(', ')}`);
    expect(ackedAtTerm - behind.raw).toBeGreaterThanOrEqual(300); // the warehouse was far behind
    const shutdownLines = service
      .output()
      .split('\n')
      .filter((l) => /draining|shutdown|stopped|failed|error/i.test(l) && !l.includes('"request completed"'));
    expect(code, shutdownLines.slice(-30).join('\n')).toBe(0);
    expect(exitMs).toBeLessThan(10_000);

    const again = await startService(dir.path, ENV);
    services.push(again);
    const restartedAt = Date.now();
    const result = await expectStoredOnce(dir.path, acked, 120_000, () =>
      again.output().split('\n').slice(-30).join('\n'),
    );
    console.log(
      `[shutdown embedded] after the restart: ${acked.length} acknowledged, ${result.stored} stored, ${result.lost} lost, ${result.duplicated} duplicated, ${result.extra} stored but not acknowledged; caught up in ${((Date.now() - restartedAt) / 1000).toFixed(1)} s`,
    );
  });

  it('past SHUTDOWN_TIMEOUT_MS logs the steps still pending and ends by SIGKILL; the restart still stores every acknowledged delivery once', {
    timeout: 180_000,
  }, async () => {
    const dir = tempDir('sessionflow-shutdown-bound-');
    dirs.push(dir);
    // A bound no orderly stop meets: the hard exit happens in the middle of the stop.
    const service = await startService(dir.path, { ...ENV, SHUTDOWN_TIMEOUT_MS: '1' });
    services.push(service);
    const backlog = postBacklog(service.url, SECRET, backlogDeliveries(100), 32);
    await eventually(
      async () => (backlog.acked().length >= 1000 || backlog.posted.length >= 1800 ? true : undefined),
      120_000,
      '1000 acknowledged deliveries',
      50,
    );
    const termAt = Date.now();
    const code = await Promise.race([
      service.stop(),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 30_000)),
    ]);
    const exitMs = Date.now() - termAt;
    backlog.stop();
    await backlog.done;
    const acked = backlog.acked();
    const line = service
      .output()
      .split('\n')
      .find((l) => l.includes('"shutdown did not finish in time; ending the process (SIGKILL) with work pending"'));
    console.log(
      `[shutdown bound] exit ${String(code)} (${String(service.proc.signalCode)}) after ${exitMs} ms: ${line}`,
    );
    expect(code).toBe(null);
    expect(service.proc.signalCode).toBe('SIGKILL');
    const { pending } = JSON.parse(line!) as { pending: string[] };
    expect(pending.length).toBeGreaterThan(0);
    expect(pending.at(-1)).toBe('log');

    const again = await startService(dir.path, ENV);
    services.push(again);
    const result = await expectStoredOnce(dir.path, acked, 120_000, () =>
      again.output().split('\n').slice(-30).join('\n'),
    );
    console.log(
      `[shutdown bound] after the restart: ${acked.length} acknowledged, ${result.stored} stored, ${result.lost} lost, ${result.duplicated} duplicated`,
    );
  });
});
