/**
 * The service's log, as an operator reads it, never shows a credential. The built CLI runs at
 * LOG_LEVEL=debug with a secret header of its own (APIZEE_WEBHOOK_HEADER); deliveries of every
 * provider go in, accepted and refused, each carrying a secret in every credential header; then
 * the whole output is searched for each secret.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { plannedApizeeSession } from '../../ingest/demo/apizee.js';
import { mluviiHeaders, plannedMluviiSession } from '../../ingest/demo/mluvii.js';
import { plannedZoomSession, zoomHeaders } from '../../ingest/demo/zoom.js';
import { CREDENTIAL_HEADERS } from '../../lib/logger.js';
import { nowMicros } from '../../lib/time.js';
import { queryDataset } from '../helpers/data.js';
import { eventually, startService, type Service } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

const SECRETS = {
  ZOOM_WEBHOOK_SECRET_TOKEN: 'log-zoom-secret-token-Qw7',
  APIZEE_WEBHOOK_SECRET: 'log-apizee-shared-secret-Hn4',
  APIZEE_WEBHOOK_HEADER: 'X-Apizee-Shared',
  MLUVII_WEBHOOK_USER: 'mluvii-logs',
  MLUVII_WEBHOOK_PASSWORD: 'log-mluvii-password-Zt9',
  PII_KEY: 'log-pii-key-0123456789abcdef',
};

/** A secret of its own in every credential header but the one the provider reads. */
const extra = Object.fromEntries(CREDENTIAL_HEADERS.map((name, i) => [name, `log-extra-secret-${i}`]));

describe('the service log', () => {
  let dir: ReturnType<typeof tempDir>;
  let service: Service | undefined;
  beforeEach(() => {
    dir = tempDir('sessionflow-e2e-logs-');
  });
  afterEach(async () => {
    if (service && service.proc.exitCode === null) await service.kill9();
    service = undefined;
    dir.remove();
  });

  it('shows no secret, signature or password of any delivery, accepted or refused, at debug level', async () => {
    service = await startService(dir.path, { ...SECRETS, LOG_LEVEL: 'debug' });
    const start = nowMicros() - 3600e6;
    const zoom = plannedZoomSession(start).deliveries[0]!.body;
    const apizee = plannedApizeeSession(start).deliveries[0]!.body;
    const mluvii = plannedMluviiSession(start).deliveries[0]!.body;
    const post = (provider: string, headers: Record<string, string>, body: string) =>
      fetch(`${service!.url}/webhooks/${provider}`, { method: 'POST', headers: { ...extra, ...headers }, body }).then(
        (r) => r.status,
      );

    const apizeeHeader = SECRETS.APIZEE_WEBHOOK_HEADER.toLowerCase();
    const zoomSigned = zoomHeaders(SECRETS.ZOOM_WEBHOOK_SECRET_TOKEN, zoom);
    expect(await post('zoom', zoomSigned, zoom)).toBe(200);
    expect(await post('zoom', { ...zoomSigned, 'x-zm-signature': 'v0=log-forged-signature' }, zoom)).toBe(401);
    expect(
      await post(
        'apizee',
        { 'content-type': 'application/json', [apizeeHeader]: SECRETS.APIZEE_WEBHOOK_SECRET },
        apizee,
      ),
    ).toBe(200);
    expect(
      await post('apizee', { 'content-type': 'application/json', [apizeeHeader]: 'log-wrong-apizee-secret' }, apizee),
    ).toBe(401);
    expect(
      await post(
        'apizee',
        { 'content-type': 'application/json', [apizeeHeader]: SECRETS.APIZEE_WEBHOOK_SECRET },
        '{"not json',
      ),
    ).toBeGreaterThanOrEqual(200);
    expect(
      await post('mluvii', mluviiHeaders(SECRETS.MLUVII_WEBHOOK_USER, SECRETS.MLUVII_WEBHOOK_PASSWORD), mluvii),
    ).toBe(200);
    expect(await post('mluvii', mluviiHeaders(SECRETS.MLUVII_WEBHOOK_USER, 'log-wrong-mluvii-password'), mluvii)).toBe(
      401,
    );

    // The accepted ones went all the way through (the stages logged their batches meanwhile).
    await eventually(
      async () => {
        const [row] = await queryDataset(dir.path, 'select count(distinct provider) as n from session_events');
        return Number(row!.n) === 3 ? true : undefined;
      },
      30_000,
      'events of the three providers',
    );
    expect(await service.stop()).toBe(0);

    const output = service.output();
    expect(output).toContain('"level":20'); // debug lines were written: the search covers them
    const mluviiBasic = (password: string) =>
      Buffer.from(`${SECRETS.MLUVII_WEBHOOK_USER}:${password}`).toString('base64');
    const secrets = [
      SECRETS.ZOOM_WEBHOOK_SECRET_TOKEN,
      zoomSigned['x-zm-signature']!,
      'log-forged-signature',
      SECRETS.APIZEE_WEBHOOK_SECRET,
      'log-wrong-apizee-secret',
      SECRETS.MLUVII_WEBHOOK_PASSWORD,
      'log-wrong-mluvii-password',
      mluviiBasic(SECRETS.MLUVII_WEBHOOK_PASSWORD),
      mluviiBasic('log-wrong-mluvii-password'),
      SECRETS.PII_KEY,
      ...Object.values(extra),
    ];
    expect(secrets.filter((secret) => output.includes(secret))).toEqual([]);
  }, 90_000);
});
