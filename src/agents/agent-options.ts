// Validates agent() options when the config loads, so a typo fails `agentd start` with the agent's
// name and the option's path instead of failing runs later.
import { z } from 'zod';
import { ValidationError } from '../core/errors.js';
import { formatIssues } from '../core/issues.js';
import { compilePattern } from '../core/type-pattern.js';
import type { Logger } from '../observe/log.js';
import type { AgentDefinition, AgentOptions } from './agent-definition.js';
import type { ModelProvider } from './conversation.js';
import { resolveProvider } from './provider-options.js';
import { MCP_SERVER_NAME } from './tools/mcp-tools.js';
import { TOOL_NAME } from './tools/tool.js';

const fn = (what: string) =>
  z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', {
    error: `expected ${what}`,
  });
const positiveInt = z.int().positive();
const headers = z.record(z.string(), z.string());
const retries = {
  maxRetries: z.int().min(0).max(20).optional(),
  maxRetryWaitMs: z.int().min(0).optional(),
  requestTimeoutMs: positiveInt.optional(),
};
const url = z.url({ error: 'expected an absolute http(s) URL' });
const providerNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9_.:[\]-]{1,100}$/,
    'expected letters, digits and _ . : - (a name or host:port)',
  );

const providerSchema = z.union([
  z.enum(['anthropic', 'openai']),
  z.discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('anthropic'),
      name: providerNameSchema.optional(),
      apiKey: z.string().min(1).optional(),
      apiKeyEnv: z.string().min(1).optional(),
      baseURL: url.optional(),
      ...retries,
    }),
    z.strictObject({
      kind: z.literal('openai'),
      name: providerNameSchema.optional(),
      apiKey: z.string().min(1).optional(),
      apiKeyEnv: z.string().min(1).optional(),
      baseURL: url.optional(),
      stream: z.boolean().optional(),
      maxTokensField: z.enum(['max_tokens', 'max_completion_tokens']).optional(),
      headers: headers.optional(),
      ...retries,
    }),
    z.strictObject({
      kind: z.literal('command'),
      command: z.string().min(1),
      args: z.array(z.string()).optional(),
      output: z.enum(['json', 'text']).optional(),
      env: headers.optional(),
      maxOutputBytes: positiveInt.optional(),
      killGraceMs: z.int().min(0).optional(),
    }),
  ]),
]);

