// The agent loop: model call → tool calls → results → … until the model answers or a limit stops it.
// Every model call is the step `turn-N` and every tool call `tool-N-<name>`, so a redelivered run
// replays the stored turns (paying for none of them again) and continues after the last one.
import { mkdir, realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { AgentdEvent, EventInput } from '../core/envelope.js';
import { describeError } from '../core/errors.js';
import { newEventId } from '../core/ids.js';
import type { HandlerContext } from '../core/route.js';
import type { SpanAttributes } from '../core/run-tracer.js';
import type { Logger } from '../observe/log.js';
import type { AgentDefinition, AgentResult, ToolRefusal } from './agent-definition.js';
import { AgentLimitError, AgentTimeoutError } from './agent-errors.js';
import { runCommandAgent } from './command-agent.js';
import {
  textOf,
  toolUsesOf,
  type Message,
  type ModelResponse,
  type ToolResultBlock,
  type ToolUseBlock,
} from './conversation.js';
import { externalDataBlock, renderPrompt } from './prompt.js';
import type { SubAgentRunner } from './tools/sub-agent-tool.js';
import { capText, type AgentTool, type ToolContext } from './tools/tool.js';
import { openToolset, type Toolset } from './tools/toolset.js';
import { spentOn, UsageMeter, type AgentUsage } from './usage.js';

export const AGENT_DEFAULTS = {
  maxTurns: 20,
  maxTokens: 500_000,
  maxOutputTokens: 4_096,
};

const MAX_TOOL_RESULT_BYTES = 512 * 1024;

/** Sub-agents calling sub-agents: deep enough for real use, shallow enough to stop a runaway. */
const MAX_NESTING = 4;

export interface AgentRun {
  definition: AgentDefinition;
  event: AgentdEvent;
  /** The run's context; a sub-agent gets one whose step names carry its tool step as prefix. */
  ctx: HandlerContext;
  /** The run's signal, combined with the agent's own timeout. */
  signal: AbortSignal;
  log: Logger;
  /** For a sub-agent: the task its parent handed it. */
  task?: string;
  nesting: number;
}

/** The result plus the events the run's tools queued, with fixed ids. */
export interface AgentOutcome extends AgentResult {
  emits: EventInput[];
}

/** What a `tool-N-<name>` step stores. */
interface ToolRecord {
  content: string;
  isError: boolean;
  refused?: string;
  emits?: EventInput[];
  usage?: AgentUsage;
}

export async function runAgent(run: AgentRun): Promise<AgentOutcome> {
  if (run.definition.provider.kind === 'command') {
    const workspace = await prepareWorkspace(run.definition, run.event);
    return { ...(await runCommandAgent({ ...run, workspace })), emits: [] };
  }
  return runModelAgent(run);
}

async function runModelAgent(run: AgentRun): Promise<AgentOutcome> {
  const { definition, event, ctx, signal, log } = run;
  const options = definition.options;
  const name = definition.name;
  const model = options.model ?? '';
  const maxTurns = options.maxTurns ?? AGENT_DEFAULTS.maxTurns;
  const maxTokens = options.maxTokens ?? AGENT_DEFAULTS.maxTokens;
  const external = event.trust === 'external';
  const workspace = await prepareWorkspace(definition, event);
  const meter = new UsageMeter(definition.provider.kind, model);
  const refusals: ToolRefusal[] = [];
  const emits: EventInput[] = [];
  let toolStep = '';

  const runner: SubAgentRunner = async (sub, task, toolCtx) => {
    if (run.nesting + 1 >= MAX_NESTING) {
      throw new AgentLimitError(`agent ${sub.name}: sub-agents nested deeper than ${MAX_NESTING}`);
    }
    const timeout = withTimeout(signal, sub);
    try {
      const outcome = await runAgent({
        definition: sub,
        event,
        ctx: scopedContext(ctx, `${toolStep}/`),
        signal: timeout.signal,
        log: log.child({ agent: sub.name }),
        task,
        nesting: run.nesting + 1,
      });
      for (const input of outcome.emits) toolCtx.emit(input);
      return { text: outcome.text, usage: outcome.usage };
    } finally {
      timeout.dispose();
    }
  };

  const toolset = await openToolset(definition, { external, log, runner });
  try {
    const prompt = await ctx.step('prompt', () =>
      renderPrompt(options, event, run.task === undefined ? {} : { task: run.task }),
    );
    if (prompt.pastedExternal === true) {
      log.warn(
        { agent: name },
        'the prompt contains text from an external event outside the data block: move event content to `input`',
      );
    }
    const messages: Message[] = [{ role: 'user', content: [{ type: 'text', text: prompt.user }] }];
    const tools = [...toolset.offered.values()].map((t) => ({
      name: t.name,
      description: t.description,
      inputSchema: t.inputSchema,
    }));
    const request = {
      model,
      system: prompt.system,
      messages,
      tools,
      maxOutputTokens: options.maxOutputTokens ?? AGENT_DEFAULTS.maxOutputTokens,
      temperature: options.temperature,
    };
    const finish = (response: ModelResponse, text: string, output?: unknown): AgentOutcome => ({
      agent: name,
      text,
      ...(output === undefined ? {} : { output }),
      stopReason: response.stopReason === 'tool_use' ? 'end' : response.stopReason,
      usage: meter.snapshot(),
      refusals,
      emits,
    });
    const overBudget = (turn: number) => {
      if (meter.total > maxTokens) {
        throw new AgentLimitError(
          `agent ${name} used ${meter.total} tokens by turn ${turn}, above maxTokens ${maxTokens}`,
        );
      }
    };

    for (let turn = 1; ; turn++) {
      const response = await ctx.step(`turn-${turn}`, async () => {
        const fresh = await traced(
          ctx,
          'model call',
          { 'gen_ai.request.model': model, 'agentd.agent': name },
          async () => (await definition.modelProvider(log)).complete(request, { signal, log }),
        );
        ctx.spend?.(spentOn(fresh.usage, options.price));
        return fresh;
      });
      meter.addTurn(response.usage, options.price);
      overBudget(turn);
      messages.push({ role: 'assistant', content: response.content });
      const uses = toolUsesOf(response.content);
      if (uses.length === 0) {
        const text = textOf(response.content);
        if (options.output !== 'json') return finish(response, text);
        const parsed = parseJsonAnswer(text);
        if (parsed.ok) return finish(response, text, parsed.value);
        if (turn >= maxTurns) {
          throw new AgentLimitError(
            `agent ${name} reached maxTurns (${maxTurns}) without a valid JSON answer: ${parsed.error}`,
          );
        }
        // Asking again is part of the stored conversation, so a resumed run asks the same way.
        messages.push({
          role: 'user',
          content: [
            {
              type: 'text',
              text: `Your answer is not valid JSON (${parsed.error}). Reply with the JSON only.`,
            },
          ],
        });
        continue;
      }
      if (turn >= maxTurns) {
        throw new AgentLimitError(
          `agent ${name} reached maxTurns (${maxTurns}) with the model still calling tools (${uses.map((u) => u.name).join(', ')})`,
        );
      }
      const results: ToolResultBlock[] = [];
      const counts = new Map<string, number>();
      for (const use of uses) {
        const base = `tool-${turn}-${use.name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64)}`;
        const n = (counts.get(base) ?? 0) + 1;
        counts.set(base, n);
        // The key ctx.step stores it under (it numbers repeats the same way), for sub-agent steps.
        toolStep = n === 1 ? base : `${base}#${n}`;
        const record = await ctx.step(base, () =>
          traced(ctx, 'tool call', { 'gen_ai.tool.name': use.name, 'agentd.agent': name }, () =>
            executeTool(use, toolset, { event, workspace, signal, log }),
          ),
        );
        meter.toolCalls++;
        if (record.usage !== undefined) meter.addUsage(record.usage);
        if (record.refused !== undefined) refusals.push({ tool: use.name, reason: record.refused });
        emits.push(...(record.emits ?? []));
        results.push({
          type: 'tool_result',
          toolUseId: use.id,
          content:
            prompt.nonce === undefined
              ? record.content
              : externalDataBlock(`Result of ${use.name}`, record.content, prompt.nonce),
          isError: record.isError,
        });
      }
      overBudget(turn);
      messages.push({ role: 'user', content: results });
    }
  } finally {
    await toolset.close();
  }
}

async function executeTool(
  use: ToolUseBlock,
  toolset: Toolset,
  base: Omit<ToolContext, 'emit'>,
): Promise<ToolRecord> {
  const { log, signal } = base;
  const tool: AgentTool | undefined = toolset.offered.get(use.name);
  if (tool === undefined) {
    const reason =
      toolset.withheld.get(use.name) ?? toolset.withheld.get(`${use.name.split('__')[0]}__*`);
    if (reason === undefined) {
      return { content: `error: there is no tool named "${use.name}"`, isError: true };
    }
    log.warn({ tool: use.name, reason }, 'tool call refused');
    return { content: `refused: ${reason}`, isError: true, refused: reason };
  }
  const emitted: EventInput[] = [];
  const ctx: ToolContext = {
    ...base,
    emit(input) {
      const id = input.id ?? newEventId();
      emitted.push({ ...input, id });
      return id;
    },
  };
  try {
    const output = await tool.run(use.input, ctx);
    return {
      // Every result is stored and sent with each later turn: custom and MCP tools are bounded too.
      content: capText(output.content, MAX_TOOL_RESULT_BYTES).text,
      isError: output.isError === true,
      ...(emitted.length === 0 ? {} : { emits: emitted }),
      ...(output.usage === undefined ? {} : { usage: output.usage }),
    };
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (tool.failRunOnError === true) throw error;
    if ((error as { code?: unknown }).code === 'TOOL_REFUSED') {
      const reason = (error as Error).message;
      log.warn({ tool: use.name, input: use.input, reason }, 'tool call refused');
      return { content: `refused: ${reason}`, isError: true, refused: reason };
    }
    return { content: `error: ${describeError(error)}`, isError: true };
  }
}

/** The workspace's real path, created if missing; undefined when the agent has none. */
export async function prepareWorkspace(
  definition: AgentDefinition,
  event: AgentdEvent,
): Promise<string | undefined> {
  const option = definition.options.workspace;
  if (option === undefined) return undefined;
  const dir = resolve(typeof option === 'function' ? option(event as AgentdEvent<never>) : option);
  await mkdir(dir, { recursive: true });
  return realpath(dir);
}

function scopedContext(ctx: HandlerContext, prefix: string): HandlerContext {
  return {
    run: ctx.run,
    signal: ctx.signal,
    log: ctx.log,
    step: (name, fn) => ctx.step(`${prefix}${name}`, fn),
    emit: (events) => ctx.emit(events),
    get outbox() {
      return ctx.outbox;
    },
    waitForEvent: ctx.waitForEvent,
    ...(ctx.trace === undefined ? {} : { trace: ctx.trace }),
    ...(ctx.spend === undefined ? {} : { spend: (spent) => ctx.spend?.(spent) }),
  };
}

/** A span of its own for a model or tool call (inside its step's span) when the run is traced. */
function traced<T>(
  ctx: HandlerContext,
  name: string,
  attributes: SpanAttributes,
  fn: () => Promise<T>,
): Promise<T> {
  return ctx.trace === undefined ? fn() : ctx.trace.span(name, attributes, fn);
}

/** The run's signal plus the agent's own timeoutMs, aborting with an AgentTimeoutError. */
export function withTimeout(
  signal: AbortSignal,
  definition: AgentDefinition,
): { signal: AbortSignal; dispose(): void } {
  const timeoutMs = definition.options.timeoutMs;
  if (timeoutMs === undefined) return { signal, dispose: () => undefined };
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new AgentTimeoutError(definition.name, timeoutMs)),
    timeoutMs,
  );
  return {
    signal: AbortSignal.any([signal, controller.signal]),
    dispose: () => clearTimeout(timer),
  };
}

type JsonAnswer = { ok: true; value: unknown } | { ok: false; error: string };

/** Accepts bare JSON, JSON in a code fence, or JSON with prose around it. */
export function parseJsonAnswer(text: string): JsonAnswer {
  const fenced = /```(?:json)?\s*\n([\s\S]*?)\n?```/.exec(text)?.[1];
  const candidates = [text, fenced];
  const start = text.search(/[[{]/);
  const end = Math.max(text.lastIndexOf('}'), text.lastIndexOf(']'));
  if (start >= 0 && end > start) candidates.push(text.slice(start, end + 1));
  let error = 'empty answer';
  for (const candidate of candidates) {
    if (candidate === undefined || candidate.trim() === '') continue;
    try {
      return { ok: true, value: JSON.parse(candidate) as unknown };
    } catch (e) {
      error = (e as Error).message;
    }
  }
  return { ok: false, error };
}
