// The admin API under /api: events, runs with their steps, lineage, the dead-letter queue (inspect,
// replay one or by filter, purge), routes and a live stream. Reads need the read-only or the admin
// token; anything that changes state needs the admin token.
import { Hono, type Context } from 'hono';
import type { DeadLetterQueue } from '../bus/bus.js';
import type { GovernorStatus } from '../governor/governor-status.js';
import type { AdminQueries } from '../bus/sqlite/admin-sql.js';
import type { SqliteInspector } from '../bus/sqlite/inspect-sql.js';
import type { LineageQueries } from '../bus/sqlite/lineage-sql.js';
import type { RunStatus } from '../bus/sqlite/inspect-sql.js';
import type { LiveFeed } from '../observe/live-feed.js';
import type { Logger } from '../observe/log.js';
import { requireScope, scopeOf, type AdminTokens } from './admin-auth.js';
import {
  dlqBulkBody,
  dlqQuery,
  eventsQuery,
  parseWith,
  replayOneBody,
  runsQuery,
  type ParseResult,
} from './admin-params.js';
import type {
  DeadLetterSummary,
  Page,
  RouteStatus,
  RoutesAnswer,
  RunDetail,
  StepRecord,
} from './admin-types.js';
import { streamLive } from './live-stream.js';

/**
 * The history's read side: the embedded store's, or on NATS the same queries over the daemon's
 * history file (src/history).
 */
export interface AdminStore {
  queries: AdminQueries;
  lineage: LineageQueries;
  inspector: SqliteInspector;
}

export interface DeadFilter {
  route?: string;
  type?: string;
  cursor?: number;
}

/**
 * Routes and dead letters as the bus holds them: the store's tables on SQLite; on NATS the
 * routes' consumers and the DLQ stream, whose ids are the ones replay and purge take.
 */
export interface AdminBusView {
  routes(): RouteStatus[] | Promise<RouteStatus[]>;
  deadLetters(
    filter: DeadFilter & { limit: number },
  ): Page<DeadLetterSummary> | Promise<Page<DeadLetterSummary>>;
  deadIds(filter: Omit<DeadFilter, 'cursor'>): string[] | Promise<string[]>;
  /** A run's steps, where the bus keeps them apart from the history (NATS: the state bucket). */
  runSteps?: (run: RunDetail) => Promise<StepRecord[]>;
}

/** The bus view of the embedded store. */
export function storeBusView(store: AdminStore): AdminBusView {
  return {
    routes: () => store.inspector.routes(),
    deadLetters: (filter) => store.queries.deadLetters(filter),
    deadIds: (filter) => store.queries.deadIds(filter),
  };
}

export interface AdminApiOptions {
  tokens: AdminTokens;
  store: AdminStore;
  /** Routes and dead letters. */
  view: AdminBusView;
  dlq: DeadLetterQueue;
  /** In-flight runs per route, from this process's worker. */
  inFlight(): Record<string, number>;
  /** The governor's view (budgets, pauses, rates, circuits); undefined without a worker here. */
  governor?: () => GovernorStatus | undefined;
  live: LiveFeed;
  log: Logger;
  node: string;
  /** Aborts open live streams when the daemon stops (an open stream would hold the server open). */
  signal: AbortSignal;
}

