// Every built-in event type: `eventTypes` holds typed handles (`on(eventTypes.githubPush.v1, ...)`),
// `builtinFamilies` orders them for the reference page.
import type { EventTypeDefinition } from '../../core/event-type.js';
import { githubEventTypes, githubFamilies } from './github-types.js';
import { internalEventTypes, internalFamilies } from './internal-types.js';
import { localEventTypes, localFamilies } from './local-types.js';
import { slackEventTypes, slackFamilies } from './slack-types.js';
import type { TypeFamily } from './type-family.js';

export const eventTypes = {
  ...githubEventTypes,
  ...slackEventTypes,
  ...localEventTypes,
  ...internalEventTypes,
};

export interface TypeSection {
  title: string;
  intro: string;
  families: readonly TypeFamily[];
}

export const builtinSections: readonly TypeSection[] = [
  {
    title: 'GitHub',
    intro:
      "Published by a `github` webhook source as `github.<event>.<action>` (or `github.<event>` for events without actions), with the delivery's payload as `data`. Other GitHub events pass unchecked.",
    families: githubFamilies,
  },
  {
    title: 'Slack',
    intro:
      'Published by a `slack` webhook source as `slack.<event.type>`, with the whole `event_callback` as `data`. Other Slack event types pass unchecked.',
    families: slackFamilies,
  },
  {
    title: 'Schedules, files, processes and builds',
    intro: "Published by agentd's `cron`, `fs` and `process` sources and by `agentd exec`.",
    families: localFamilies,
  },
  {
    title: 'agentd',
    intro: 'Published by agentd itself.',
    families: internalFamilies,
  },
];

export function builtinTypes(): EventTypeDefinition[] {
  return builtinSections.flatMap((section) => section.families.flatMap((family) => family.types));
}
