// The local HTTP API: POST /events, GET /healthz, GET /readyz. Later sources (webhooks) and the
// admin API mount on the same app.
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { timingSafeEqual } from 'node:crypto';
import type { PublishResult } from '../bus/bus.js';
import { toEvent, type AgentdEvent } from '../core/envelope.js';
import { ValidationError } from '../core/errors.js';
import type { Logger } from '../observe/log.js';
import { eventsFromRequest, UnsupportedMediaTypeError } from './cloudevents-http.js';

export interface HttpAppOptions {
  publish(events: AgentdEvent[]): Promise<PublishResult[]>;
  isReady(): boolean;
  log: Logger;
  /** Largest accepted body. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** When set, POST /events needs `Authorization: Bearer <token>`. */
  token?: string;
  /** This harness's name, stamped as `origin` on events that lack one. */
  node: string;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export function createHttpApp(options: HttpAppOptions): Hono {
  const app = new Hono();
  const limit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) =>
    options.isReady() ? c.json({ status: 'ready' }) : c.json({ status: 'starting' }, 503),
  );

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
      try {
        const results = await options.publish(events);
        return c.json({ accepted: results }, 202);
      } catch (error) {
        options.log.error({ err: error }, 'publishing an accepted request failed');
        c.header('Retry-After', '1');
        return c.json({ error: 'the event store is unavailable; nothing was stored, retry' }, 503);
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

/** Constant-time comparison of a bearer token, so response timing says nothing about it. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice('Bearer '.length));
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