const patternSchema = z.string().superRefine((value, ctx) => {
  try {
    compilePattern(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});

const mcpBase = {
  name: z.string().regex(MCP_SERVER_NAME, 'expected 1-30 letters, digits, "_" or "-"'),
  tools: z.array(z.string()).optional(),
  timeoutMs: positiveInt.optional(),
};

const toolsSchema = z.strictObject({
  files: z
    .union([
      z.boolean(),
      z.strictObject({
        read: z.boolean().optional(),
        write: z.boolean().optional(),
        maxReadBytes: positiveInt.optional(),
        maxWriteBytes: positiveInt.optional(),
      }),
    ])
    .optional(),
  shell: z
    .strictObject({
      allow: z
        .array(z.string().regex(/^[A-Za-z0-9._+-]+$/, 'expected a program name, not a path'))
        .min(1),
      timeoutMs: positiveInt.optional(),
      maxOutputBytes: positiveInt.optional(),
      env: headers.optional(),
    })
    .optional(),
  fetch: z
    .strictObject({
      allowHosts: z.array(z.string().min(1)).min(1),
      methods: z.array(z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'])).optional(),
      headers: z.record(z.string(), headers).optional(),
      maxBytes: positiveInt.optional(),
      timeoutMs: positiveInt.optional(),
    })
    .optional(),
  emit: z.strictObject({ types: z.array(patternSchema).min(1) }).optional(),
  mcp: z
    .array(
      z.discriminatedUnion('kind', [
        z.strictObject({
          ...mcpBase,
          kind: z.literal('stdio'),
          command: z.string().min(1),
          args: z.array(z.string()).optional(),
          env: headers.optional(),
          cwd: z.string().optional(),
        }),
        z.strictObject({ ...mcpBase, kind: z.literal('http'), url, headers: headers.optional() }),
      ]),
    )
    .optional(),
  agents: z
    .record(
      z.string().regex(TOOL_NAME, 'expected a tool name: letters, digits, "_" or "-"'),
      fn('an agent({...}) handler').refine((h) => 'definition' in h, {
        error: 'expected an agent({...}) handler',
      }),
    )
    .optional(),
  custom: z
    .array(
      z.custom<object>(
        (v) => typeof v === 'object' && v !== null && 'run' in v && 'inputSchema' in v,
        { error: 'expected a tool made with defineTool({...})' },
      ),
    )
    .optional(),
});

const optionsSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'expected letters, digits and _ . : -')
      .optional(),
    description: z.string().optional(),
    provider: providerSchema,
    model: z.string().min(1).optional(),
    system: z.string().optional(),
    prompt: z.union([z.string(), fn('a string or a function (event) => string')]).optional(),
    input: z.union([z.literal(false), fn('false or a function (event) => data')]).optional(),
    tools: toolsSchema.optional(),
    workspace: z
      .union([z.string().min(1), fn('a directory or a function (event) => directory')])
      .optional(),
    maxTurns: positiveInt.max(1_000).optional(),
    maxTokens: positiveInt.optional(),
    maxOutputTokens: positiveInt.optional(),
    temperature: z.number().min(0).max(2).optional(),
    timeoutMs: positiveInt.optional(),
    price: z
      .strictObject({
        inputPerMTok: z.number().min(0),
        outputPerMTok: z.number().min(0),
        cacheReadPerMTok: z.number().min(0).optional(),
        cacheWritePerMTok: z.number().min(0).optional(),
      })
      .optional(),
    output: z.enum(['text', 'json']).optional(),
    trustExternal: z
      .strictObject({
        shell: z.boolean().optional(),
        mcp: z.boolean().optional(),
        custom: z.boolean().optional(),
        command: z.boolean().optional(),
      })
      .optional(),
  })
  .superRefine((options, ctx) => {
    const command = typeof options.provider === 'object' && options.provider.kind === 'command';
    const issue = (path: string, message: string) =>
      ctx.addIssue({ code: 'custom', path: [path], message });
    if (!command && options.model === undefined) {
      issue('model', 'expected a model name for this provider');
    }
    if (command && options.tools !== undefined) {
      issue('tools', 'command agents bring their own tools; remove tools or use an API provider');
    }
    if (command && options.workspace === undefined) {
      issue('workspace', 'a command agent runs in a workspace directory: set one');
    }
    const needsWorkspace =
      (options.tools?.files !== undefined && options.tools.files !== false) ||
      options.tools?.shell !== undefined;
    if (needsWorkspace && options.workspace === undefined) {
      issue('workspace', 'file tools and run_command work in a workspace directory: set one');
    }
  });

/** Validates options and wraps them in a definition whose provider client is made on first use. */
export function defineAgent<TData>(options: AgentOptions<TData>): AgentDefinition {
  const parsed = optionsSchema.safeParse(options);
  const name = options.name ?? 'agent';
  if (!parsed.success) {
    const issues = formatIssues(parsed.error.issues);
    throw new ValidationError(`agent ${name}: ${issues.join('; ')}`, issues);
  }
  const provider = resolveProvider(options.provider);
  let client: Promise<ModelProvider> | undefined;
  // The vendor SDKs load on the first model call, so CLI commands that only read the config
  // (and agents of the other vendor) never load them.
  const create = async (log: Logger): Promise<ModelProvider> => {
    if (provider.kind === 'anthropic') {
      return (await import('./anthropic-provider.js')).createAnthropicProvider(provider, log);
    }
    if (provider.kind === 'openai') {
      return (await import('./openai-provider.js')).createOpenAIProvider(provider, log);
    }
    throw new Error(`agent ${name} is a command agent: it has no model provider`);
  };
  return {
    name,
    options: options,
    provider,
    modelProvider(log: Logger): Promise<ModelProvider> {
      // A failed creation (no API key yet) is not cached: the next run tries again.
      client ??= create(log).catch((error: unknown) => {
        client = undefined;
        throw error;
      });
      return client;
    },
  };
}
