// Contracts of the Slack events the slack webhook source maps: `slack.<event.type>` with the whole
// event_callback as `data`. The callback's envelope and the inner event's `type` are strict; the
// rest is as loose as Slack is.
import { z } from 'zod';
import { defineEventType, type EventType } from '../../core/event-type.js';
import type { TypeFamily } from './type-family.js';

/** What every event_callback carries around its inner event. */
function callback<T extends string, S extends Record<string, z.ZodType>>(type: T, inner: S) {
  return z.object({
    type: z.literal('event_callback'),
    team_id: z.string(),
    api_app_id: z.string(),
    /** The event id: agentd's event id, so Slack's retries are duplicates. */
    event_id: z.string(),
    event_time: z.number(),
    event: z.object({ type: z.literal(type), ...inner }),
  });
}

const envelope = {
  type: 'event_callback',
  team_id: 'T0001',
  api_app_id: 'A0001',
  event_id: 'Ev0001',
  event_time: 1764081069,
};
const ts = '1764081069.000200';
const channel = z.string();

const message = defineEventType(
  'slack.message',
  callback('message', {
    channel,
    user: z.string().optional(),
    text: z.string().optional(),
    ts: z.string(),
    subtype: z.string().optional(),
    thread_ts: z.string().optional(),
  }),
  {
    description: 'a message was posted in a channel the app is in',
    example: {
      ...envelope,
      event: { type: 'message', channel: 'C0001', user: 'U0001', text: 'deploy is done', ts },
    },
  },
);

const appMention = defineEventType(
  'slack.app_mention',
  callback('app_mention', {
    channel,
    user: z.string(),
    text: z.string(),
    ts: z.string(),
    thread_ts: z.string().optional(),
  }),
  {
    description: 'someone mentioned the app',
    example: {
      ...envelope,
      event: {
        type: 'app_mention',
        channel: 'C0001',
        user: 'U0001',
        text: '<@U0APP> review #42',
        ts,
      },
    },
  },
);

const reactionShape = {
  user: z.string(),
  reaction: z.string(),
  item: z.object({
    type: z.string(),
    channel: z.string().optional(),
    ts: z.string().optional(),
  }),
  item_user: z.string().optional(),
};
const reactionExample = (type: string) => ({
  ...envelope,
  event: { type, user: 'U0001', reaction: 'eyes', item: { type: 'message', channel: 'C0001', ts } },
});

const reactionAdded = defineEventType(
  'slack.reaction_added',
  callback('reaction_added', reactionShape),
  {
    description: 'someone added a reaction to a message',
    example: reactionExample('reaction_added'),
  },
);
const reactionRemoved = defineEventType(
  'slack.reaction_removed',
  callback('reaction_removed', reactionShape),
  { description: 'someone removed a reaction', example: reactionExample('reaction_removed') },
);

const memberJoined = defineEventType(
  'slack.member_joined_channel',
  callback('member_joined_channel', { user: z.string(), channel, inviter: z.string().optional() }),
  {
    description: 'someone joined a channel',
    example: {
      ...envelope,
      event: { type: 'member_joined_channel', user: 'U0002', channel: 'C0001' },
    },
  },
);

const channelCreated = defineEventType(
  'slack.channel_created',
  callback('channel_created', {
    channel: z.object({ id: z.string(), name: z.string(), creator: z.string().optional() }),
  }),
  {
    description: 'a channel was created',
    example: {
      ...envelope,
      event: {
        type: 'channel_created',
        channel: { id: 'C0002', name: 'incidents', creator: 'U0001' },
      },
    },
  },
);

export const slackEventTypes = {
  slackMessage: message,
  slackAppMention: appMention,
  slackReactionAdded: reactionAdded,
  slackReactionRemoved: reactionRemoved,
  slackMemberJoinedChannel: memberJoined,
  slackChannelCreated: channelCreated,
};

const types: EventType[] = Object.values(slackEventTypes);
export const slackFamilies: TypeFamily[] = types.map((type) => ({
  title: type.name,
  summary: type.description ?? '',
  types: [type],
}));
