// The Slack Events API at /hooks/<name>: signed requests only, the url_verification challenge
// answered, event callbacks stored once per event_id (Slack's retries answer 200 as duplicates).
import type { Logger } from '../../../observe/log.js';
import type { WebhookReply, WebhookRequest } from '../../source.js';
import { acceptedReply, JsonWebhookSource } from '../json-webhook-source.js';
import { WebhookRejectedError } from '../webhook-rejected-error.js';
import { bodyText, jsonObjectBody, stringField } from '../webhook-request.js';
import { slackEvent } from './slack-event.js';
import { verifySlackSignature } from './slack-signature.js';

export interface SlackWebhookSourceOptions {
  name: string;
  /** The app's signing secret; several while rotating. */
  signingSecrets: readonly string[];
  bodyLimitBytes?: number;
  log: Logger;
  node?: string;
  /** The clock the replay window is checked against. */
  now?: () => number;
}

export class SlackWebhookSource extends JsonWebhookSource {
  readonly kind = 'slack';

  constructor(private readonly options: SlackWebhookSourceOptions) {
    super(options);
    if (options.signingSecrets.length === 0) throw new Error('a Slack source needs a secret');
  }

  async handle(request: WebhookRequest): Promise<WebhookReply> {
    const { headers } = request;
    const verdict = verifySlackSignature({
      secrets: this.options.signingSecrets,
      timestamp: headers.get('x-slack-request-timestamp'),
      signature: headers.get('x-slack-signature'),
      body: request.body,
      nowMs: (this.options.now ?? Date.now)(),
    });
    if (verdict === 'missing')
      throw new WebhookRejectedError(
        401,
        'missing-signature',
        'missing the X-Slack-Signature or X-Slack-Request-Timestamp header',
      );
    if (verdict === 'stale')
      throw new WebhookRejectedError(
        401,
        'stale-timestamp',
        'X-Slack-Request-Timestamp is more than 5 minutes from now (a replay, or a wrong clock)',
      );
    if (verdict === 'bad')
      throw new WebhookRejectedError(
        401,
        'bad-signature',
        'X-Slack-Signature does not match the body for any configured signing secret',
      );

    const payload = jsonObjectBody(bodyText(request.body));
    const kind = stringField(payload, 'type');
    if (kind === 'url_verification') {
      const challenge = stringField(payload, 'challenge');
      if (challenge === undefined)
        throw new WebhookRejectedError(400, 'invalid-event', 'url_verification without challenge');
      this.options.log.info({ source: this.name }, 'Slack url_verification answered');
      return { status: 200, body: { challenge } };
    }
    if (kind !== 'event_callback') {
      // app_rate_limited and future envelope types: acknowledged so Slack does not retry them.
      this.options.log.warn({ source: this.name, type: kind }, 'Slack request not stored');
      return { status: 200, body: { ignored: kind ?? '(no type)' } };
    }

    const results = await this.store(request, () =>
      slackEvent({
        sourceName: this.name,
        payload,
        ...(this.options.node === undefined ? {} : { origin: this.options.node }),
      }),
    );
    const retry = headers.get('x-slack-retry-num');
    if (retry !== null)
      this.options.log.info(
        {
          source: this.name,
          eventId: results[0]?.id,
          retry,
          reason: headers.get('x-slack-retry-reason'),
          duplicate: results[0]?.duplicate,
        },
        'Slack retried a delivery',
      );
    // Slack wants 200 (not 202) within 3 s; a retry of a stored event is a 200 duplicate.
    return acceptedReply(results, 200);
  }
}
