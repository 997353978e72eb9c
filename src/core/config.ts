// The agentd.config.ts contract: defineConfig() for types, validateConfig() for a clear error at start.
import { z } from 'zod';
import type { RouteDefinition } from './route.js';
import { compilePattern } from './type-pattern.js';
import { routeKeyConflict } from './key-expression.js';
import { ValidationError } from './errors.js';
import { formatIssues } from './issues.js';
import { sourcesSchema } from './source-config.js';
import { approvalSchema, outboxConfigSchema } from './outbox-config.js';
import { acceptsSchema, contractsSchema, typesSchema } from './contracts-config.js';

const fn = (what: string) =>
  z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', {
    error: (issue) => `expected ${what}, got ${describe(issue.input)}`,
  });

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `the string "${value}"` : typeof value;
}

const positiveInt = z.int().positive();

// A path ('data.pull_request.number') or a template of paths in braces ('{subject}#{data.number}').
const keyExpression = z
  .string()
  .regex(
    /^(?:[A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*|(?:[^{}]*\{[A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*\})+[^{}]*)$/,
    "expected a path like 'data.pull_request.number' or a template like '{subject}#{data.number}'",
  );

const pattern = z.string().superRefine((value, ctx) => {
  try {
    compilePattern(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});

const rateLimitSchema = z.strictObject({
  limit: positiveInt,
  periodMs: positiveInt,
  per: z.enum(['route', 'key']).optional(),
});

const budgetSchema = z
  .strictObject({
    tokens: positiveInt.optional(),
    costUsd: z.number().positive().optional(),
    window: z.enum(['hour', 'day', 'month']),
    thresholds: z.array(z.number().gt(0).max(1)).min(1).optional(),
    reserve: z
      .strictObject({ tokens: z.int().min(0).optional(), costUsd: z.number().min(0).optional() })
      .optional(),
  })
  .refine((b) => b.tokens !== undefined || b.costUsd !== undefined, {
    message: 'expected tokens, costUsd or both',
  });

const routeSchema = z.strictObject({
  types: z.array(pattern).min(1, 'expected at least one event type pattern'),
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.\-:*/]+$/, 'expected letters, digits and . _ - : * / only')
    .max(200)
    .optional(),
  handler: fn('a function (event, ctx) => ...'),
  filter: fn('a function (event) => boolean').optional(),
  concurrency: positiveInt.max(10_000).optional(),
  retries: z
    .strictObject({
      maxAttempts: positiveInt.max(1_000).optional(),
      initialMs: z.int().min(0).optional(),
      maxMs: z.int().min(0).optional(),
      factor: z.number().min(1).max(100).optional(),
    })
    .optional(),
  timeoutMs: positiveInt.optional(),
  ordering: z.enum(['key', 'none']).optional(),
  dryRun: z.boolean().optional(),
  approval: approvalSchema.optional(),
  accepts: acceptsSchema,
  key: keyExpression.optional(),
  fairness: z
    .strictObject({ weights: z.record(z.string(), z.number().positive().max(1_000)).optional() })
    .optional(),
  priority: z.int().min(-1_000).max(1_000).optional(),
  singleton: z
    .strictObject({ key: keyExpression.optional(), mode: z.enum(['skip', 'replace']) })
    .optional(),
  cancelOn: z
    .array(z.strictObject({ type: pattern, match: z.record(z.string(), z.unknown()).optional() }))
    .min(1)
    .optional(),
  rateLimit: z.union([rateLimitSchema, z.array(rateLimitSchema).min(1)]).optional(),
  debounce: z
    .strictObject({
      key: keyExpression.optional(),
      waitMs: positiveInt,
      maxWaitMs: positiveInt.optional(),
    })
    .refine((d) => d.maxWaitMs === undefined || d.maxWaitMs >= d.waitMs, {
      message: 'expected maxWaitMs to be at least waitMs',
      path: ['maxWaitMs'],
    })
    .optional(),
  batch: z
    .strictObject({
      maxSize: positiveInt.max(10_000),
      maxWaitMs: positiveInt,
      key: keyExpression.optional(),
    })
    .optional(),
  budget: budgetSchema.optional(),
  maxBacklog: positiveInt.optional(),
});

export const configSchema = z.strictObject({
  /** Where the embedded store lives. Default `.agentd` next to the config file. */
  dataDir: z.string().min(1).optional(),
  /** 'process' (default) survives kill -9; 'power' also survives power loss, slower. */
  durability: z.enum(['process', 'power']).optional(),
  /** This harness's name: the `origin` of events it publishes. Default the host name. */
  node: z.string().min(1).max(200).optional(),
  /** The bus: the embedded SQLite store (default), or NATS JetStream shared by many workers. */
  bus: z
    .discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('sqlite') }),
      z.strictObject({
        kind: z.literal('nats'),
        /** NATS server URLs, e.g. 'nats://10.0.0.5:4222' or a list of a cluster's members. */
        servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
        /** Events stream name; also prefixes subjects and the state bucket. Default 'AGENTD'. */
        stream: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,48}$/, 'expected 1-48 letters, digits, - or _')
          .optional(),
        /** Stream and bucket replicas: 1 on one server, 3 on a cluster. Default 1. */
        replicas: positiveInt.max(5).optional(),
        /** How long a (source, id) is remembered to drop duplicates. Default 2 hours. */
        dedupWindowMs: positiveInt.optional(),
        /** Deliveries one route may have out at once across all workers. Default 10000. */
        maxAckPending: positiveInt.optional(),
        user: z.string().min(1).optional(),
        pass: z.string().min(1).optional(),
        token: z.string().min(1).optional(),
      }),
    ])
    .optional(),
  retention: z
    .strictObject({
      /** Keep finished events and runs this many days. 0 keeps them forever. Default 7. */
      days: z.number().min(0).optional(),
    })
    .optional(),
  server: z
    .strictObject({
      host: z.string().min(1).optional(),
      port: z.int().min(0).max(65_535).optional(),
      /** Largest accepted request body. Default 1 MiB. */
      bodyLimitBytes: positiveInt.optional(),
      /** Open connections at once; past it new ones are closed at once. Bounds memory under a
       * flood (at most this many bodies of bodyLimitBytes in flight). Default 1024. */
      maxConnections: positiveInt.max(1_000_000).optional(),
      /** The admin token POST /events needs. Default: a random one kept in <dataDir>/admin-token. */
      token: z.string().min(16, 'expected at least 16 characters').optional(),
      /** `false` lets POST /events in without a token; only allowed on a loopback host. */
      auth: z.boolean().optional(),
      /** A second token that reads /api and /metrics but cannot replay, purge or publish. */
      readOnlyToken: z.string().min(16, 'expected at least 16 characters').optional(),
    })
    .superRefine((server, ctx) => {
      if (server.auth !== false) return;
      if (!isLoopbackHost(server.host ?? '127.0.0.1'))
        ctx.addIssue({
          code: 'custom',
          path: ['auth'],
          message: `false is only allowed when server.host is a loopback address (127.0.0.1, ::1, localhost), not "${server.host}"`,
        });
      if (server.token !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['auth'],
          message: 'expected either token or auth: false, not both',
        });
    })
    .optional(),
  worker: z
    .strictObject({
      /** Runs at once across all routes. Default 64. */
      concurrency: positiveInt.max(100_000).optional(),
      /** On SIGINT/SIGTERM, how long in-flight runs may finish before they are aborted. */
      shutdownGraceMs: z.int().min(0).optional(),
      /** How long a claimed run stays leased between renewals: how soon a crashed worker's runs
       * go to another worker. Default 30000. */
      leaseMs: z.int().min(500).max(3_600_000).optional(),
    })
    .optional(),
  /** When deliveries may run: global budget, providers' limits, circuit breakers, loop guard. */
  governor: z
    .strictObject({
      budget: budgetSchema.optional(),
      /** Shared by every route whose agents use the provider (key: the provider's name). */
      providers: z
        .record(
          z.string(),
          z.strictObject({
            requestsPerMinute: positiveInt.optional(),
            tokensPerMinute: positiveInt.optional(),
          }),
        )
        .optional(),
      /** Providers and outbox sinks: open after `failures` in a row, for `coolDownMs`. */
      circuit: z
        .strictObject({ failures: positiveInt.optional(), coolDownMs: positiveInt.optional() })
        .optional(),
      loop: z
        .strictObject({
          /** The deepest causation chain an event may have. Default 8. */
          maxDepth: positiveInt.max(1_000).optional(),
          /** Runs of one route within one causation chain before it is stopped. Default 3. */
          maxCycles: positiveInt.optional(),
          /** Runs within one correlation chain before it is stopped. Default 1,000. */
          maxRunsPerChain: positiveInt.optional(),
        })
        .optional(),
      /** Default unfinished deliveries per route before the ingress answers 429. Default 10,000. */
      maxBacklog: positiveInt.optional(),
    })
    .optional(),
  /** Traces: an OTLP/HTTP exporter when `otlp` is set; nothing is traced without it. */
  observe: z
    .strictObject({
      otlp: z
        .strictObject({
          /** The collector's traces endpoint, e.g. 'http://127.0.0.1:4318/v1/traces'. */
          url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }),
          headers: z.record(z.string(), z.string()).optional(),
          /** The request bodies' encoding. Default 'http/protobuf' (OTLP's own); 'http/json' is readable. */
          protocol: z.enum(['http/protobuf', 'http/json']).optional(),
          /** Share of new traces recorded, 0..1. Default 1. */
          sampleRatio: z.number().min(0).max(1).optional(),
        })
        .optional(),
    })
    .optional(),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).optional(),
      pretty: z.boolean().optional(),
    })
    .optional(),
  routes: z.array(routeSchema).default([]),
  /** Actions on the world: sinks, dry run, approval, retries (see the README's Outbox). */
  outbox: outboxConfigSchema.optional(),
  /** Event sources: webhooks (routes on the HTTP server at /hooks/<name>) and others. */
  sources: sourcesSchema,
  /** Event types of your own (defineEventType), checked at ingest like the built-in ones. */
  types: typesSchema,
  /** How ingest checks events against their types' contracts. */
  contracts: contractsSchema,
});

