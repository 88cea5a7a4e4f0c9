/**
 * Configuration: parsed once at the edge from the environment (and `.env` when present) into a
 * frozen, typed object. Nothing else reads process.env. `.env.example` lists every variable.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { SessionflowError } from './errors.js';
import { KEPT_HEADERS } from './headers.js';
import { DEFAULT_SESSION_NAMES, SESSION_NAME_MODES, type SessionNames } from './ids.js';

/** "new,old": two values accepted at once so a secret can be rotated without downtime. */
/**
 * How old Zoom's signed x-zm-request-timestamp may be, in minutes, unless ZOOM_TIMESTAMP_TOLERANCE_MINUTES
 * says otherwise: Zoom retries after 5, 20 and 60 minutes, and a retry may carry the original timestamp.
 */
export const ZOOM_TOLERANCE_DEFAULT_MINUTES = 90;

const secretList = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  )
  .refine((list) => list.length <= 2, { message: 'at most two comma-separated values (new,old) for rotation' });

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() !== '' ? v.trim() : undefined));

const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    HOST: z.string().min(1).default('0.0.0.0'),
    DATA_DIR: z.string().min(1).default('./data'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    KAFKA_BROKERS: optionalText,
    SCHEMA_REGISTRY_URL: optionalText.pipe(
      z.url({ message: 'must be a URL such as http://127.0.0.1:8081' }).optional(),
    ),
    TOPIC_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9._-]*$/, 'letters, digits, dot, underscore and dash only')
      .default('sessionflow.'),
    TOPIC_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(3),
    BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .default(1024 * 1024),
    ZOOM_WEBHOOK_SECRET_TOKEN: secretList,
    APIZEE_WEBHOOK_SECRET: secretList,
    APIZEE_WEBHOOK_HEADER: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name')
      .default('x-webhook-secret'),
    MLUVII_WEBHOOK_USER: optionalText,
    MLUVII_WEBHOOK_PASSWORD: secretList,
    PII_KEY: optionalText,
    SESSION_NAMES: z.enum(SESSION_NAME_MODES).default(DEFAULT_SESSION_NAMES),
    IDLE_HORIZON_HOURS: z.coerce.number().positive().default(24),
    JIFELINE_CLIENT_ID: optionalText,
    JIFELINE_CLIENT_SECRET: optionalText,
    JIFELINE_API_KEY: optionalText,
    JIFELINE_API_URL: z.url().default('https://partner-api-001.prd.jifeline.cloud'),
    JIFELINE_TOKEN_URL: z.url().default('https://partner-api-001.prd.jifeline.cloud/oauth2/token'),
    JIFELINE_WS_URL: z.string().default('wss://partner-api-ws-001.prd.jifeline.cloud/wssprd'),
    JIFELINE_PAGE_LIMIT: z.coerce.number().int().min(1).max(1000).default(1000),
    JIFELINE_POLL_INTERVAL_SECONDS: z.coerce.number().positive().default(60),
    JIFELINE_EVENT_TYPES: optionalText,
    APIZEE_API_URL: z.url().default('https://cloud.apizee.com'),
    APIZEE_API_TOKEN: optionalText,
    APIZEE_API_USERNAME: optionalText,
    // Taken as written (a space may be part of a password); blank is unset.
    APIZEE_API_PASSWORD: z
      .string()
      .optional()
      .transform((v) => (v !== undefined && v.trim() !== '' ? v : undefined)),
    APIZEE_API_REQUESTS_PER_MINUTE: z.coerce.number().int().min(1).max(600).default(10),
    APIZEE_API_PAGE_LIMIT: z.coerce.number().int().min(1).max(1000).default(100),
    APIZEE_API_RECONCILE_INTERVAL_MINUTES: z.coerce.number().min(0).default(15),
    APIZEE_API_RECONCILE_LOOKBACK_HOURS: z.coerce.number().positive().default(24),
    LOG_RETENTION_HOURS: z.coerce.number().positive().default(168),
    RAW_RETENTION_DAYS: z.coerce.number().positive().default(30),
    ZOOM_TIMESTAMP_TOLERANCE_MINUTES: z.coerce.number().positive().max(1440).default(ZOOM_TOLERANCE_DEFAULT_MINUTES),
    ZOOM_HOST_PATTERN: z
      .string()
      .optional()
      .transform((text, ctx) => {
        if (text === undefined || text.trim() === '') return undefined;
        try {
          return new RegExp(text, 'i');
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: `is not a regular expression: ${(err as Error).message}` });
          return z.NEVER;
        }
      }),
    KAFKA_ACK_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
    SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(10_000),
    TOPIC_REPLICATION_FACTOR: z.coerce.number().int().min(1).max(32).optional(),
  })
  .superRefine((env, ctx) => {
    if (env.KAFKA_BROKERS && !env.SCHEMA_REGISTRY_URL) {
      ctx.addIssue({ code: 'custom', path: ['SCHEMA_REGISTRY_URL'], message: 'required when KAFKA_BROKERS is set' });
    }
    if (env.NODE_ENV === 'production' && !env.PII_KEY) {
      ctx.addIssue({
        code: 'custom',
        path: ['PII_KEY'],
        message: 'required in production: participant pseudonyms are keyed with it',
      });
    }
    if (Boolean(env.JIFELINE_CLIENT_ID) !== Boolean(env.JIFELINE_CLIENT_SECRET)) {
      ctx.addIssue({
        code: 'custom',
        path: ['JIFELINE_CLIENT_SECRET'],
        message: 'JIFELINE_CLIENT_ID and JIFELINE_CLIENT_SECRET go together (both set turns the Jifeline puller on)',
      });
    }
    if (env.JIFELINE_WS_URL !== 'off' && !/^wss?:\/\//.test(env.JIFELINE_WS_URL)) {
      ctx.addIssue({ code: 'custom', path: ['JIFELINE_WS_URL'], message: 'must be a ws:// or wss:// URL, or off' });
    }
    if (Boolean(env.APIZEE_API_USERNAME) !== Boolean(env.APIZEE_API_PASSWORD)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.APIZEE_API_USERNAME ? 'APIZEE_API_PASSWORD' : 'APIZEE_API_USERNAME'],
        message:
          'APIZEE_API_USERNAME and APIZEE_API_PASSWORD go together ' +
          '(both set: the Apizee token is got from /api/v3/token and renewed)',
      });
    }
    if (env.APIZEE_API_TOKEN && (env.APIZEE_API_USERNAME || env.APIZEE_API_PASSWORD)) {
      ctx.addIssue({
        code: 'custom',
        path: ['APIZEE_API_TOKEN'],
        message:
          'set APIZEE_API_TOKEN or APIZEE_API_USERNAME and APIZEE_API_PASSWORD, not both ' +
          '(the credentials get and renew the token themselves; a fixed token is renewed by hand)',
      });
    }
    if (KEPT_HEADERS.has(env.APIZEE_WEBHOOK_HEADER.toLowerCase())) {
      ctx.addIssue({
        code: 'custom',
        path: ['APIZEE_WEBHOOK_HEADER'],
        message: 'must not be a header the raw archive keeps (the secret would be stored); use e.g. x-webhook-secret',
      });
    }
    if (env.PII_KEY && env.PII_KEY.length < 16) {
      ctx.addIssue({ code: 'custom', path: ['PII_KEY'], message: 'must be at least 16 characters' });
    }
  });

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly production: boolean;
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly logLevel: string;
  readonly kafka: { readonly brokers: readonly string[]; readonly registryUrl: string } | undefined;
  readonly topicPrefix: string;
  readonly topicPartitions: number;
  readonly bodyLimitBytes: number;
  readonly idleHorizonHours: number;
  /**
   * What becomes of Zoom's session names, free text the app chose: `hash` a pseudonym keyed with
   * PII_KEY (the default: the text may name a person), `keep` as sent, `drop` null.
   */
  readonly sessionNames: SessionNames;
  /** Embedded log: consumed messages older than this are removed. */
  readonly logRetentionHours: number;
  /**
   * Raw bodies (personal data) are kept this long for replay and audit, then removed from the
   * warehouse, the restricted dataset and the embedded log; Kafka's raw topics get it as retention.ms.
   */
  readonly rawRetentionDays: number;
  /** How old a Zoom request's signed timestamp may be: its retries (5, 20, 60 minutes) may carry the original. */
  readonly zoomToleranceMinutes: number;
  /** ZOOM_HOST_PATTERN: a Zoom user whose user_key or display name matches (case aside) is the host. */
  readonly zoomHostPattern: RegExp | undefined;
  /** Kafka mode: how long the ingest waits for acks=all before it spools. */
  readonly kafkaAckTimeoutMs: number;
  /** How long an orderly stop may take before the process logs what is pending and ends itself with SIGKILL. */
  readonly shutdownTimeoutMs: number;
  /** Replicas per new Kafka topic; unset: the broker's default.replication.factor. */
  readonly topicReplicationFactor: number | undefined;
  /** Jifeline Partner API puller; undefined when no client credentials are set. */
  readonly jifeline:
    | {
        readonly apiUrl: string;
        readonly tokenUrl: string;
        readonly clientId: string;
        readonly websocketUrl: string | undefined;
        readonly pageLimit: number;
        readonly pollIntervalSeconds: number;
        readonly eventTypes: readonly string[] | undefined;
      }
    | undefined;
  /**
   * Apizee REST API (reconciliation of lost webhooks: `backfill apizee` and the periodic job);
   * undefined without APIZEE_API_TOKEN or APIZEE_API_USERNAME and APIZEE_API_PASSWORD. `auth`:
   * `fixed` (the token) or `credentials`. reconcileIntervalMinutes 0: no periodic job.
   */
  readonly apizeeApi:
    | {
        readonly url: string;
        readonly auth: 'fixed' | 'credentials';
        readonly requestsPerMinute: number;
        readonly pageLimit: number;
        readonly reconcileIntervalMinutes: number;
        readonly reconcileLookbackHours: number;
      }
    | undefined;
  readonly secrets: {
    readonly zoom: readonly string[];
    readonly apizee: readonly string[];
    readonly apizeeHeader: string;
    readonly mluviiUser: string | undefined;
    readonly mluviiPassword: readonly string[];
    readonly piiKey: string | undefined;
    readonly jifelineClientSecret: string | undefined;
    readonly jifelineApiKey: string | undefined;
    readonly apizeeApiToken: string | undefined;
    readonly apizeeApiCredentials: { readonly username: string; readonly password: string } | undefined;
  };
}

