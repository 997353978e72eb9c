// /hooks/<name>: the ingress side of webhook sources. Checks every endpoint shares run here (404
// unknown name, 405 method, 415 content type, 413 size) before the source verifies and publishes;
// each refusal is counted and logged without the body or any secret. A full route backlog is a
// 429 with Retry-After: nothing was stored, and the sender's retry comes when there is room.
import type { Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isBacklogFull, type BacklogFullError } from '../governor/backpressure-error.js';
import type { RefusalLog } from '../governor/backpressure-log.js';
import { UNKNOWN_SOURCE, type RejectCounter } from '../observe/reject-counter.js';
import type { Logger } from '../observe/log.js';
import { SpanKind, traceparentOf, type Span, type Tracing } from '../observe/tracing.js';
import type { HttpSource } from '../sources/source.js';
import { WebhookRejectedError } from '../sources/webhook/webhook-rejected-error.js';
import { BodyTooLargeError, readLimitedBody } from './limited-body.js';

export interface WebhookRoutesOptions {
  sources: readonly HttpSource[];
  rejects: RejectCounter;
  log: Logger;
  /** Default body limit; a source's own bodyLimitBytes overrides it. */
  bodyLimitBytes: number;
  /** Where 429s for full backlogs are logged, a line per sender now and then. */
  refusals: RefusalLog;
  /** An ingest span per verified-or-not request; the events it stores join its trace. */
  tracing?: Tracing;
}

// Headers that identify a delivery to its sender, logged with a refusal to help trace it.
const DELIVERY_HEADERS = [
  'x-github-delivery',
  'webhook-id',
  'x-slack-request-timestamp',
  'x-slack-retry-num',
];
/** Slack retries a failed delivery three times; a refusal of the third is final. */
const SLACK_LAST_RETRY = 3;

export function mountWebhookRoutes(app: Hono, options: WebhookRoutesOptions): void {
  const byName = new Map(options.sources.map((source) => [source.name, source]));

  app.all('/hooks/*', async (c) => {
    const name = c.req.path.slice('/hooks/'.length);
    const source = byName.get(name);
    let span: Span | undefined;
    try {
      if (source === undefined)
        throw new WebhookRejectedError(404, 'unknown-source', 'no webhook source at this path');
      if (c.req.method !== 'POST') {
        c.header('Allow', 'POST');
        throw new WebhookRejectedError(405, 'method-not-allowed', 'webhooks are POSTed');
      }
      const contentType = mediaType(c.req.header('content-type'));
      if (!source.contentTypes.includes(contentType))
        throw new WebhookRejectedError(
          415,
          'content-type',
          `unsupported content type "${contentType || '(none)'}": send ${source.contentTypes.join(' or ')}`,
        );
      const body = await readBody(c.req.raw, source.bodyLimitBytes ?? options.bodyLimitBytes);
      // A sender's traceparent is only a parent for our span; the events carry our span's own.
      span = options.tracing?.startSpan('ingest', SpanKind.SERVER, c.req.header('traceparent'), {
        'http.request.method': 'POST',
        'url.path': c.req.path,
        'agentd.source': source.name,
      });
      const reply = await source.handle({
        headers: c.req.raw.headers,
        body,
        ...(span === undefined ? {} : { traceparent: traceparentOf(span) }),
      });
      span?.setAttribute('http.response.status_code', reply.status);
      return c.json(reply.body, reply.status as ContentfulStatusCode, reply.headers);
    } catch (error) {
      span?.recordException(error as Error);
      if (error instanceof WebhookRejectedError) return refuse(c, source, error, options);
      if (isBacklogFull(error) && source !== undefined)
        return refuseFull(c, source, error, options);
      options.log.error(
        { err: error, source: source?.name },
        'a webhook could not be stored; the sender was told to retry',
      );
      c.header('Retry-After', '1');
      return c.json({ error: 'the event store is unavailable; nothing was stored, retry' }, 503);
    } finally {
      span?.end();
    }
  });
}

async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  try {
    return await readLimitedBody(request, limit);
  } catch (error) {
    if (error instanceof BodyTooLargeError)
      throw new WebhookRejectedError(413, 'body-too-large', error.message);
    // The sender went away mid-body (a truncated upload): nothing to verify, nothing stored.
    throw new WebhookRejectedError(400, 'unreadable-body', 'the request body could not be read');
  }
}

function refuse(
  c: Context,
  source: HttpSource | undefined,
  error: WebhookRejectedError,
  options: WebhookRoutesOptions,
): Response {
  const label = source?.name ?? UNKNOWN_SOURCE;
  options.rejects.add(label, error.reason);
  const delivery = deliveryFields(c);
  const fields = { source: label, reason: error.reason, status: error.status, ...delivery };
  // Scanners probe random paths all day: unknown names are only worth a debug line.
  if (source === undefined) options.log.debug(fields, `webhook refused: ${error.message}`);
  else options.log.warn(fields, `webhook refused: ${error.message}`);
  return c.json({ error: error.message, reason: error.reason }, error.status);
}

/** 429: a route the request's events fan out to is full. Nothing was stored. */
function refuseFull(
  c: Context,
  source: HttpSource,
  error: BacklogFullError,
  options: WebhookRoutesOptions,
): Response {
  for (const full of error.routes) options.rejects.add(source.name, 'backlog-full', full.route);
  const delivery = deliveryFields(c);
  const retryNum = Number(c.req.header('x-slack-retry-num') ?? 0);
  if (source.kind === 'slack' && retryNum >= SLACK_LAST_RETRY)
    // Slack does not retry a delivery a fourth time: this event is lost unless Slack resends it.
    options.log.error(
      { source: source.name, reason: 'backlog-full', routes: error.routes, ...delivery },
      'refused the last retry Slack makes of this event: the route backlog is still full, the event is lost',
    );
  else options.refusals.refused(source.name, error, delivery);
  c.header('Retry-After', String(error.retryAfterSeconds));
  return c.json(backlogFullBody(error), 429);
}

/** The JSON of a 429 for a full backlog, for webhooks and POST /events alike. */
export function backlogFullBody(error: BacklogFullError): Record<string, unknown> {
  return {
    error: error.message,
    reason: 'backlog-full',
    retryAfterSeconds: error.retryAfterSeconds,
    routes: error.routes,
  };
}

function deliveryFields(c: Context): Record<string, string> {
  return Object.fromEntries(
    DELIVERY_HEADERS.flatMap((name) => {
      const value = c.req.header(name);
      return value === undefined ? [] : [[name, value.slice(0, 100)]];
    }),
  );
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}
