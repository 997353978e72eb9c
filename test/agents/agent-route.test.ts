// Agents as route handlers on the real worker and SQLite bus: usage in agentd.run.completed,
// limits dead-lettered with their reason, a long retry-after rescheduled by the bus.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agent } from '../../src/agents/agent.js';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { validateConfig } from '../../src/core/config.js';
import { toEvent, type AgentdEvent } from '../../src/core/envelope.js';
import { on, type RouteDefinition } from '../../src/core/route.js';
import { createLogger } from '../../src/observe/log.js';
import { createWorker, type Worker } from '../../src/runtime/worker.js';
import { FAKE_KEY, startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';

const log = createLogger({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let llm: FakeLlmServer;
const open: { dir: string; bus: SqliteBus; worker: Worker }[] = [];

beforeAll(async () => {
  llm = await startFakeLlmServer();
});
afterAll(() => llm.close());
afterEach(async () => {
  for (const { dir, bus, worker } of open.splice(0)) {
    await worker.stop();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function harness(routes: RouteDefinition[]): Promise<SqliteBus> {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-agent-route-'));
  const bus = new SqliteBus({ path: join(dir, 'agentd.db'), source: 'agentd://test' });
  const config = validateConfig({ routes }, 'test');
  const worker = createWorker({ bus, routes: config.routes, log, source: 'agentd://test' });
  await worker.start();
  open.push({ dir, bus, worker });
  return bus;
}

async function waitFor<T>(
  read: () => T | undefined | Promise<T | undefined>,
  ms = 10_000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(20);
  }
}

const provider = () => ({ kind: 'openai' as const, baseURL: llm.openaiURL, apiKey: FAKE_KEY });

describe('agent routes on the worker', () => {
  it('reports the run’s tokens and cost in agentd.run.completed', async () => {
    llm.script = () => ({ text: 'hello', usage: { input: 1_000, output: 200 } });
    const completed: AgentdEvent[] = [];
    const bus = await harness([
      on('demo.greet', {
        name: 'greeter',
        handler: agent({
          name: 'greeter',
          provider: provider(),
          model: 'test-model',
          prompt: 'Greet.',
          price: { inputPerMTok: 2, outputPerMTok: 10 },
        }),
      }),
      on('agentd.run.completed', { name: 'watch', handler: (event) => void completed.push(event) }),
    ]);
    await bus.publish([toEvent({ type: 'demo.greet' }, { source: 'test', trust: 'operator' })]);
    const event = await waitFor(() =>
      completed.find((e) => (e.data as { route: string }).route === 'greeter'),
    );
    expect((event.data as { usage: unknown }).usage).toEqual({
      provider: 'openai',
      model: 'test-model',
      turns: 1,
      toolCalls: 0,
      inputTokens: 1_000,
      outputTokens: 200,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      totalTokens: 1_200,
      costUsd: 0.004,
    });
  });

  it('dead-letters a run that reaches maxTurns at once, with the reason', async () => {
    llm.script = () => ({ tools: [{ name: 'emit_event', input: { type: 'loop.again' } }] });
    const bus = await harness([
      on('demo.loop', {
        name: 'looper',
        retries: { maxAttempts: 5, initialMs: 10 },
        handler: agent({
          name: 'looper',
          provider: provider(),
          model: 'test-model',
          maxTurns: 2,
          tools: { emit: { types: ['loop.*'] } },
        }),
      }),
    ]);
    await bus.publish([toEvent({ type: 'demo.loop' }, { source: 'test', trust: 'operator' })]);
    const dead = await waitFor(async () => (await bus.dlq.list({ subscription: 'looper' }))[0]);
    expect(dead.attempts).toBe(1);
    expect(dead.reason).toBe(
      'AgentLimitError: agent looper reached maxTurns (2) with the model still calling tools (emit_event)',
    );
  });
});
