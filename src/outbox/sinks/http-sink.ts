// The HTTP sink: outgoing webhooks to configured targets, signed the Standard Webhooks way with the
// action's idempotency key as `webhook-id`, so a receiver drops a resend as a duplicate.
import { Webhook } from 'standardwebhooks';
import type { HttpPostParams } from '../../core/outbox-api.js';
import {
  retryableStatus,
  retryAfterMs,
  SinkError,
  transportError,
  truncateBody,
  type Sink,
  type SinkDelivery,
} from '../sink.js';

export interface HttpTarget {
  url: string;
  /** `whsec_<base64>`; unsigned without one. */
  secret?: string | undefined;
  headers?: Record<string, string> | undefined;
}

export class HttpSink implements Sink {
  readonly name = 'http';
  private readonly signers = new Map<string, Webhook>();

  constructor(private readonly targets: ReadonlyMap<string, HttpTarget>) {
    for (const [name, target] of targets)
      if (target.secret !== undefined) this.signers.set(name, new Webhook(target.secret));
  }

  async deliver(delivery: SinkDelivery): Promise<unknown> {
    if (delivery.action !== 'post')
      throw new SinkError(`http: no action ${delivery.action}`, { retryable: false });
    const params = delivery.params as HttpPostParams;
    const target = this.targets.get(params.target);
    if (target === undefined)
      throw new SinkError(`http: no target "${params.target}" in outbox.http.targets`, {
        retryable: false,
      });
    const body = JSON.stringify(params.body ?? null);
    // Signed per attempt: receivers refuse timestamps more than a few minutes old.
    const timestamp = new Date();
    const signer = this.signers.get(params.target);
    let response: Response;
    try {
      response = await fetch(target.url, {
        method: 'POST',
        headers: {
          ...target.headers,
          'content-type': 'application/json',
          'user-agent': 'agentd',
          'webhook-id': delivery.key,
          'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1_000)),
          ...(signer === undefined
            ? {}
            : { 'webhook-signature': signer.sign(delivery.key, timestamp, body) }),
        },
        body,
        redirect: 'error',
        signal: delivery.signal,
      });
    } catch (error) {
      throw transportError(`http ${params.target}`, error);
    }
    const text = await response.text().catch(() => '');
    if (response.ok) return { status: response.status, body: truncateBody(text) };
    throw new SinkError(`http ${params.target}: ${response.status} ${response.statusText}`, {
      retryable: retryableStatus(response.status),
      retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
      status: response.status,
      body: text,
    });
  }
}
