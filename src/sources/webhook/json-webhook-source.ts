// What every JSON webhook source shares once it has verified a request: its name and limits, the
// publish handed over at start, and storing the event it built (a ValidationError is the sender's
// fault: 400) before the 2xx reply that says it is durable.
import type { PublishResult } from '../../bus/bus.js';
import type { AgentdEvent } from '../../core/envelope.js';
import { AgentdError, ValidationError } from '../../core/errors.js';
import type { HttpSource, Publish, WebhookReply, WebhookRequest } from '../source.js';
import { WebhookRejectedError } from './webhook-rejected-error.js';

export abstract class JsonWebhookSource implements HttpSource {
  abstract readonly kind: string;
  readonly name: string;
  readonly contentTypes = ['application/json'] as const;
  readonly bodyLimitBytes: number | undefined;
  private publish: Publish | undefined;

  constructor(options: { name: string; bodyLimitBytes?: number | undefined }) {
    this.name = options.name;
    this.bodyLimitBytes = options.bodyLimitBytes;
  }

  async start(publish: Publish): Promise<void> {
    this.publish = publish;
  }

  abstract handle(request: WebhookRequest): Promise<WebhookReply>;

  /**
   * Builds the request's event and publishes it. A request before start (or after stop) is a
   * 503. The event joins the request's ingest span unless it has a traceparent of its own.
   */
  protected async store(
    request: WebhookRequest,
    build: () => AgentdEvent,
  ): Promise<PublishResult[]> {
    let event: AgentdEvent;
    try {
      event = build();
    } catch (error) {
      if (error instanceof ValidationError)
        throw new WebhookRejectedError(400, 'invalid-event', error.message);
      throw error;
    }
    if (this.publish === undefined)
      throw new AgentdError(`webhook source "${this.name}" is not running`, {
        code: 'SOURCE_NOT_STARTED',
        retryAfterMs: 1_000,
      });
    if (request.traceparent !== undefined) event.traceparent ??= request.traceparent;
    return this.publish([event]);
  }
}

/** What a sender gets once its events are durable: each id and whether it was a duplicate. */
export function acceptedReply(results: readonly PublishResult[], status = 202): WebhookReply {
  return { status, body: { accepted: results } };
}
