// The trust policy: which tools a run may use given its event's trust, and which configured
// widenings deserve a warning when agentd starts.
import type { AgentDefinition, TrustExternalOptions } from './agent-definition.js';
import { missingApiKey } from './api-key.js';
import type { AgentTool } from './tools/tool.js';

/**
 * Why a tool is withheld from this run, or undefined when it is offered. File tools stay (they
 * cannot leave the workspace) and fetch stays (it cannot leave its allowlist); a shell, MCP servers
 * and unvetted custom tools can reach anything, so external events do not get them by default.
 */
export function withheldReason(
  tool: AgentTool,
  external: boolean,
  widen: TrustExternalOptions = {},
): string | undefined {
  if (!external) return undefined;
  const why = (option: string) =>
    `${tool.name} is withheld from runs triggered by external events (trustExternal.${option} widens this)`;
  switch (tool.capability) {
    case 'shell':
      return widen.shell === true ? undefined : why('shell');
    case 'mcp':
      return widen.mcp === true ? undefined : why('mcp');
    case 'custom':
      return tool.external === true || widen.custom === true ? undefined : why('custom');
    default:
      return undefined;
  }
}

/** The widenings and missing keys of an agent and its sub-agents, one line each. */
export function agentWarnings(definition: AgentDefinition, seen = new Set<string>()): string[] {
  if (seen.has(definition.name)) return [];
  seen.add(definition.name);
  const { options, provider, name } = definition;
  const widen = options.trustExternal ?? {};
  const tools = options.tools ?? {};
  const lines: string[] = [];
  const prefix = `agent ${name}: trustExternal`;
  if (widen.shell === true && tools.shell !== undefined) {
    lines.push(
      `${prefix}.shell offers run_command (${tools.shell.allow.join(', ')}) to runs triggered by external events`,
    );
  }
  if (widen.mcp === true && (tools.mcp?.length ?? 0) > 0) {
    lines.push(
      `${prefix}.mcp offers the tools of MCP servers ${tools.mcp?.map((s) => s.name).join(', ')} to runs triggered by external events`,
    );
  }
  const unvetted = (tools.custom ?? []).filter((t) => t.external !== true).map((t) => t.name);
  if (widen.custom === true && unvetted.length > 0) {
    lines.push(
      `${prefix}.custom offers ${unvetted.join(', ')} to runs triggered by external events`,
    );
  }
  if (widen.command === true && provider.kind === 'command') {
    lines.push(
      `${prefix}.command lets ${provider.command} (a CLI agent with tools of its own) run for external events`,
    );
  }
  if (provider.kind !== 'command') {
    const env = missingApiKey(
      provider,
      provider.kind === 'anthropic' ? 'ANTHROPIC_API_KEY' : 'OPENAI_API_KEY',
      provider.kind === 'openai',
    );
    if (env !== undefined) lines.push(`agent ${name}: no API key: ${env} is not set`);
  }
  for (const sub of Object.values(tools.agents ?? {})) {
    lines.push(...agentWarnings(sub.definition, seen));
  }
  return lines;
}