type Schema = z.input<typeof configSchema>;

export interface AgentdConfig extends Omit<Schema, 'routes'> {
  // Handlers are typed by the event data each route expects, so the array holds any of them.
  routes?: RouteDefinition<any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export type ResolvedConfig = Omit<z.output<typeof configSchema>, 'routes'> & {
  routes: ResolvedRoute[];
};

export type ResolvedRoute = RouteDefinition & { name: string };

/** True for addresses only this machine can reach; `server.auth: false` needs one. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** Identity at run time; gives a config file full types and editor help. */
export function defineConfig(config: AgentdConfig): AgentdConfig {
  return config;
}

/** Validates a loaded config; `where` names the file in every message. */
export function validateConfig(raw: unknown, where: string): ResolvedConfig {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = formatIssues(parsed.error.issues);
    throw new ValidationError(`${where}: ${issues.join('; ')}`, issues);
  }
  const routes = (raw as { routes?: RouteDefinition[] }).routes ?? [];
  const seen = new Map<string, number>();
  const resolved = routes.map((route, index) => {
    const name = route.name ?? route.types.join(',');
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      const issue = `routes[${index}].name: "${name}" is already used by routes[${earlier}]; give one of them a distinct name`;
      throw new ValidationError(`${where}: ${issue}`, [issue]);
    }
    seen.set(name, index);
    const conflict = governorConflict(route);
    if (conflict !== undefined) {
      const issue = `routes[${index}] ("${name}"): ${conflict}`;
      throw new ValidationError(`${where}: ${issue}`, [issue]);
    }
    return { ...route, name };
  });
  return { ...parsed.data, routes: resolved };
}

// Governor options that cannot apply together: a batch runs once for many events, while debounce
// and singleton each keep one event per run.
function governorConflict(route: RouteDefinition): string | undefined {
  for (const other of ['debounce', 'singleton'] as const)
    if (route.batch !== undefined && route[other] !== undefined)
      return `batch cannot be combined with ${other}: a batch runs once for many events, ${other} keeps one event per run`;
  return routeKeyConflict(route);
}
