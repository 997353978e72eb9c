// The tool contract: a name, a JSON-Schema input, a capability the trust policy reads, and a run
// function. defineTool() builds one from a zod schema, for built-in and user tools alike.
import { z } from 'zod';
import type { AgentdEvent, EventInput } from '../../core/envelope.js';
import { formatIssues } from '../../core/issues.js';
import type { Logger } from '../../observe/log.js';
import type { AgentUsage } from '../usage.js';

/**
 * What a tool can reach. The trust policy withholds `shell`, `mcp` and `custom` tools not marked
 * `external` from runs triggered by external events unless the config widens it.
 */
export type ToolCapability =
  'read' | 'write' | 'shell' | 'network' | 'emit' | 'agent' | 'mcp' | 'custom';

export interface ToolContext {
  readonly event: AgentdEvent;
  /** The run's workspace (real path), when the agent has one. */
  readonly workspace: string | undefined;
  readonly signal: AbortSignal;
  readonly log: Logger;
  /**
   * Queues an event to publish with the run's success and returns its id. Ids are fixed when the
   * tool runs, so a resumed run publishes the same events, never a second set.
   */
  emit(input: EventInput): string;
}

export interface ToolOutput {
  content: string;
  isError?: boolean;
  /** What a sub-agent spent, so the parent's step records it. */
  usage?: AgentUsage;
}

export interface AgentTool {
  readonly name: string;
  readonly description: string;
  readonly inputSchema: Record<string, unknown>;
  readonly capability: ToolCapability;
  /** Safe with runs triggered by external events (user tools say so with `external: true`). */
  readonly external?: boolean;
  /** Errors fail the run instead of going back to the model (sub-agents: a provider outage). */
  readonly failRunOnError?: boolean;
  run(input: unknown, ctx: ToolContext): Promise<ToolOutput>;
}

export interface ToolDefinition<TInput> {
  /** What the model calls it: letters, digits, `_` and `-`, at most 64. */
  name: string;
  description: string;
  /** A zod object schema: the model sees it as JSON Schema, and its input is validated by it. */
  input: z.ZodType<TInput>;
  /** A string goes to the model as is; anything else as JSON. Throwing reports an error to it. */
  run(input: TInput, ctx: ToolContext): unknown;
  /**
   * Offer this tool to runs triggered by external events too. Say so only for tools that cannot
   * reach beyond what those runs may touch (read-only, or bound to the event itself).
   */
  external?: boolean;
}

/** A result with more than text: an error reported without throwing (exit 1), or a usage report. */
export class ToolReply {
  constructor(
    readonly content: string,
    readonly isError: boolean,
    readonly usage?: AgentUsage,
  ) {}

  toOutput(): ToolOutput {
    return {
      content: this.content,
      ...(this.isError ? { isError: true } : {}),
      ...(this.usage === undefined ? {} : { usage: this.usage }),
    };
  }
}

export const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** A user tool for `tools.custom`; built-in tools are made the same way. */
export function defineTool<TInput>(definition: ToolDefinition<TInput>): AgentTool {
  return toolFromZod(definition, 'custom', definition.external ?? false);
}

export function toolFromZod<TInput>(
  definition: ToolDefinition<TInput>,
  capability: ToolCapability,
  external: boolean,
): AgentTool {
  if (!TOOL_NAME.test(definition.name)) {
    throw new Error(
      `tool name "${definition.name}": expected 1-64 letters, digits, "_" or "-" (what model APIs accept)`,
    );
  }
  const schema = z.toJSONSchema(definition.input, { io: 'input', unrepresentable: 'any' });
  delete (schema as { $schema?: unknown }).$schema;
  return {
    name: definition.name,
    description: definition.description,
    inputSchema: schema,
    capability,
    external,
    async run(input, ctx) {
      const parsed = definition.input.safeParse(input);
      if (!parsed.success) {
        return {
          content: `invalid input: ${formatIssues(parsed.error.issues).join('; ')}`,
          isError: true,
        };
      }
      const value: unknown = await definition.run(parsed.data, ctx);
      if (value instanceof ToolReply) return value.toOutput();
      return { content: typeof value === 'string' ? value : (JSON.stringify(value) ?? 'null') };
    },
  };
}

/** Cuts text to a byte budget on a character boundary, saying how much was left out. */
export function capText(text: string, maxBytes: number): { text: string; truncated: boolean } {
  const bytes = Buffer.byteLength(text);
  if (bytes <= maxBytes) return { text, truncated: false };
  const cut = new TextDecoder()
    .decode(Buffer.from(text).subarray(0, maxBytes))
    .replace(/\uFFFD$/, '');
  return { text: `${cut}\n[truncated: ${bytes - maxBytes} more bytes]`, truncated: true };
}