export function createAdminApi(options: AdminApiOptions): Hono {
  const api = new Hono();
  const { tokens, store } = options;
  const read = requireScope(tokens, 'read');
  const admin = requireScope(tokens, 'admin');
  api.use('*', read);

  api.get('/whoami', (c) =>
    c.json({ scope: scopeOf(c.req.header('authorization'), tokens), node: options.node }),
  );

  api.get('/events', (c) =>
    answer(c, parseWith(eventsQuery, c.req.query()), (q) =>
      store.queries.events({
        limit: q.limit,
        ...defined({
          type: q.type,
          key: q.key,
          since: q.since,
          until: q.until,
          status: q.status as RunStatus | undefined,
          q: q.q,
          cursor: q.cursor,
        }),
      }),
    ),
  );

  api.get('/events/:id', (c) => {
    const found = store.queries.event(c.req.param('id'));
    return found === undefined
      ? c.json({ error: `no event with id ${c.req.param('id')}` }, 404)
      : c.json(found);
  });

  api.get('/events/:id/lineage', (c) => {
    const tree = store.lineage.lineage(c.req.param('id'));
    return tree === undefined
      ? c.json({ error: `no event with id ${c.req.param('id')}` }, 404)
      : c.json(tree);
  });

  api.get('/runs', (c) =>
    answer(c, parseWith(runsQuery, c.req.query()), (q) =>
      store.queries.runs({
        limit: q.limit,
        ...defined({
          route: q.route,
          status: q.status as RunStatus | undefined,
          eventId: q.event,
          cursor: q.cursor,
        }),
      }),
    ),
  );

  api.get('/runs/:id', async (c) => {
    const id = c.req.param('id');
    const run = /^\d{1,15}$/.test(id) ? store.queries.run(Number(id)) : undefined;
    if (run === undefined) return c.json({ error: `no run with id ${id}` }, 404);
    const { runSteps } = options.view;
    return c.json(runSteps === undefined ? run : { ...run, steps: await runSteps(run) });
  });

  api.get('/routes', async (c) => {
    const routes = await options.view.routes();
    const inFlight = options.inFlight();
    const governor = options.governor?.();
    const governed = new Map(governor?.routes.map((r) => [r.route, r]));
    return c.json({
      routes: routes.map((route) => {
        const g = governed.get(route.route);
        return {
          ...route,
          inFlight: inFlight[route.route] ?? 0,
          paused: g?.paused !== undefined,
          pause: g?.paused ?? null,
          budget: g?.budget ?? null,
          priority: g?.priority ?? 0,
          runsPerMinute: g?.runsPerMinute ?? 0,
        };
      }),
      governor:
        governor === undefined
          ? null
          : { global: governor.global, loop: governor.loop, circuits: governor.circuits },
    } satisfies RoutesAnswer);
  });

  api.get('/dlq', (c) =>
    answer(c, parseWith(dlqQuery, c.req.query()), (q) =>
      options.view.deadLetters({
        limit: q.limit,
        ...defined({ route: q.route, type: q.type, cursor: q.cursor }),
      }),
    ),
  );

  api.get('/dlq/:id', async (c) => {
    const found = await options.dlq.show(c.req.param('id'));
    return found === undefined
      ? c.json({ error: `no dead letter with id ${c.req.param('id')}` }, 404)
      : c.json(found);
  });

  api.post('/dlq/:id/replay', admin, async (c) => {
    const body = parseWith(replayOneBody, await jsonBody(c));
    if (!body.ok) return c.json({ error: body.error, issues: body.issues }, 400);
    const id = c.req.param('id');
    const replayed = await options.dlq.replay([id], { fresh: body.value.fresh === true });
    if (replayed === 0) return c.json({ error: `no dead letter with id ${id}` }, 404);
    options.log.info({ deliveryId: id, via: 'api' }, 'dead letter replayed');
    return c.json({ replayed });
  });

  api.post('/dlq/replay', admin, (c) =>
    bulk(c, options, async (ids, fresh) => {
      const replayed = await options.dlq.replay(ids, { fresh });
      options.log.info({ replayed, via: 'api' }, 'dead letters replayed');
      return { replayed };
    }),
  );

  api.delete('/dlq/:id', admin, async (c) => {
    const id = c.req.param('id');
    const purged = await options.dlq.purge([id]);
    if (purged === 0) return c.json({ error: `no dead letter with id ${id}` }, 404);
    return c.json({ purged });
  });

  api.post('/dlq/purge', admin, (c) =>
    bulk(c, options, async (ids) => ({ purged: await options.dlq.purge(ids) })),
  );

  api.get('/stream', (c) =>
    streamLive(c, {
      queries: store.queries,
      live: options.live,
      signal: options.signal,
      after: c.req.query('after'),
    }),
  );

  return api;
}

async function answer<T>(
  c: Context,
  parsed: ParseResult<T>,
  fn: (value: T) => unknown,
): Promise<Response> {
  if (!parsed.ok) return c.json({ error: parsed.error, issues: parsed.issues }, 400);
  return c.json(await fn(parsed.value));
}

async function bulk(
  c: Context,
  options: AdminApiOptions,
  act: (ids: string[], fresh: boolean) => Promise<Record<string, number>>,
): Promise<Response> {
  const parsed = parseWith(dlqBulkBody, await jsonBody(c));
  if (!parsed.ok) return c.json({ error: parsed.error, issues: parsed.issues }, 400);
  const body = parsed.value;
  const ids =
    body.ids ?? (await options.view.deadIds(defined({ route: body.route, type: body.type })));
  return c.json(await act(ids, body.fresh === true));
}

/** The request's JSON body; an empty body is `{}`, a malformed one is passed on to fail validation. */
async function jsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return 'not JSON';
  }
}

/** Drops undefined values, so optional properties stay absent (exactOptionalPropertyTypes). */
function defined<T extends Record<string, unknown>>(
  value: T,
): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) if (v !== undefined) out[key] = v;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}
