// Why the ingress refused a webhook request: the status to answer and a reason to count. The
// message is shown to the sender and logged, so it never carries the body or a secret.
import { AgentdError } from '../../core/errors.js';

export const REJECT_REASONS = [
  'unknown-source',
  'method-not-allowed',
  'body-too-large',
  'unreadable-body',
  'content-type',
  'missing-signature',
  'bad-signature',
  'stale-timestamp',
  'bad-header',
  'malformed-json',
  'invalid-event',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export class WebhookRejectedError extends AgentdError {
  constructor(
    readonly status: 400 | 401 | 404 | 405 | 413 | 415,
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message, { code: 'WEBHOOK_REJECTED', retryable: false });
  }
}
