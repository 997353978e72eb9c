// The agentd.config.ts contract: defineConfig() for types, validateConfig() for a clear error at start.
import { z } from 'zod';
import type { RouteDefinition } from './route.js';
import { compilePattern } from './type-pattern.js';
import { ValidationError } from './errors.js';
import { formatIssues } from './issues.js';

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

const pattern = z.string().superRefine((value, ctx) => {
  try {
    compilePattern(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
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
});

export const configSchema = z.strictObject({
  /** Where the embedded store lives. Default `.agentd` next to the config file. */
  dataDir: z.string().min(1).optional(),
  /** 'process' (default) survives kill -9; 'power' also survives power loss, slower. */
  durability: z.enum(['process', 'power']).optional(),
  /** This harness's name: the `origin` of events it publishes. Default the host name. */
  node: z.string().min(1).max(200).optional(),
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
      /** When set, POST /events needs `Authorization: Bearer <token>`. */
      token: z.string().min(16, 'expected at least 16 characters').optional(),
    })
    .optional(),
  worker: z
    .strictObject({
      /** Runs at once across all routes. Default 64. */
      concurrency: positiveInt.max(100_000).optional(),
      /** On SIGINT/SIGTERM, how long in-flight runs may finish before they are aborted. */
      shutdownGraceMs: z.int().min(0).optional(),
      /** Loop guard: events deeper than this in a causation chain are refused. Default 16. */
      maxDepth: positiveInt.max(1_000).optional(),
    })
    .optional(),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).optional(),
      pretty: z.boolean().optional(),
    })
    .optional(),
  routes: z.array(routeSchema).default([]),
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
    return { ...route, name };
  });
  return { ...parsed.data, routes: resolved };
}
