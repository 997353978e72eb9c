// agent(): an agent loop packaged as a route handler. `on('github.pull_request.opened', { handler:
// agent({...}) })` runs it per event; the handler's result carries the text, output and usage.
import type { AgentdEvent } from '../core/envelope.js';
import type { HandlerContext } from '../core/route.js';
import {
  AGENT,
  type AgentHandler,
  type AgentMark,
  type AgentOptions,
  type AgentResult,
} from './agent-definition.js';
import { runAgent, withTimeout } from './agent-loop.js';
import { defineAgent } from './agent-options.js';
import { staticTools } from './tools/toolset.js';
import { agentWarnings } from './trust-policy.js';

export function agent<TData = unknown>(options: AgentOptions<TData>): AgentHandler<TData> {
  const definition = defineAgent(options);
  // Builds the fixed tools once now, so a bad allowlist or a clash of names fails at config load.
  staticTools(definition, () => Promise.reject(new Error('not a run')));

  const handler = async (event: AgentdEvent<TData>, ctx: HandlerContext): Promise<AgentResult> => {
    const log = ctx.log.child({ agent: definition.name });
    const timeout = withTimeout(ctx.signal, definition);
    try {
      const { emits, ...result } = await runAgent({
        definition,
        event: event,
        ctx,
        signal: timeout.signal,
        log,
        nesting: 0,
      });
      // Ids were fixed when the tools ran, so a resumed run queues the very same events.
      if (emits.length > 0) ctx.emit(emits);
      log.info(
        { usage: result.usage, refusals: result.refusals.length, stopReason: result.stopReason },
        `agent ${definition.name} finished: ${result.usage.turns} turns, ${result.usage.totalTokens} tokens`,
      );
      return result;
    } finally {
      timeout.dispose();
    }
  };
  const mark: AgentMark = {
    name: definition.name,
    startupWarnings: () => agentWarnings(definition),
  };
  Object.defineProperty(handler, AGENT, { value: mark });
  Object.defineProperty(handler, 'definition', { value: definition });
  return handler as unknown as AgentHandler<TData>;
}
