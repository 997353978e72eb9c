// The Slack sink through @slack/web-api: post (in a thread or not), update, react. Slack has no
// idempotency key, so each posted message carries its action's key in its metadata, and a send
// that may have gone out before looks for that message first instead of posting again.
import type { WebClient } from '@slack/web-api';
import type {
  SlackPostMessageParams,
  SlackReactionParams,
  SlackUpdateMessageParams,
} from '../../core/outbox-api.js';
import {
  retryableStatus,
  retryAfterMs,
  SinkError,
  transportError,
  type Sink,
  type SinkDelivery,
} from '../sink.js';

export interface SlackSinkOptions {
  token: string;
  /** Default https://slack.com/api/. */
  apiUrl?: string | undefined;
  timeoutMs: number;
}

/** The metadata event type agentd's messages carry; its payload holds `agentd_key`. */
export const SLACK_METADATA_TYPE = 'agentd_action';

/** Platform errors that are Slack's trouble, not the request's. */
const RETRYABLE = new Set([
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
  'ratelimited',
]);

interface Posted {
  ts?: string;
  metadata?: { event_type?: string; event_payload?: Record<string, unknown> };
}

const SILENT = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => 'error',
  setName: () => {},
};

export class SlackSink implements Sink {
  readonly name = 'slack';
  private client: Promise<WebClient> | undefined;

  constructor(private readonly options: SlackSinkOptions) {}

  async deliver(delivery: SinkDelivery): Promise<unknown> {
    try {
      const client = await this.webClient();
      switch (delivery.action) {
        case 'postMessage':
          return await this.post(client, delivery.params as SlackPostMessageParams, delivery);
        case 'updateMessage': {
          const p = delivery.params as SlackUpdateMessageParams;
          const res = await client.chat.update({
            channel: p.channel,
            ts: p.ts,
            text: p.text,
            ...(p.blocks === undefined ? {} : { blocks: p.blocks as never }),
          });
          return { channel: res.channel, ts: res.ts };
        }
        case 'addReaction': {
          const p = delivery.params as SlackReactionParams;
          try {
            await client.reactions.add({ channel: p.channel, timestamp: p.ts, name: p.name });
          } catch (error) {
            if ((error as { data?: { error?: string } }).data?.error !== 'already_reacted')
              throw error;
          }
          return { channel: p.channel, ts: p.ts, name: p.name };
        }
        default:
          throw new SinkError(`slack: no action ${delivery.action}`, { retryable: false });
      }
    } catch (error) {
      throw slackError(delivery.action, error);
    }
  }

  private async post(client: WebClient, p: SlackPostMessageParams, delivery: SinkDelivery) {
    if (delivery.mayHaveSent) {
      const found = await this.findPosted(client, p, delivery);
      if (found !== undefined) return { channel: p.channel, ts: found, found: true };
    }
    const res = await client.chat.postMessage({
      channel: p.channel,
      text: p.text,
      ...(p.blocks === undefined ? {} : { blocks: p.blocks as never }),
      ...(p.threadTs === undefined ? {} : { thread_ts: p.threadTs }),
      ...(p.unfurlLinks === undefined ? {} : { unfurl_links: p.unfurlLinks }),
      metadata: { event_type: SLACK_METADATA_TYPE, event_payload: { agentd_key: delivery.key } },
    });
    return { channel: res.channel, ts: res.ts };
  }

  /** The `ts` of this action's message if an earlier attempt posted it (read back by metadata). */
  private async findPosted(
    client: WebClient,
    p: SlackPostMessageParams,
    delivery: SinkDelivery,
  ): Promise<string | undefined> {
    const oldest = ((delivery.recordedAt - 60_000) / 1_000).toFixed(6);
    let cursor: string | undefined;
    do {
      const page =
        p.threadTs === undefined
          ? await client.conversations.history({
              channel: p.channel,
              oldest,
              include_all_metadata: true,
              limit: 200,
              ...(cursor === undefined ? {} : { cursor }),
            })
          : await client.conversations.replies({
              channel: p.channel,
              ts: p.threadTs,
              oldest,
              include_all_metadata: true,
              limit: 200,
              ...(cursor === undefined ? {} : { cursor }),
            });
      const messages = (page.messages ?? []) as Posted[];
      const found = messages.find(
        (m) =>
          m.metadata?.event_type === SLACK_METADATA_TYPE &&
          m.metadata.event_payload?.agentd_key === delivery.key,
      );
      if (found?.ts !== undefined) return found.ts;
      cursor = page.response_metadata?.next_cursor || undefined;
    } while (cursor !== undefined);
    return undefined;
  }

  private webClient(): Promise<WebClient> {
    this.client ??= import('@slack/web-api').then(({ WebClient: Client }) => {
      const url = this.options.apiUrl ?? 'https://slack.com/api/';
      return new Client(this.options.token, {
        slackApiUrl: url.endsWith('/') ? url : `${url}/`,
        // Retries and rate limits are the dispatcher's: a 429 comes back at once with its wait.
        retryConfig: { retries: 0 },
        rejectRateLimitedCalls: true,
        timeout: this.options.timeoutMs,
        logger: SILENT as never,
      });
    });
    return this.client;
  }
}

interface SlackFailure {
  code?: string;
  retryAfter?: number;
  data?: { error?: string };
  statusCode?: number;
  headers?: Record<string, string>;
  body?: unknown;
  message?: string;
}

/** @slack/web-api's errors as a SinkError. */
export function slackError(action: string, error: unknown): SinkError {
  if (error instanceof SinkError) return error;
  const e = error as SlackFailure;
  switch (e.code) {
    case 'slack_webapi_rate_limited_error':
      return new SinkError(`slack ${action}: rate limited`, {
        retryable: true,
        retryAfterMs: (e.retryAfter ?? 1) * 1_000,
        status: 429,
        cause: error,
      });
    case 'slack_webapi_platform_error': {
      const code = e.data?.error ?? 'unknown_error';
      return new SinkError(`slack ${action}: ${code}`, {
        retryable: RETRYABLE.has(code),
        status: 200,
        body: e.data,
        cause: error,
      });
    }
    case 'slack_webapi_http_error': {
      const status = e.statusCode ?? 0;
      return new SinkError(`slack ${action}: HTTP ${status}`, {
        retryable: retryableStatus(status),
        retryAfterMs: retryAfterMs(e.headers?.['retry-after']),
        status,
        body: e.body,
        cause: error,
      });
    }
    default:
      return transportError(`slack ${action}`, error);
  }
}
