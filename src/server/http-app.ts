// The ingress HTTP API: POST /events, GET /healthz, GET /readyz, GET /sources, and webhook
// sources at /hooks/<name>. The admin API mounts on the same app later. A publish refused because
// a route's backlog is full (BacklogFullError from `publish`) is answered 429 with Retry-After.
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { PublishResult } from '../bus/bus.js';
import { toEvent, type AgentdEvent } from '../core/envelope.js';
import { ValidationError, retrySteering } from '../core/errors.js';
import { isBacklogFull } from '../governor/backpressure-error.js';
import { RefusalLog } from '../governor/backpressure-log.js';
import type { Logger } from '../observe/log.js';
import type { AgentdMetrics } from '../observe/metrics.js';
import { SpanKind, traceparentOf, type Tracing } from '../observe/tracing.js';
import { RejectCounter, UNKNOWN_SOURCE } from '../observe/reject-counter.js';
import { isHttpSource, type Source } from '../sources/source.js';
import { bearerMatches, requireScope } from './admin-auth.js';
import { eventsFromRequest, UnsupportedMediaTypeError } from './cloudevents-http.js';
import { mountDashboard } from './ui-static.js';
import { backlogFullBody, mountWebhookRoutes } from './webhook-routes.js';

export interface HttpAppOptions {
  /** Stores POST /events; may throw BacklogFullError (answered 429) when a route is full. */
  publish(events: AgentdEvent[]): Promise<PublishResult[]>;
  isReady(): boolean;
  log: Logger;
  /** Largest accepted body. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** The admin token: when set, POST /events and GET /sources need `Authorization: Bearer <token>`. */
  token?: string;
  /** The daemon's sources: listed by GET /sources; webhook sources are served at /hooks/<name>. */
  sources?: readonly Source[];
  /** Where refused webhook requests are counted. */
  rejects?: RejectCounter;
  /** This harness's name, stamped as `origin` on events that lack one. */
  node: string;
  /** A token that may read /api and /metrics but change nothing. */
  readOnlyToken?: string;
  /** Served at GET /metrics. */
  metrics?: AgentdMetrics;
  /** Ingest spans for POST /events; events without a traceparent join the request's trace. */
  tracing?: Tracing;
  /** The admin API, mounted at /api. */
  admin?: Hono;
  /** Serve the dashboard at /ui from this directory (dist/ui); `true` for the built one. */
  dashboard?: boolean | string;
}

export { bearerMatches };

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** The source label POST /events refusals are counted under (it is no configured source). */
export const EVENTS_API_SOURCE = '(api)';

export function createHttpApp(options: HttpAppOptions): Hono {
  const app = new Hono();
  const limit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) =>
    options.isReady() ? c.json({ status: 'ready' }) : c.json({ status: 'starting' }, 503),
  );

  const rejects = options.rejects ?? new RejectCounter();
  const sources = options.sources ?? [];
  const webhooks = sources.filter(isHttpSource);
  const refusals = new RefusalLog(options.log);
  mountWebhookRoutes(app, {
    sources: webhooks,
    rejects,
    log: options.log,
    bodyLimitBytes: limit,
    refusals,
    ...(options.tracing === undefined ? {} : { tracing: options.tracing }),
  });
  app.get('/sources', (c) => {
    if (options.token !== undefined && !bearerMatches(c.req.header('authorization'), options.token))
      return c.json({ error: 'missing or invalid bearer token' }, 401);
    const unknown = rejects.forSource(UNKNOWN_SOURCE);
    return c.json({
      sources: sources.map((source) => ({
        name: source.name,
        kind: source.kind,
        ...(isHttpSource(source)
          ? { path: `/hooks/${source.name}`, rejects: rejects.forSource(source.name) }
          : {}),
      })),
      ...(Object.keys(unknown).length === 0 ? {} : { unknownPathRejects: unknown }),
    });
  });

  const tokens = {
    ...(options.token === undefined ? {} : { admin: options.token }),
    ...(options.readOnlyToken === undefined ? {} : { read: options.readOnlyToken }),
  };
  const metrics = options.metrics;
  if (metrics !== undefined)
    app.get('/metrics', requireScope(tokens, 'read'), async (c) =>
      c.body(await metrics.text(), 200, { 'content-type': metrics.contentType }),
    );
  if (options.admin !== undefined) app.route('/api', options.admin);
  if (options.dashboard !== undefined && options.dashboard !== false)
    mountDashboard(app, ...(typeof options.dashboard === 'string' ? [options.dashboard] : []));

  app.post(
    '/events',
    bodyLimit({
      maxSize: limit,
      onError: (c) => c.json({ error: `request body is larger than ${limit} bytes` }, 413),
    }),
    async (c) => {
      if (
        options.token !== undefined &&
        !bearerMatches(c.req.header('authorization'), options.token)
      ) {
        options.log.warn({ path: '/events' }, 'rejected a request without a valid bearer token');
        return c.json({ error: 'missing or invalid bearer token' }, 401);
      }
      let events: AgentdEvent[];
      try {
        const raw = eventsFromRequest(c.req.raw.headers, await c.req.text());
        events = raw.map((item, index) => {
          try {
            // Callers of the local API are operators at most: a claimed 'internal' is lowered.
            return toEvent(item, {
              source: 'agentd://api',
              trust: 'operator',
              maxTrust: 'operator',
              origin: options.node,
            });
          } catch (error) {
            if (error instanceof ValidationError && raw.length > 1) {
              throw new ValidationError(
                error.message,
                error.issues.map((issue) => `[${index}].${issue}`),
              );
            }
            throw error;
          }
        });
      } catch (error) {
        if (error instanceof UnsupportedMediaTypeError)
          return c.json({ error: error.message }, 415);
        if (error instanceof ValidationError)
          return c.json({ error: error.message, issues: error.issues }, 400);
        throw error;
      }
      const span = options.tracing?.startSpan(
        'ingest',
        SpanKind.SERVER,
        c.req.header('traceparent'),
        {
          'http.request.method': 'POST',
          'url.path': '/events',
          'agentd.events': events.length,
        },
      );
      if (span !== undefined) {
        const parent = traceparentOf(span);
        for (const event of events) event.traceparent ??= parent;
      }
      try {
        const results = await options.publish(events);
        return c.json({ accepted: results }, 202);
      } catch (error) {
        if (isBacklogFull(error)) {
          for (const full of error.routes)
            rejects.add(EVENTS_API_SOURCE, 'backlog-full', full.route);
          refusals.refused(EVENTS_API_SOURCE, error);
          c.header('Retry-After', String(error.retryAfterSeconds));
          return c.json(backlogFullBody(error), 429);
        }
        span?.recordException(error as Error);
        options.log.error({ err: error }, 'publishing an accepted request failed');
        // A BusUnavailableError (NATS away) says when to come back; one second otherwise.
        const { retryAfterMs } = retrySteering(error);
        c.header('Retry-After', String(Math.max(1, Math.ceil((retryAfterMs ?? 1_000) / 1_000))));
        return c.json({ error: 'the event store is unavailable; nothing was stored, retry' }, 503);
      } finally {
        span?.end();
      }
    },
  );

  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));
  app.onError((error, c) => {
    options.log.error({ err: error, path: c.req.path }, 'HTTP handler failed');
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
}
