/**
 * The secrets the ingest verifies against. In production they come from configuration only (a
 * provider without one answers 401). In development, a missing secret is made once and kept in
 * DATA_DIR/dev-secrets.json, so a newcomer's `sessionflow demo` works with no setup.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.js';

export interface Secrets {
  readonly zoom: readonly string[];
  readonly apizee: readonly string[];
  readonly apizeeHeader: string;
  readonly mluvii: { readonly user: string; readonly passwords: readonly string[] } | undefined;
  readonly piiKey: string;
  /** Names of the secrets made for development on this start (for the start-up message). */
  readonly generated: readonly string[];
}

interface DevSecretsFile {
  ZOOM_WEBHOOK_SECRET_TOKEN?: string;
  APIZEE_WEBHOOK_SECRET?: string;
  MLUVII_WEBHOOK_USER?: string;
  MLUVII_WEBHOOK_PASSWORD?: string;
  PII_KEY?: string;
}

export function devSecretsPath(dataDir: string): string {
  return join(dataDir, 'dev-secrets.json');
}

export function readDevSecrets(dataDir: string): DevSecretsFile {
  const path = devSecretsPath(dataDir);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as DevSecretsFile) : {};
}

export function resolveSecrets(config: Config): Secrets {
  const s = config.secrets;
  if (config.production) {
    return Object.freeze({
      zoom: s.zoom,
      apizee: s.apizee,
      apizeeHeader: s.apizeeHeader,
      mluvii:
        s.mluviiUser && s.mluviiPassword.length > 0 ? { user: s.mluviiUser, passwords: s.mluviiPassword } : undefined,
      piiKey: s.piiKey!, // required in production by parseConfig
      generated: [],
    });
  }
  const stored = readDevSecrets(config.dataDir);
  const generated: string[] = [];
  const take = (name: keyof DevSecretsFile, make: () => string): string => {
    if (!stored[name]) {
      stored[name] = make();
      generated.push(name);
    }
    return stored[name]!;
  };
  const token = () => randomBytes(24).toString('base64url');
  const zoom = s.zoom.length > 0 ? s.zoom : [take('ZOOM_WEBHOOK_SECRET_TOKEN', token)];
  const apizee = s.apizee.length > 0 ? s.apizee : [take('APIZEE_WEBHOOK_SECRET', token)];
  const mluviiUser = s.mluviiUser ?? take('MLUVII_WEBHOOK_USER', () => 'sessionflow');
  const mluviiPasswords = s.mluviiPassword.length > 0 ? s.mluviiPassword : [take('MLUVII_WEBHOOK_PASSWORD', token)];
  const piiKey = s.piiKey ?? take('PII_KEY', () => randomBytes(32).toString('hex'));
  if (generated.length > 0) {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(devSecretsPath(config.dataDir), `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  }
  return Object.freeze({
    zoom,
    apizee,
    apizeeHeader: s.apizeeHeader,
    mluvii: { user: mluviiUser, passwords: mluviiPasswords },
    piiKey,
    generated,
  });
}
