// MCP servers as tools: stdio (a child process) and streamable HTTP, with the SDK's own server.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { agent } from '../../src/agents/agent.js';
import type { McpServerOptions } from '../../src/agents/tools/mcp-tools.js';
import {
  byTurn,
  FAKE_KEY,
  startFakeLlmServer,
  type FakeLlmServer,
} from '../fixtures/fake-llm-server.js';
import { MCP_STDIO_SERVER, startMcpHttpServer } from '../fixtures/mcp-tools-server.js';
import { externalEvent, memoryRun, operatorEvent } from './memory-context.js';

let llm: FakeLlmServer;
let http: { url: string; close(): Promise<void> };

beforeAll(async () => {
  llm = await startFakeLlmServer();
  http = await startMcpHttpServer();
  process.env.ANTHROPIC_API_KEY = 'sk-daemon-key-not-for-mcp';
});
afterAll(async () => {
  delete process.env.ANTHROPIC_API_KEY;
  await llm.close();
  await http.close();
});
beforeEach(() => {
  llm.requests.length = 0;
});

const SERVERS: { name: string; server: () => McpServerOptions }[] = [
  {
    name: 'stdio',
    server: () => ({
      kind: 'stdio',
      name: 'calc',
      command: MCP_STDIO_SERVER.command,
      args: MCP_STDIO_SERVER.args,
      env: { MCP_GIVEN: 'configured' },
    }),
  },
  { name: 'streamable HTTP', server: () => ({ kind: 'http', name: 'calc', url: http.url }) },
];

function make(server: McpServerOptions, trustExternal?: { mcp: boolean }) {
  return agent({
    name: 'mcp-user',
    provider: { kind: 'openai', baseURL: llm.openaiURL, apiKey: FAKE_KEY },
    model: 'test-model',
    prompt: 'Add 2 and 3.',
    tools: { mcp: [server] },
    ...(trustExternal === undefined ? {} : { trustExternal }),
  });
}

describe.each(SERVERS)('MCP over $name', ({ name, server }) => {
  it("offers the server's tools under its prefix and calls them", async () => {
    llm.script = byTurn([
      {
        tools: [
          { name: 'calc__add', input: { a: 2, b: 3 } },
          { name: 'calc__broken', input: {} },
          { name: 'calc__env', input: {} },
        ],
      },
      { text: 'The sum is 5.' },
    ]);
    const event = operatorEvent('demo.mcp', {});
    const run = memoryRun(event);
    const result = await make(server())(event, run.attempt().ctx);
    expect(result.text).toBe('The sum is 5.');
    const offered = (llm.requests[0]?.body.tools as { function: { name: string } }[]).map(
      (t) => t.function.name,
    );
    expect(offered).toEqual(['calc__add', 'calc__broken', 'calc__env']);
    expect(run.steps.get('tool-1-calc__add')).toEqual({ content: '5', isError: false });
    expect(run.steps.get('tool-1-calc__broken')).toEqual({
      content: 'the broken tool broke',
      isError: true,
    });
    if (name === 'stdio') {
      // A stdio server gets the configured variables, not the daemon's environment.
      expect(run.steps.get('tool-1-calc__env')).toMatchObject({
        content: '{"anthropicKey":false,"given":"configured"}',
      });
    }
  });

  it('is withheld from runs triggered by external events unless trustExternal.mcp is set', async () => {
    llm.script = byTurn([
      { tools: [{ name: 'calc__add', input: { a: 1, b: 1 } }] },
      { text: 'no' },
    ]);
    const event = externalEvent('github.issues.opened', { body: 'add numbers' });
    const result = await make(server())(event, memoryRun(event).attempt().ctx);
    expect(llm.requests[0]?.body.tools).toBeUndefined();
    expect(result.refusals).toEqual([
      { tool: 'calc__add', reason: expect.stringContaining('trustExternal.mcp') as string },
    ]);

    llm.requests.length = 0;
    llm.script = byTurn([{ tools: [{ name: 'calc__add', input: { a: 1, b: 1 } }] }, { text: '2' }]);
    const widened = await make(server(), { mcp: true })(event, memoryRun(event).attempt().ctx);
    expect(widened.refusals).toEqual([]);
    expect(widened.text).toBe('2');
  });
});