/** Reads `.env` from the working directory into the environment when present (real variables win). */
export function loadDotEnv(path = '.env', env: NodeJS.ProcessEnv = process.env): void {
  const file = resolve(path);
  if (!existsSync(file)) return;
  const before = { ...env };
  process.loadEnvFile(file);
  for (const [name, value] of Object.entries(before)) env[name] = value;
}

export function parseConfig(env: Record<string, string | undefined>): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  ${issue.path.join('.') || '(environment)'}: ${issue.message}`);
    throw new SessionflowError('CONFIG_INVALID', `\n${lines.join('\n')}\nSee .env.example for every variable.`);
  }
  const e = result.data;
  return deepFreeze({
    env: e.NODE_ENV,
    production: e.NODE_ENV === 'production',
    port: e.PORT,
    host: e.HOST,
    dataDir: resolve(e.DATA_DIR),
    logLevel: e.LOG_LEVEL,
    kafka: e.KAFKA_BROKERS
      ? {
          brokers: e.KAFKA_BROKERS.split(',')
            .map((b) => b.trim())
            .filter(Boolean),
          registryUrl: e.SCHEMA_REGISTRY_URL!,
        }
      : undefined,
    topicPrefix: e.TOPIC_PREFIX,
    topicPartitions: e.TOPIC_PARTITIONS,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    idleHorizonHours: e.IDLE_HORIZON_HOURS,
    sessionNames: e.SESSION_NAMES,
    logRetentionHours: e.LOG_RETENTION_HOURS,
    rawRetentionDays: e.RAW_RETENTION_DAYS,
    zoomToleranceMinutes: e.ZOOM_TIMESTAMP_TOLERANCE_MINUTES,
    zoomHostPattern: e.ZOOM_HOST_PATTERN,
    kafkaAckTimeoutMs: e.KAFKA_ACK_TIMEOUT_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    topicReplicationFactor: e.TOPIC_REPLICATION_FACTOR,
    jifeline: e.JIFELINE_CLIENT_ID
      ? {
          apiUrl: e.JIFELINE_API_URL,
          tokenUrl: e.JIFELINE_TOKEN_URL,
          clientId: e.JIFELINE_CLIENT_ID,
          websocketUrl: e.JIFELINE_WS_URL === 'off' ? undefined : e.JIFELINE_WS_URL,
          pageLimit: e.JIFELINE_PAGE_LIMIT,
          pollIntervalSeconds: e.JIFELINE_POLL_INTERVAL_SECONDS,
          eventTypes: e.JIFELINE_EVENT_TYPES?.split(',')
            .map((t) => t.trim())
            .filter(Boolean),
        }
      : undefined,
    apizeeApi:
      e.APIZEE_API_TOKEN || e.APIZEE_API_USERNAME
        ? {
            url: e.APIZEE_API_URL,
            auth: e.APIZEE_API_TOKEN ? ('fixed' as const) : ('credentials' as const),
            requestsPerMinute: e.APIZEE_API_REQUESTS_PER_MINUTE,
            pageLimit: e.APIZEE_API_PAGE_LIMIT,
            reconcileIntervalMinutes: e.APIZEE_API_RECONCILE_INTERVAL_MINUTES,
            reconcileLookbackHours: e.APIZEE_API_RECONCILE_LOOKBACK_HOURS,
          }
        : undefined,
    secrets: {
      zoom: e.ZOOM_WEBHOOK_SECRET_TOKEN,
      apizee: e.APIZEE_WEBHOOK_SECRET,
      apizeeHeader: e.APIZEE_WEBHOOK_HEADER.toLowerCase(),
      mluviiUser: e.MLUVII_WEBHOOK_USER,
      mluviiPassword: e.MLUVII_WEBHOOK_PASSWORD,
      piiKey: e.PII_KEY,
      jifelineClientSecret: e.JIFELINE_CLIENT_SECRET,
      jifelineApiKey: e.JIFELINE_API_KEY,
      apizeeApiToken: e.APIZEE_API_TOKEN,
      apizeeApiCredentials:
        e.APIZEE_API_USERNAME && e.APIZEE_API_PASSWORD
          ? { username: e.APIZEE_API_USERNAME, password: e.APIZEE_API_PASSWORD }
          : undefined,
    },
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
