// Generic Standard Webhooks (standardwebhooks.com) at /hooks/<name>: webhook-id, -timestamp and
// -signature checked by the `standardwebhooks` package, the event type filled from a template.
// Unsigned endpoints exist only when the config says `insecure: true`.
import { Webhook } from 'standardwebhooks';
import { ValidationError } from '../../../core/errors.js';
import { toEvent } from '../../../core/envelope.js';
import { fillTemplate, typeSegments } from '../../../core/type-template.js';
import type { Logger } from '../../../observe/log.js';
import type { Publish, WebhookReply, WebhookRequest } from '../../source.js';
import { acceptedReply, JsonWebhookSource } from '../json-webhook-source.js';
import { WebhookRejectedError } from '../webhook-rejected-error.js';
import { bodyText, jsonObjectBody } from '../webhook-request.js';

export interface StandardWebhookSourceOptions {
  name: string;
  /** Verifiers from standardVerifiers(); empty only for an insecure endpoint. */
  verifiers: readonly Webhook[];
  insecure: boolean;
  /** Event type template, e.g. `billing.{{type}}`. */
  type: string;
  /** Partition key template; no key when a field it names is missing. */
  key?: string;
  dataschema?: string;
  bodyLimitBytes?: number;
  log: Logger;
  node?: string;
}

const MAX_KEY_LENGTH = 200;

/** One verifier per secret; `path` names the config field when a secret is not `whsec_<base64>`. */
export function standardVerifiers(secrets: readonly string[], path: string): Webhook[] {
  return secrets.map((secret, index) => {
    try {
      return new Webhook(secret);
    } catch {
      const where = secrets.length > 1 ? `${path}[${index}]` : path;
      const issue = `${where}: expected a Standard Webhooks secret such as "whsec_<base64>"`;
      throw new ValidationError(issue, [issue]);
    }
  });
}

export class StandardWebhookSource extends JsonWebhookSource {
  readonly kind = 'webhook';

  constructor(private readonly options: StandardWebhookSourceOptions) {
    super(options);
    if (options.verifiers.length === 0 && !options.insecure)
      throw new Error(`webhook source "${options.name}" needs a secret or insecure: true`);
  }

  override async start(publish: Publish): Promise<void> {
    await super.start(publish);
    if (this.options.verifiers.length === 0)
      this.options.log.warn(
        { source: this.name, path: `/hooks/${this.name}` },
        'webhook source is insecure: anyone who can reach it can publish events (insecure: true)',
      );
  }

  async handle(request: WebhookRequest): Promise<WebhookReply> {
    const { headers } = request;
    const text = bodyText(request.body);
    if (this.options.verifiers.length > 0) this.verify(headers, text);

    const payload = jsonObjectBody(text);
    const id = headers.get('webhook-id') ?? undefined;
    const timestamp = headers.get('webhook-timestamp');
    const time =
      timestamp !== null && /^\d{1,12}$/.test(timestamp)
        ? new Date(Number(timestamp) * 1000).toISOString()
        : undefined;
    const type = fillTemplate(this.options.type, payload, typeSegments).text;
    const key =
      this.options.key === undefined
        ? undefined
        : fillTemplate(this.options.key, payload, (value) => value.slice(0, MAX_KEY_LENGTH));
    const source = `webhook:${this.name}`;
    const results = await this.store(request, () =>
      toEvent(
        {
          source,
          type,
          datacontenttype: 'application/json',
          data: payload,
          ...(id === undefined || id === '' ? {} : { id }),
          ...(time === undefined ? {} : { time }),
          ...(key === undefined || key.missing.length > 0 || key.text === ''
            ? {}
            : { partitionkey: key.text }),
          ...(this.options.dataschema === undefined ? {} : { dataschema: this.options.dataschema }),
        },
        {
          source,
          trust: 'external',
          maxTrust: 'external',
          ...(this.options.node === undefined ? {} : { origin: this.options.node }),
        },
      ),
    );
    return acceptedReply(results, 202);
  }

  private verify(headers: Headers, text: string): void {
    const signed = {
      'webhook-id': headers.get('webhook-id') ?? '',
      'webhook-timestamp': headers.get('webhook-timestamp') ?? '',
      'webhook-signature': headers.get('webhook-signature') ?? '',
    };
    if (Object.values(signed).some((value) => value === ''))
      throw new WebhookRejectedError(
        401,
        'missing-signature',
        'missing the webhook-id, webhook-timestamp or webhook-signature header',
      );
    let stale = false;
    for (const verifier of this.options.verifiers) {
      try {
        verifier.verify(text, signed, { jsonParse: false });
        return;
      } catch (error) {
        // The package says why only in its message; a timestamp outside its 5 minutes is a replay.
        if (/timestamp too (old|new)/i.test((error as Error).message)) stale = true;
      }
    }
    if (stale)
      throw new WebhookRejectedError(
        401,
        'stale-timestamp',
        'webhook-timestamp is more than 5 minutes from now (a replay, or a wrong clock)',
      );
    throw new WebhookRejectedError(
      401,
      'bad-signature',
      'webhook-signature does not match the body for any configured secret',
    );
  }
}
