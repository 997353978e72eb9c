// MCP servers as tools, via @modelcontextprotocol/sdk: stdio (a child process) or streamable HTTP.
// A run connects, lists the server's tools, and closes when it ends, so no connection outlives it.
// The SDK is loaded on first use: configs without MCP servers never pay for it.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Logger } from '../../observe/log.js';
import type { AgentTool, ToolOutput } from './tool.js';

interface McpServerBase {
  /** Prefixes its tools' names: `<name>__<tool>`. */
  name: string;
  /** Only these of the server's tools (by the server's names). Default all. */
  tools?: string[];
  /** Per tool call. Default 60 s. */
  timeoutMs?: number;
}

export interface McpStdioServer extends McpServerBase {
  kind: 'stdio';
  command: string;
  args?: string[];
  /** Added to the SDK's minimal environment (PATH, HOME, ...); nothing else is inherited. */
  env?: Record<string, string>;
  cwd?: string;
}

export interface McpHttpServer extends McpServerBase {
  kind: 'http';
  url: string;
  headers?: Record<string, string>;
}

export type McpServerOptions = McpStdioServer | McpHttpServer;

export interface McpConnection {
  tools: AgentTool[];
  close(): Promise<void>;
}

/** Server names: short, because they prefix every tool name and those are capped at 64. */
export const MCP_SERVER_NAME = /^[A-Za-z0-9_-]{1,30}$/;

export async function connectMcpServers(
  servers: readonly McpServerOptions[],
  log: Logger,
): Promise<McpConnection> {
  const [{ Client }, transports] = await Promise.all([
    import('@modelcontextprotocol/sdk/client/index.js'),
    loadTransports(),
  ]);
  const clients: Client[] = [];
  const close = async () => {
    await Promise.allSettled(clients.map((client) => client.close()));
  };
  try {
    const tools: AgentTool[] = [];
    for (const server of servers) {
      const client = new Client({ name: 'agentd', version: '0.1.0' });
      await client.connect(transportFor(server, log, transports));
      clients.push(client);
      tools.push(...(await listTools(server, client)));
    }
    return { tools, close };
  } catch (error) {
    await close();
    throw error;
  }
}

async function loadTransports() {
  const [stdio, http] = await Promise.all([
    import('@modelcontextprotocol/sdk/client/stdio.js'),
    import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
  ]);
  return { Stdio: stdio.StdioClientTransport, Http: http.StreamableHTTPClientTransport };
}

function transportFor(
  server: McpServerOptions,
  log: Logger,
  transports: Awaited<ReturnType<typeof loadTransports>>,
): Transport {
  if (server.kind === 'http') {
    return new transports.Http(new URL(server.url), {
      ...(server.headers === undefined ? {} : { requestInit: { headers: server.headers } }),
    });
  }
  const transport = new transports.Stdio({
    command: server.command,
    ...(server.args === undefined ? {} : { args: server.args }),
    ...(server.env === undefined ? {} : { env: server.env }),
    ...(server.cwd === undefined ? {} : { cwd: server.cwd }),
    stderr: 'pipe',
  });
  // Its diagnostics go to agentd's log instead of interleaving with its JSON lines.
  transport.stderr?.on('data', (chunk: Buffer) => {
    log.debug({ mcpServer: server.name }, chunk.toString('utf8').slice(0, 2_000).trimEnd());
  });
  return transport;
}

async function listTools(server: McpServerOptions, client: Client): Promise<AgentTool[]> {
  const wanted = server.tools === undefined ? undefined : new Set(server.tools);
  const found: AgentTool[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor === undefined ? {} : { cursor });
    for (const tool of page.tools) {
      if (wanted !== undefined && !wanted.has(tool.name)) continue;
      found.push(mcpTool(server, client, tool));
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return found;
}

function mcpTool(
  server: McpServerOptions,
  client: Client,
  tool: { name: string; description?: string | undefined; inputSchema: Record<string, unknown> },
): AgentTool {
  const name = `${server.name}__${tool.name}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  return {
    name,
    description: tool.description ?? `${tool.name} (MCP server ${server.name})`,
    inputSchema: tool.inputSchema,
    capability: 'mcp',
    async run(input, ctx): Promise<ToolOutput> {
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        return { content: 'invalid input: expected a JSON object', isError: true };
      }
      const result = await client.callTool(
        { name: tool.name, arguments: input as Record<string, unknown> },
        undefined,
        { signal: ctx.signal, timeout: server.timeoutMs ?? 60_000 },
      );
      const parts = Array.isArray(result.content) ? result.content : [];
      const text = parts
        .map((part: { type: string; text?: unknown }) =>
          part.type === 'text' && typeof part.text === 'string' ? part.text : `[${part.type}]`,
        )
        .join('\n');
      const structured =
        text === '' && result.structuredContent !== undefined
          ? JSON.stringify(result.structuredContent)
          : text;
      return { content: structured, isError: result.isError === true };
    },
  };
}
