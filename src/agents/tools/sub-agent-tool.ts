// Another configured agent as a tool: the parent model hands it a task; it runs inside the parent's
// run (same event, correlation, trust and durable steps) and its answer comes back as the result.
import { z } from 'zod';
import type { AgentDefinition } from '../agent-definition.js';
import type { AgentUsage } from '../usage.js';
import { toolFromZod, ToolReply, type AgentTool, type ToolContext } from './tool.js';

export interface SubAgentOutcome {
  text: string;
  usage: AgentUsage;
}

/** Supplied by the agent loop, which knows how to run an agent under a step prefix. */
export type SubAgentRunner = (
  definition: AgentDefinition,
  task: string,
  ctx: ToolContext,
) => Promise<SubAgentOutcome>;

export function subAgentTool(
  key: string,
  definition: AgentDefinition,
  runner: SubAgentRunner,
): AgentTool {
  const tool = toolFromZod(
    {
      name: key,
      description:
        definition.options.description ??
        `Hands a task to the ${definition.name} agent and returns its answer.`,
      input: z.object({ task: z.string().min(1).describe('what the agent should do') }),
      run: async ({ task }, ctx) => {
        const outcome = await runner(definition, task, ctx);
        // Usage travels beside the answer so the parent's step records what the sub-agent spent.
        return new ToolReply(outcome.text, false, outcome.usage);
      },
    },
    'agent',
    true,
  );
  // A sub-agent's provider outage or limit fails the parent's run (to be retried or
  // dead-lettered), rather than reaching the parent model as an ordinary tool error.
  return { ...tool, failRunOnError: true };
}
