// Assembles a run's tools from the agent's options and the trust policy: what is offered to the
// model, what is withheld (and why, so a call to it is refused with a reason), and the MCP
// connections to close when the run ends.
import type { Logger } from '../../observe/log.js';
import type { AgentDefinition } from '../agent-definition.js';
import { withheldReason } from '../trust-policy.js';
import { emitTool } from './emit-tool.js';
import { fetchTool } from './fetch-tool.js';
import { connectMcpServers } from './mcp-tools.js';
import { shellTool } from './shell-tool.js';
import { subAgentTool, type SubAgentRunner } from './sub-agent-tool.js';
import type { AgentTool } from './tool.js';
import { fileTools } from './workspace-files.js';

export interface Toolset {
  /** Offered to the model, by name. */
  readonly offered: ReadonlyMap<string, AgentTool>;
  /** Configured but withheld from this run, by name, with the reason. */
  readonly withheld: ReadonlyMap<string, string>;
  close(): Promise<void>;
}

/** Tools known without connecting anywhere: everything but MCP. Also checks names are unique. */
export function staticTools(definition: AgentDefinition, runner: SubAgentRunner): AgentTool[] {
  const options = definition.options.tools ?? {};
  const tools: AgentTool[] = [];
  if (options.files !== undefined && options.files !== false) {
    tools.push(...fileTools(options.files === true ? {} : options.files));
  }
  if (options.shell !== undefined) tools.push(shellTool(options.shell));
  if (options.fetch !== undefined) tools.push(fetchTool(options.fetch));
  if (options.emit !== undefined) tools.push(emitTool(options.emit));
  for (const [key, sub] of Object.entries(options.agents ?? {})) {
    tools.push(subAgentTool(key, sub.definition, runner));
  }
  tools.push(...(options.custom ?? []));
  assertUniqueNames(tools, definition.name);
  return tools;
}

export async function openToolset(
  definition: AgentDefinition,
  options: { external: boolean; log: Logger; runner: SubAgentRunner },
): Promise<Toolset> {
  const tools = staticTools(definition, options.runner);
  const widen = definition.options.trustExternal;
  const servers = definition.options.tools?.mcp ?? [];
  const mcpAllowed = !options.external || widen?.mcp === true;
  const mcp =
    servers.length > 0 && mcpAllowed ? await connectMcpServers(servers, options.log) : undefined;
  const offered = new Map<string, AgentTool>();
  const withheld = new Map<string, string>();
  for (const tool of [...tools, ...(mcp?.tools ?? [])]) {
    const reason = withheldReason(tool, options.external, widen);
    if (reason === undefined) offered.set(tool.name, tool);
    else withheld.set(tool.name, reason);
  }
  if (!mcpAllowed) {
    for (const server of servers) {
      withheld.set(
        `${server.name}__*`,
        `MCP server ${server.name} is withheld from runs triggered by external events (trustExternal.mcp widens this)`,
      );
    }
  }
  try {
    assertUniqueNames([...offered.values()], definition.name);
  } catch (error) {
    await mcp?.close();
    throw error;
  }
  return { offered, withheld, close: async () => mcp?.close() };
}

function assertUniqueNames(tools: readonly AgentTool[], agent: string): void {
  const seen = new Set<string>();
  for (const tool of tools) {
    if (seen.has(tool.name)) {
      throw new Error(`agent ${agent}: two tools are named "${tool.name}"; rename one`);
    }
    seen.add(tool.name);
  }
}
