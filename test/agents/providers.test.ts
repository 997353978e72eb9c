// The provider conformance suite: the real Anthropic and OpenAI SDKs, pointed at a fake server on
// loopback, run the same tool-using conversation and the same failure cases.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { agent } from '../../src/agents/agent.js';
import type { AgentHandler, AgentResult } from '../../src/agents/agent-definition.js';
import type { ProviderOptions } from '../../src/agents/provider-options.js';
import type { AgentdEvent } from '../../src/core/envelope.js';
import {
  byTurn,
  FAKE_KEY,
  startFakeLlmServer,
  type FakeLlmServer,
} from '../fixtures/fake-llm-server.js';
import { memoryRun, operatorEvent } from './memory-context.js';

interface Flavour {
  name: string;
  api: 'anthropic' | 'openai';
  stream: boolean;
  provider(server: FakeLlmServer): ProviderOptions;
}

const FLAVOURS: Flavour[] = [
  {
    name: 'anthropic (streaming)',
    api: 'anthropic',
    stream: true,
    provider: (s) => ({ kind: 'anthropic', baseURL: s.anthropicURL, apiKeyEnv: 'FAKE_LLM_KEY' }),
  },
  {
    name: 'openai-compatible',
    api: 'openai',
    stream: false,
    provider: (s) => ({ kind: 'openai', baseURL: s.openaiURL, apiKeyEnv: 'FAKE_LLM_KEY' }),
  },
  {
    name: 'openai-compatible (streaming)',
    api: 'openai',
    stream: true,
    provider: (s) => ({
      kind: 'openai',
      baseURL: s.openaiURL,
      apiKeyEnv: 'FAKE_LLM_KEY',
      stream: true,
    }),
  },
];

function runOnce(handler: AgentHandler, event: AgentdEvent): Promise<AgentResult> {
  return handler(event, memoryRun(event).attempt().ctx);
}

/** The text of every message in a request, whatever the wire format nests it in. */
function contents(body: Record<string, unknown>): string {
  return JSON.stringify(body.messages);
}

describe.each(FLAVOURS)('provider: $name', (flavour) => {
  let server: FakeLlmServer;
  let workspace: string;

  beforeAll(async () => {
    process.env.FAKE_LLM_KEY = FAKE_KEY;
    server = await startFakeLlmServer();
    workspace = mkdtempSync(join(tmpdir(), 'agentd-provider-'));
    writeFileSync(join(workspace, 'hello.txt'), 'hi from the workspace');
  });
  afterAll(async () => {
    await server.close();
    rmSync(workspace, { recursive: true, force: true });
  });
  beforeEach(() => {
    server.requests.length = 0;
  });

  const make = (extra: { maxRetries?: number; maxRetryWaitMs?: number } = {}) =>
    agent({
      name: 'conformance',
      provider: { ...(flavour.provider(server) as object), ...extra } as ProviderOptions,
      model: 'test-model',
      system: 'You are a test agent.',
      prompt: 'Read hello.txt and say what it says.',
      workspace,
      tools: { files: true },
      price: { inputPerMTok: 3, outputPerMTok: 15 },
    });

  it('runs a tool-using conversation to its answer, returning each result under its call id', async () => {
    server.script = byTurn([
      { tools: [{ name: 'read_file', input: { path: 'hello.txt' }, id: 'call_read_1' }] },
      { text: 'It says hi.', usage: { input: 300, output: 40 } },
    ]);
    const result = await runOnce(make(), operatorEvent('demo.read', { file: 'hello.txt' }));

    expect(result.text).toBe('It says hi.');
    expect(result.usage).toMatchObject({
      turns: 2,
      toolCalls: 1,
      inputTokens: 400,
      outputTokens: 60,
      totalTokens: 460,
      costUsd: (400 * 3 + 60 * 15) / 1e6,
    });
    expect(server.requests).toHaveLength(2);
    const [first, second] = server.requests;
    expect(first?.api).toBe(flavour.api);
    expect(first?.stream).toBe(flavour.stream);
    expect(first?.key).toBe(FAKE_KEY);
    expect(first?.body.model).toBe('test-model');
    expect(JSON.stringify(first?.body)).toContain('You are a test agent.');
    expect(JSON.stringify(first?.body.tools)).toContain('read_file');
    const followUp = contents(second?.body ?? {});
    expect(followUp).toContain('call_read_1');
    expect(followUp).toContain('hi from the workspace');
  });

  it('retries a 429 after the retry-after it names', async () => {
    let calls = 0;
    server.script = () =>
      ++calls === 1
        ? { status: 429, headers: { 'retry-after': '1' }, message: 'slow down' }
        : { text: 'fine' };
    const result = await runOnce(make(), operatorEvent('demo.retry', {}));
    expect(result.text).toBe('fine');
    expect(server.requests).toHaveLength(2);
    const gap = (server.requests[1]?.at ?? 0) - (server.requests[0]?.at ?? 0);
    expect(gap).toBeGreaterThanOrEqual(950);
  });

  it('retries 500s with backoff until one succeeds', async () => {
    let calls = 0;
    server.script = () => (++calls <= 2 ? { status: 500 } : { text: 'recovered' });
    const result = await runOnce(make(), operatorEvent('demo.retry', {}));
    expect(result.text).toBe('recovered');
    expect(server.requests).toHaveLength(3);
  });

  it('hands a retry-after longer than maxRetryWaitMs back to the bus as a retryable failure', async () => {
    server.script = () => ({ status: 429, headers: { 'retry-after': '120' } });
    const failure = await runOnce(
      make({ maxRetryWaitMs: 5_000 }),
      operatorEvent('demo.retry', {}),
    ).catch((error: unknown) => error);
    expect(failure).toMatchObject({
      name: 'ProviderError',
      code: 'PROVIDER_RATE_LIMITED',
      retryable: true,
      retryAfterMs: 120_000,
      status: 429,
    });
    expect(server.requests).toHaveLength(1);
  });

  it('gives up on persistent 5xx after maxRetries, still retryable by the bus', async () => {
    server.script = () => ({ status: 503 });
    const failure = await runOnce(make({ maxRetries: 1 }), operatorEvent('demo.retry', {})).catch(
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ name: 'ProviderError', retryable: true, status: 503 });
    expect(server.requests).toHaveLength(2);
  });

  it('does not retry a 400: the request itself is wrong', async () => {
    server.script = () => ({ status: 400, message: 'bad model' });
    const failure = await runOnce(make(), operatorEvent('demo.bad', {})).catch(
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ name: 'ProviderError', retryable: false, status: 400 });
    expect((failure as Error).message).toContain('bad model');
    expect(server.requests).toHaveLength(1);
  });

  it('never writes the API key to the log', async () => {
    let calls = 0;
    server.script = () =>
      ++calls === 1 ? { status: 429, headers: { 'retry-after-ms': '10' } } : { text: 'done' };
    const event = operatorEvent('demo.key', {});
    const run = memoryRun(event);
    await make()(event, run.attempt().ctx);
    // The retry and the finish were logged, and neither line holds the key.
    expect(run.logs.some((line) => line.includes('retrying'))).toBe(true);
    expect(run.logs.some((line) => line.includes('finished'))).toBe(true);
    expect(run.logs.join('\n')).not.toContain(FAKE_KEY);
  });
});
