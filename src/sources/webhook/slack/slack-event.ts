// How a verified Slack event_callback becomes an event: type slack.<event.type>, id the event_id
// (so Slack's retries are duplicates), partition key and subject the channel.
import { toEvent, type AgentdEvent } from '../../../core/envelope.js';
import { typeSegments } from '../../../core/type-template.js';
import { WebhookRejectedError } from '../webhook-rejected-error.js';
import { stringField } from '../webhook-request.js';

export interface SlackCallback {
  sourceName: string;
  payload: Record<string, unknown>;
  origin?: string;
}

export function slackEvent(callback: SlackCallback): AgentdEvent {
  const { payload } = callback;
  const eventId = stringField(payload, 'event_id');
  const inner = payload.event;
  const innerType = stringField(inner, 'type');
  if (eventId === undefined || innerType === undefined)
    throw new WebhookRejectedError(
      400,
      'invalid-event',
      'an event_callback needs event_id and event.type',
    );
  const type = `slack.${typeSegments(innerType)}`;
  const channel = channelOf(inner);
  const time =
    typeof payload.event_time === 'number' && Number.isFinite(payload.event_time)
      ? new Date(payload.event_time * 1000).toISOString()
      : undefined;
  const source = `slack:${callback.sourceName}`;
  return toEvent(
    {
      id: eventId,
      source,
      type,
      dataschema: `agentd:${type}/v1`,
      datacontenttype: 'application/json',
      data: payload,
      ...(time === undefined ? {} : { time }),
      ...(channel === undefined ? {} : { subject: channel, partitionkey: channel }),
    },
    {
      source,
      trust: 'external',
      maxTrust: 'external',
      ...(callback.origin === undefined ? {} : { origin: callback.origin }),
    },
  );
}

// Messages carry `channel` as an id, channel_* events as an object, reactions under `item`.
function channelOf(inner: unknown): string | undefined {
  if (typeof inner !== 'object' || inner === null) return undefined;
  const event = inner as Record<string, unknown>;
  return (
    stringField(event, 'channel') ??
    stringField(event.channel, 'id') ??
    stringField(event.item, 'channel') ??
    stringField(event, 'channel_id')
  );
}
