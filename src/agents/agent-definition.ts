// What agent() takes and what it gives back: the options a config writes, the result a run returns,
// and the marker that lets the daemon recognise an agent among route handlers.
import type { AgentdEvent } from '../core/envelope.js';
import type { HandlerContext } from '../core/route.js';
import type { Logger } from '../observe/log.js';
import type { ModelProvider } from './conversation.js';
import type { ProviderOptions, ResolvedProviderOptions } from './provider-options.js';
import type { EmitToolOptions } from './tools/emit-tool.js';
import type { FetchToolOptions } from './tools/fetch-tool.js';
import type { McpServerOptions } from './tools/mcp-tools.js';
import type { ShellToolOptions } from './tools/shell-tool.js';
import type { AgentTool } from './tools/tool.js';
import type { FileToolOptions } from './tools/workspace-files.js';
import type { AgentUsage, Price } from './usage.js';

export interface AgentToolOptions {
  /** read_file / list_files (and write_file with `write: true`), inside the workspace only. */
  files?: boolean | FileToolOptions;
  /** run_command: programs from an allowlist. Withheld from external events by default. */
  shell?: ShellToolOptions;
  /** fetch_url: HTTP to an allowlist of hosts. */
  fetch?: FetchToolOptions;
  /** emit_event: publish events of the listed types. */
  emit?: EmitToolOptions;
  /** Tools of MCP servers. Withheld from external events by default. */
  mcp?: McpServerOptions[];
  /** Other agents, each offered as a tool named by its key that takes `{ task }`. */
  agents?: Record<string, AgentHandler<any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Your own tools, made with defineTool(). */
  custom?: AgentTool[];
}

/** Widens what runs triggered by `trust: external` events may use. Each is logged at start. */
export interface TrustExternalOptions {
  /** Offer run_command to them. */
  shell?: boolean;
  /** Offer MCP tools to them. */
  mcp?: boolean;
  /** Offer custom tools not marked `external: true` to them. */
  custom?: boolean;
  /** Let a command agent (a CLI with tools of its own) run for them. */
  command?: boolean;
}

export interface AgentOptions<TData = unknown> {
  /** For logs, steps of sub-agents and the result. Default `agent`. */
  name?: string;
  /** What this agent does, shown to a parent agent that has it as a tool. */
  description?: string;
  provider: ProviderOptions;
  /** Required for API providers, e.g. `claude-sonnet-4-5` or `qwen2.5:7b`. */
  model?: string;
  system?: string;
  /** Instructions (trusted). Event content belongs in `input`, which is shown as data. */
  prompt?: string | ((event: AgentdEvent<TData>) => string | Promise<string>);
  /** The part of the event the model sees, as a data block. Default `event.data`; `false`: none. */
  input?: false | ((event: AgentdEvent<TData>) => unknown);
  tools?: AgentToolOptions;
  /** The directory file tools, run_command and command agents work in; created if missing. */
  workspace?: string | ((event: AgentdEvent<TData>) => string);
  /** Model calls per run. Default 20. */
  maxTurns?: number;
  /** Tokens per run (input + output, all turns, sub-agents included). Default 500,000. */
  maxTokens?: number;
  /** Output tokens per model call. Default 4,096. */
  maxOutputTokens?: number;
  temperature?: number;
  /** Per attempt; the next attempt resumes after the last finished turn. Default none. */
  timeoutMs?: number;
  /** For cost accounting: US dollars per million tokens. */
  price?: Price;
  /** `json`: the final answer must parse as JSON (the model is asked again if it does not). */
  output?: 'text' | 'json';
  trustExternal?: TrustExternalOptions;
}

export interface ToolRefusal {
  tool: string;
  reason: string;
}

/** What an agent handler returns; `usage` travels in `agentd.run.completed`. */
export interface AgentResult {
  agent: string;
  /** The final answer (for command agents: the CLI's result text). */
  text: string;
  /** The parsed answer with `output: 'json'`, or a command agent's JSON output. */
  output?: unknown;
  stopReason: 'end' | 'max_tokens' | 'refusal';
  usage: AgentUsage;
  /** Tool calls the permissions refused. */
  refusals: ToolRefusal[];
}

/** An agent after validation: its options plus the provider client, made on first use. */
export interface AgentDefinition {
  readonly name: string;
  readonly options: AgentOptions<never>;
  readonly provider: ResolvedProviderOptions;
  modelProvider(log: Logger): Promise<ModelProvider>;
}

/**
 * Marks agent handlers. A registered symbol, because the config may load another copy of agentd's
 * modules than the daemon runs (see retrySteering), so only this shape is shared.
 */
export const AGENT = Symbol.for('agentd.agent');

export interface AgentMark {
  readonly name: string;
  /** Trust widenings and missing API keys, for the daemon to log at start. */
  startupWarnings(): string[];
}

/** A route handler (it fits `Handler<TData>`) that resolves to the run's AgentResult. */
export type AgentHandler<TData = unknown> = ((
  event: AgentdEvent<TData>,
  ctx: HandlerContext,
) => Promise<AgentResult>) & {
  readonly [AGENT]: AgentMark;
  /** The validated definition; used when this agent is another agent's tool. */
  readonly definition: AgentDefinition;
};

export function agentMarkOf(handler: unknown): AgentMark | undefined {
  if (typeof handler !== 'function') return undefined;
  const mark = (handler as unknown as Record<symbol, unknown>)[AGENT];
  return typeof mark === 'object' && mark !== null ? (mark as AgentMark) : undefined;
}
