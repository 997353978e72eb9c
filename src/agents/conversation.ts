// The provider-neutral conversation: what the agent loop stores in its steps and what each provider
// translates to and from its own wire format. Plain JSON, so a stored turn rebuilds the conversation.
import type { Logger } from '../observe/log.js';
import type { TokenUsage } from './usage.js';

export interface TextBlock {
  type: 'text';
  text: string;
}

export interface ToolUseBlock {
  type: 'tool_use';
  /** The provider's id for this call; the matching tool_result carries it back. */
  id: string;
  name: string;
  /** Whatever the model sent: usually an object, a string when it sent unparseable JSON. */
  input: unknown;
}

export interface ToolResultBlock {
  type: 'tool_result';
  toolUseId: string;
  content: string;
  isError: boolean;
}

export type AssistantBlock = TextBlock | ToolUseBlock;
export type UserBlock = TextBlock | ToolResultBlock;

export type Message =
  { role: 'user'; content: UserBlock[] } | { role: 'assistant'; content: AssistantBlock[] };

export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the input object. */
  inputSchema: Record<string, unknown>;
}

export const STOP_REASONS = ['end', 'tool_use', 'max_tokens', 'refusal'] as const;
export type StopReason = (typeof STOP_REASONS)[number];

export interface ModelRequest {
  model: string;
  system: string | undefined;
  messages: readonly Message[];
  tools: readonly ToolSpec[];
  /** Cap on this one response's output tokens. */
  maxOutputTokens: number;
  temperature: number | undefined;
}

/** One model turn as stored in the `turn-N` step. */
export interface ModelResponse {
  content: AssistantBlock[];
  stopReason: StopReason;
  usage: TokenUsage;
  /** The model that answered, as the provider names it. */
  model: string;
}

export interface CallOptions {
  signal: AbortSignal;
  /** The run's logger: retries are logged with its event, route and run ids. */
  log?: Logger;
}

/** A model API behind one SDK. Implementations retry rate limits and 5xx themselves. */
export interface ModelProvider {
  readonly kind: 'anthropic' | 'openai';
  complete(request: ModelRequest, options: CallOptions): Promise<ModelResponse>;
}

export function textOf(blocks: readonly AssistantBlock[]): string {
  return blocks
    .filter((b): b is TextBlock => b.type === 'text')
    .map((b) => b.text)
    .join('\n')
    .trim();
}

export function toolUsesOf(blocks: readonly AssistantBlock[]): ToolUseBlock[] {
  return blocks.filter((b): b is ToolUseBlock => b.type === 'tool_use');
}
