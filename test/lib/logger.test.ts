/**
 * The log never shows a credential: a headers object keeps only the archive's allow-listed values,
 * and the credential headers (the deployment's secret header among them) are censored wherever
 * they sit, one level down included.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CREDENTIAL_HEADERS, createLogger } from '../../lib/logger.js';

function capture(): { stream: Writable; text(): string } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out += chunk.toString();
      done();
    },
  });
  return { stream, text: () => out };
}

const CUSTOM = 'x-apizee-shared';

/** One secret per header, each a value no other header has. */
const secrets = Object.fromEntries([...CREDENTIAL_HEADERS, CUSTOM].map((name, i) => [name, `s3cret-${i}-${name}`]));

describe('createLogger', () => {
  it('censors every credential header and the configured secret header, wherever a headers object sits', async () => {
    const log = capture();
    const logger = createLogger('debug', log.stream, { secretHeaders: [CUSTOM] });
    const kept = { 'content-type': 'application/json', 'user-agent': 'Zoom Marketplace/1.0a' };
    const headers = { ...kept, ...secrets };
    const shouted = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toUpperCase(), value]));
    logger.info({ headers: shouted }, 'top level, as a client spelled them');
    logger.info({ req: { method: 'POST', url: '/webhooks/apizee', headers } }, 'a request');
    logger.warn({ delivery: { provider: 'apizee', headers } }, 'one level down');
    logger.error({ res: { statusCode: 401, headers } }, 'a response');
    logger.flush();
    await new Promise((resolve) => setImmediate(resolve));

    const text = log.text();
    expect(text.trim().split('\n')).toHaveLength(4);
    expect(Object.values(secrets).filter((secret) => text.includes(secret))).toEqual([]);
    // What the archive keeps anyway is still there to read.
    expect(text).toContain('Zoom Marketplace/1.0a');
    expect(text.match(/\[redacted\]/g)!.length).toBeGreaterThanOrEqual(4 * Object.keys(secrets).length);
  });

  it('censors a password, credentials and tokens, should one reach a line', async () => {
    const log = capture();
    const logger = createLogger('debug', log.stream);
    const said = ['pw-Secret-1', 'user-2', 'pw-Secret-3', 'tok-Secret-4', 'tok-Secret-5', 'tok-Secret-6'];
    logger.info(
      { password: said[0], credentials: { username: said[1], password: said[2] }, token: said[3] },
      'top level',
    );
    logger.warn(
      { answer: { access_token: said[4], expires_in: 86400 }, options: { token: said[5] } },
      'one level down',
    );
    logger.flush();
    await new Promise((resolve) => setImmediate(resolve));
    const text = log.text();
    expect(said.filter((secret) => text.includes(secret))).toEqual([]);
    expect(text).toContain('"expires_in":86400');
  });
});
