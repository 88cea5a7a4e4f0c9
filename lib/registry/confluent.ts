/**
 * The Confluent-compatible schema registry (Confluent Schema Registry, Apicurio's
 * /apis/ccompat/v7, Karapace, Redpanda). Registration goes through
 * @kafkajs/confluent-schema-registry; lookups read the schema text itself
 * (`GET /schemas/ids/{id}` → `{"schema": "..."}`), which the client only hands out parsed.
 *
 * Compatibility: subjects are BACKWARD (DESIGN §3). The client refuses a subject whose level is
 * not exactly the one asked for, and sets the level itself only after a registration for which
 * `GET /config/{subject}` answered 404; Apicurio's global default is NONE and its
 * `GET /config/{subject}` answers with that default for a subject without its own level. So
 * before a subject's first registration from this client we read its level, keep it when it
 * already implies BACKWARD, and otherwise set BACKWARD: the client then always finds a level (the
 * one it is asked for) and never writes one.
 */
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { SessionflowError } from '../errors.js';
import { schemaText } from './compatibility.js';
import type { Registry } from './types.js';

/** Levels under which a new version must read data written with the previous one. */
const IMPLIES_BACKWARD = new Set<string>([
  COMPATIBILITY.BACKWARD,
  COMPATIBILITY.BACKWARD_TRANSITIVE,
  COMPATIBILITY.FULL,
  COMPATIBILITY.FULL_TRANSITIVE,
]);
const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export interface ConfluentRegistryOptions {
  /** Base URL, e.g. http://127.0.0.1:8081 or http://127.0.0.1:8081/apis/ccompat/v7. */
  url: string;
  clientId?: string;
  /** Per-request timeout of the lookups and config calls. */
  timeoutMs?: number;
}

export class ConfluentRegistry implements Registry {
  private readonly base: string;
  private readonly client: SchemaRegistry;
  private readonly timeoutMs: number;
  private readonly ids = new Map<string, Promise<number>>();
  private readonly texts = new Map<number, Promise<string>>();
  private readonly levels = new Map<string, Promise<COMPATIBILITY>>();

  constructor(options: ConfluentRegistryOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.client = new SchemaRegistry({ host: this.base, clientId: options.clientId ?? 'sessionflow' });
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  register(subject: string, schema: object): Promise<number> {
    const text = schemaText(schema);
    const cacheKey = `${subject}\n${text}`;
    let id = this.ids.get(cacheKey);
    if (!id) {
      id = this.registerOnce(subject, text);
      id.catch(() => this.ids.delete(cacheKey));
      this.ids.set(cacheKey, id);
    }
    return id;
  }

  private async registerOnce(subject: string, text: string): Promise<number> {
    const compatibility = await this.levelOf(subject);
    try {
      const { id } = await this.client.register({ type: SchemaType.AVRO, schema: text }, { subject, compatibility });
      this.texts.set(id, Promise.resolve(text));
      return id;
    } catch (err) {
      const status = (err as { status?: unknown }).status;
      const message = err instanceof Error ? err.message : String(err);
      if (status === 409 || /compatib/i.test(message)) {
        throw new SessionflowError(
          'CONFIG_INVALID',
          `schema for ${subject} is not ${compatibility} compatible with its latest version (registry: ${message})`,
          { cause: err },
        );
      }
      if (status === 422 || status === 400)
        throw new SessionflowError('CONFIG_INVALID', `the registry refused the schema for ${subject}: ${message}`, {
          cause: err,
        });
      throw new SessionflowError(
        'LOG_UNAVAILABLE',
        `schema registry at ${this.base} could not register ${subject}: ${message}`,
        { cause: err },
      );
    }
  }

  /** The subject's level, set to BACKWARD unless it already implies BACKWARD; once per subject per client. */
  private levelOf(subject: string): Promise<COMPATIBILITY> {
    let level = this.levels.get(subject);
    if (!level) {
      level = (async () => {
        const path = `/config/${encodeURIComponent(subject)}`;
        const read = async () => {
          const current = await this.request(path, { method: 'GET' }, (status) => status === 404);
          return String(
            (current as { compatibilityLevel?: unknown } | undefined)?.compatibilityLevel ?? '',
          ).toUpperCase();
        };
        const name = await read();
        if (IMPLIES_BACKWARD.has(name)) return name as COMPATIBILITY;
        try {
          await this.request(path, { method: 'PUT', body: JSON.stringify({ compatibility: COMPATIBILITY.BACKWARD }) });
        } catch (err) {
          // Another client (a replica starting at the same time) set it in between: Apicurio then
          // answers 409 ("A rule named 'COMPATIBILITY' already exists"). Take the level it set.
          const now = await read().catch(() => '');
          if (IMPLIES_BACKWARD.has(now)) return now as COMPATIBILITY;
          throw err;
        }
        return COMPATIBILITY.BACKWARD;
      })();
      level.catch(() => this.levels.delete(subject));
      this.levels.set(subject, level);
    }
    return level;
  }

  lookup(id: number): Promise<string> {
    let text = this.texts.get(id);
    if (!text) {
      text = this.request(`/schemas/ids/${id}`, { method: 'GET' }).then((body) => {
        const schema = (body as { schema?: unknown }).schema;
        if (typeof schema !== 'string')
          throw new SessionflowError('SCHEMA_NOT_FOUND', `id ${id}: the registry answered without a schema`);
        return schema;
      });
      text.catch(() => this.texts.delete(id));
      this.texts.set(id, text);
    }
    return text;
  }

  /** One call to the registry's REST API; `absent` says which statuses mean "not there" (resolves undefined). */
  private async request(path: string, init: RequestInit, absent?: (status: number) => boolean): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        ...init,
        headers: { accept: CONTENT_TYPE, 'content-type': CONTENT_TYPE },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (cause) {
      throw new SessionflowError(
        'LOG_UNAVAILABLE',
        `schema registry at ${this.base} did not answer ${init.method} ${path}`,
        { cause },
      );
    }
    const body: unknown = await response.json().catch(() => undefined);
    if (response.ok) return body;
    if (absent?.(response.status)) return undefined;
    const detail = String((body as { message?: unknown } | undefined)?.message ?? `status ${response.status}`);
    if (response.status === 404 && path.startsWith('/schemas/ids/')) {
      throw new SessionflowError('SCHEMA_NOT_FOUND', `id ${path.slice('/schemas/ids/'.length)} (${detail})`);
    }
    throw new SessionflowError(
      'LOG_UNAVAILABLE',
      `schema registry at ${this.base} answered ${response.status} to ${init.method} ${path}: ${detail}`,
    );
  }

  async close(): Promise<void> {
    // Nothing held open: the HTTP client keeps no sessions that outlive a request.
  }
}
