// Command agents: a CLI that runs its own agent loop (`claude -p --output-format json`, `codex exec`)
// started as a child process in the workspace with the event rendered into its prompt. Its result
// is the step `command`, so a crash after it finished does not run (and pay for) it again.
import type { AgentdEvent } from '../core/envelope.js';
import type { HandlerContext } from '../core/route.js';
import type { Logger } from '../observe/log.js';
import type { AgentDefinition, AgentResult } from './agent-definition.js';
import { AgentPermissionError, CommandAgentError } from './agent-errors.js';
import { runProcess } from './child-process.js';
import { renderPrompt } from './prompt.js';
import type { CommandProviderOptions } from './provider-options.js';
import { totalTokens, UsageMeter, type TokenUsage } from './usage.js';

export interface CommandRun {
  definition: AgentDefinition;
  event: AgentdEvent;
  ctx: HandlerContext;
  signal: AbortSignal;
  log: Logger;
  task?: string;
  workspace: string | undefined;
}

/** What the `command` step stores. */
interface CommandRecord {
  exitCode: number;
  text: string;
  output?: unknown;
  tokens?: TokenUsage;
  costUsd?: number;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

export async function runCommandAgent(run: CommandRun): Promise<AgentResult> {
  const { definition, event, ctx, log } = run;
  const provider = definition.provider as CommandProviderOptions;
  if (event.trust === 'external' && definition.options.trustExternal?.command !== true) {
    throw new AgentPermissionError(
      `agent ${definition.name}: command agents run with tools of their own, so they do not run for external events unless trustExternal.command is set`,
    );
  }
  const workspace = run.workspace;
  if (workspace === undefined) {
    throw new AgentPermissionError(`agent ${definition.name}: a command agent needs a workspace`);
  }
  const prompt = await ctx.step('prompt', () =>
    renderPrompt(definition.options, event, run.task === undefined ? {} : { task: run.task }),
  );
  const text = [prompt.system, prompt.user].filter((s) => s !== undefined).join('\n\n');
  const record = await ctx.step('command', async (): Promise<CommandRecord> => {
    const ran = await runCommand(provider, definition, text, workspace, run.signal, log);
    ctx.spend?.({
      tokens: ran.tokens === undefined ? 0 : totalTokens(ran.tokens),
      costUsd: ran.costUsd,
    });
    return ran;
  });
  const meter = new UsageMeter('command', provider.command);
  meter.addUsage({
    provider: 'command',
    model: provider.command,
    turns: 1,
    toolCalls: 0,
    inputTokens: record.tokens?.inputTokens ?? 0,
    outputTokens: record.tokens?.outputTokens ?? 0,
    cacheReadTokens: record.tokens?.cacheReadTokens ?? 0,
    cacheWriteTokens: record.tokens?.cacheWriteTokens ?? 0,
    totalTokens: 0,
    ...(record.costUsd === undefined ? {} : { costUsd: record.costUsd }),
  });
  return {
    agent: definition.name,
    text: record.text,
    ...(record.output === undefined ? {} : { output: record.output }),
    stopReason: 'end',
    usage: meter.snapshot(),
    refusals: [],
  };
}

async function runCommand(
  provider: CommandProviderOptions,
  definition: AgentDefinition,
  prompt: string,
  workspace: string,
  signal: AbortSignal,
  log: Logger,
): Promise<CommandRecord> {
  const args = provider.args ?? [];
  const inArgs = args.some((arg) => arg.includes('{prompt}'));
  const maxBytes = provider.maxOutputBytes ?? 1024 * 1024;
  const started = performance.now();
  const result = await runProcess(
    provider.command,
    args.map((arg) => arg.replaceAll('{prompt}', prompt)),
    {
      cwd: workspace,
      env: provider.env,
      input: inArgs ? undefined : prompt,
      // With the agent's own timeoutMs, its abort signal stops the CLI; this is the default.
      timeoutMs: definition.options.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : undefined,
      killGraceMs: provider.killGraceMs ?? 5_000,
      maxOutputBytes: maxBytes,
      signal,
    },
  );
  if (signal.aborted) throw signal.reason;
  const name = `command agent ${definition.name} (${provider.command})`;
  const tail = result.stderr.trim() === '' ? '' : `: ${result.stderr.trim().slice(-500)}`;
  if (result.timedOut) {
    throw new CommandAgentError(`${name} killed after ${DEFAULT_TIMEOUT_MS} ms (timeout)`, {
      failure: 'timeout',
      retryable: true,
    });
  }
  if (result.overflowed) {
    // Retrying would most likely flood again and costs a whole agent run each time.
    throw new CommandAgentError(
      `${name} stopped: its output passed maxOutputBytes (${maxBytes} bytes)`,
      { failure: 'output-limit', retryable: false },
    );
  }
  if (result.spawnError !== undefined) {
    throw new CommandAgentError(`${name} could not be started: ${result.spawnError}`, {
      failure: 'spawn',
      retryable: false,
    });
  }
  if (result.exitCode === undefined) {
    throw new CommandAgentError(`${name} was killed by ${result.killedBy ?? 'a signal'}${tail}`, {
      failure: 'exit',
      retryable: true,
    });
  }
  if (result.exitCode !== 0) {
    throw new CommandAgentError(`${name} exited with code ${result.exitCode}${tail}`, {
      failure: 'exit',
      retryable: true,
      exitCode: result.exitCode,
    });
  }
  const stdout = result.stdout;
  log.debug(
    { agent: definition.name, durationMs: Math.round(performance.now() - started) },
    'command agent finished',
  );
  if (provider.output !== 'json') return { exitCode: 0, text: stdout.trim() };
  const json = parseJsonOutput(stdout);
  if (json === undefined) {
    throw new CommandAgentError(`${name} printed no JSON document on stdout`, {
      failure: 'bad-output',
      retryable: true,
    });
  }
  return fromJsonOutput(json, name);
}

/** The whole of stdout, else its last non-empty line (CLIs may log before the result). */
function parseJsonOutput(stdout: string): unknown {
  const lines = stdout.trim().split('\n');
  for (const candidate of [stdout, lines[lines.length - 1] ?? '']) {
    try {
      return JSON.parse(candidate) as unknown;
    } catch {
      // Try the next form.
    }
  }
  return undefined;
}

/**
 * Reads the fields `claude -p --output-format json` prints (`result`, `is_error`, `usage`,
 * `total_cost_usd`); other CLIs' JSON is kept whole as `output`.
 */
function fromJsonOutput(json: unknown, name: string): CommandRecord {
  const doc = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  if (doc.is_error === true) {
    throw new CommandAgentError(
      `${name} reported an error: ${typeof doc.result === 'string' ? doc.result : JSON.stringify(doc.result)}`,
      {
        failure: 'exit',
        retryable: true,
        exitCode: 0,
      },
    );
  }
  const usage = (doc.usage ?? {}) as Record<string, unknown>;
  const count = (key: string) => (typeof usage[key] === 'number' ? usage[key] : 0);
  const tokens: TokenUsage = {
    inputTokens: count('input_tokens'),
    outputTokens: count('output_tokens'),
    cacheReadTokens: count('cache_read_input_tokens'),
    cacheWriteTokens: count('cache_creation_input_tokens'),
  };
  const cost = doc.total_cost_usd ?? doc.cost_usd;
  return {
    exitCode: 0,
    text: typeof doc.result === 'string' ? doc.result : JSON.stringify(json),
    output: json,
    tokens,
    ...(typeof cost === 'number' ? { costUsd: cost } : {}),
  };
}
