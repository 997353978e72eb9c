// GitHub webhooks at /hooks/<name>: X-Hub-Signature-256 checked in constant time against each
// configured secret (several while rotating), X-GitHub-Delivery as the event id, ping answered.
import type * as OctokitWebhooks from '@octokit/webhooks-methods';
import type { Logger } from '../../../observe/log.js';
import type { WebhookReply, WebhookRequest } from '../../source.js';
import { acceptedReply, JsonWebhookSource } from '../json-webhook-source.js';
import { WebhookRejectedError } from '../webhook-rejected-error.js';
import { bodyText, jsonObjectBody, requiredHeader } from '../webhook-request.js';
import { githubEvent } from './github-event.js';

export interface GithubWebhookSourceOptions {
  name: string;
  /** Any of these verifies a delivery; the first is the current one. */
  secrets: readonly string[];
  bodyLimitBytes?: number;
  log: Logger;
  /** Stamped as `origin`. */
  node?: string;
}

const SIGNATURE = /^sha256=[0-9a-f]{64}$/;
const EVENT_NAME = /^[a-z0-9_]{1,64}$/;

export class GithubWebhookSource extends JsonWebhookSource {
  readonly kind = 'github';

  constructor(private readonly options: GithubWebhookSourceOptions) {
    super(options);
    if (options.secrets.length === 0) throw new Error('a GitHub webhook source needs a secret');
  }

  async handle(request: WebhookRequest): Promise<WebhookReply> {
    const { headers } = request;
    const signature = headers.get('x-hub-signature-256');
    if (signature === null || signature === '')
      throw new WebhookRejectedError(
        401,
        'missing-signature',
        'missing the X-Hub-Signature-256 header: set a secret on the GitHub webhook',
      );
    const text = bodyText(request.body);
    if (!(await this.verified(text, signature)))
      throw new WebhookRejectedError(
        401,
        'bad-signature',
        'X-Hub-Signature-256 does not match the body for any configured secret',
      );

    const event = requiredHeader(headers, 'x-github-event', 64);
    if (!EVENT_NAME.test(event))
      throw new WebhookRejectedError(400, 'bad-header', 'X-GitHub-Event is not an event name');
    const deliveryId = requiredHeader(headers, 'x-github-delivery');
    const payload = jsonObjectBody(text);

    // A ping only says the hook is set up: answered, logged, never stored (nothing to handle).
    if (event === 'ping') {
      this.options.log.info(
        { source: this.name, delivery: deliveryId, hookId: payload.hook_id },
        'GitHub ping: the webhook reaches agentd',
      );
      return { status: 200, body: { pong: true } };
    }

    const results = await this.store(request, () =>
      githubEvent({
        sourceName: this.name,
        event,
        deliveryId,
        payload,
        ...(this.options.node === undefined ? {} : { origin: this.options.node }),
      }),
    );
    return acceptedReply(results, 202);
  }

  // Every secret is tried (no early exit on the first), so timing says nothing about which matched.
  private async verified(text: string, signature: string): Promise<boolean> {
    if (!SIGNATURE.test(signature) || text === '') return false;
    let matched = false;
    for (const secret of this.options.secrets) {
      if (await (await octokitVerify())(secret, text, signature)) matched = true;
    }
    return matched;
  }
}

// Loaded on first use: the package ships only an ESM `import` export, and a config file loaded as
// CommonJS (a project without "type": "module") reaches this module through require().
let verifyModule: Promise<typeof OctokitWebhooks> | undefined;
async function octokitVerify() {
  verifyModule ??= import('@octokit/webhooks-methods');
  return (await verifyModule).verify;
}
