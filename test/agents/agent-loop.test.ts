// The agent loop: durable turns, limits, JSON answers, emits with fixed ids, sub-agents.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { agent } from '../../src/agents/agent.js';
import type { AgentOptions } from '../../src/agents/agent-definition.js';
import { defineTool } from '../../src/agents/tools/tool.js';
import {
  byTurn,
  FAKE_KEY,
  startFakeLlmServer,
  type FakeLlmServer,
} from '../fixtures/fake-llm-server.js';
import { memoryRun, operatorEvent } from './memory-context.js';

let server: FakeLlmServer;
let workspace: string;

beforeAll(async () => {
  server = await startFakeLlmServer();
  workspace = mkdtempSync(join(tmpdir(), 'agentd-loop-'));
});
afterAll(async () => {
  await server.close();
  rmSync(workspace, { recursive: true, force: true });
});
beforeEach(() => {
  server.requests.length = 0;
});

function make(extra: Partial<AgentOptions> = {}) {
  return agent({
    name: 'looper',
    provider: { kind: 'openai', baseURL: server.openaiURL, apiKey: FAKE_KEY },
    model: 'test-model',
    prompt: 'Do the thing.',
    workspace,
    tools: { files: { write: true } },
    ...extra,
  });
}

describe('agent loop', () => {
  it('resumes after the last finished turn without asking the model again', async () => {
    let failTurn3 = true;
    server.script = (request) => {
      if (request.turn === 1)
        return { tools: [{ name: 'write_file', input: { path: 'a.txt', content: '1' } }] };
      if (request.turn === 2) return { tools: [{ name: 'read_file', input: { path: 'a.txt' } }] };
      if (failTurn3) return { status: 400, message: 'crash stand-in' };
      return { text: 'all done' };
    };
    const event = operatorEvent('demo.resume', {});
    const run = memoryRun(event);
    const handler = make();
    await expect(handler(event, run.attempt().ctx)).rejects.toMatchObject({ status: 400 });
    expect(run.executed).toEqual([
      'prompt',
      'turn-1',
      'tool-1-write_file',
      'turn-2',
      'tool-2-read_file',
    ]);

    failTurn3 = false;
    server.requests.length = 0;
    const result = await handler(event, run.attempt().ctx);
    expect(result.text).toBe('all done');
    // Only the unfinished turn is asked again; the stored turns still count in the usage.
    expect(server.requests.map((r) => r.turn)).toEqual([3]);
    expect(result.usage).toMatchObject({ turns: 3, toolCalls: 2 });
    // The rebuilt conversation is the one the model saw before: same prompt, same tool results.
    const messages = JSON.stringify(server.requests[0]?.body.messages);
    expect(messages).toContain('wrote 1 bytes to a.txt');
    expect(run.executed.slice(5)).toEqual(['turn-3']);
  });

  it('stops at maxTurns with a reason and marks it not retryable', async () => {
    server.script = () => ({ tools: [{ name: 'list_files', input: {} }] });
    const event = operatorEvent('demo.loop', {});
    const failure = await make({ maxTurns: 3 })(event, memoryRun(event).attempt().ctx).catch(
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ name: 'AgentLimitError', retryable: false });
    expect((failure as Error).message).toMatch(
      /reached maxTurns \(3\) with the model still calling tools/,
    );
    expect(server.requests).toHaveLength(3);
  });

  it('stops when the run passes maxTokens', async () => {
    server.script = () => ({
      tools: [{ name: 'list_files', input: {} }],
      usage: { input: 4_000, output: 500 },
    });
    const event = operatorEvent('demo.tokens', {});
    const failure = await make({ maxTokens: 10_000 })(event, memoryRun(event).attempt().ctx).catch(
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({
      name: 'AgentLimitError',
      code: 'AGENT_LIMIT',
      retryable: false,
    });
    expect((failure as Error).message).toBe(
      'agent looper used 13500 tokens by turn 3, above maxTokens 10000',
    );
  });

  it('asks again when output json does not parse, then returns the parsed answer', async () => {
    server.script = byTurn([
      { text: 'Sure! verdict: approve' },
      { text: '```json\n{"verdict":"approve","score":9}\n```' },
    ]);
    const event = operatorEvent('demo.json', {});
    const result = await make({ output: 'json' })(event, memoryRun(event).attempt().ctx);
    expect(result.output).toEqual({ verdict: 'approve', score: 9 });
    expect(JSON.stringify(server.requests[1]?.body.messages)).toContain('not valid JSON');
  });

  it('publishes emit_event events once, with ids fixed when the tool ran', async () => {
    server.script = (request) =>
      request.turn === 1
        ? {
            tools: [
              { name: 'emit_event', input: { type: 'review.ready', data: { ok: true } } },
              { name: 'emit_event', input: { type: 'deploy.now', data: {} } },
            ],
          }
        : request.turn === 2
          ? { status: 400 }
          : { text: 'emitted' };
    const event = operatorEvent('demo.emit', {});
    const run = memoryRun(event);
    const handler = make({ tools: { emit: { types: ['review.*'] } } });
    const first = run.attempt();
    await expect(handler(event, first.ctx)).rejects.toThrow();
    expect(first.emitted).toHaveLength(0);

    server.script = () => ({ text: 'emitted' });
    const second = run.attempt();
    const result = await handler(event, second.ctx);
    expect(second.emitted).toHaveLength(1);
    const [emitted] = second.emitted;
    const stored = run.steps.get('tool-1-emit_event') as { emits: { id: string }[] };
    expect(emitted).toMatchObject({
      type: 'review.ready',
      id: stored.emits[0]?.id,
      correlationid: event.correlationid,
      causationid: event.id,
    });
    // The disallowed type was refused, told to the model, and recorded.
    expect(result.refusals).toEqual([
      {
        tool: 'emit_event',
        reason: expect.stringContaining('"deploy.now" is not allowed') as string,
      },
    ]);
  });

  it('runs a sub-agent as a tool inside the same run, with its turns as durable steps', async () => {
    const notes: string[] = [];
    const note = defineTool({
      name: 'note',
      description: 'Writes a note.',
      input: z.object({ text: z.string() }),
      run: ({ text }) => {
        notes.push(text);
        return 'noted';
      },
    });
    const helper = agent({
      name: 'helper',
      description: 'Summarises things.',
      provider: { kind: 'openai', baseURL: server.openaiURL, apiKey: FAKE_KEY },
      model: 'helper-model',
      prompt: 'You help.',
      input: false,
      tools: { custom: [note], emit: { types: ['summary.*'] } },
      price: { inputPerMTok: 1, outputPerMTok: 1 },
    });
    server.script = (request) => {
      if (request.body.model === 'helper-model') {
        return request.turn === 1
          ? {
              tools: [
                { name: 'note', input: { text: 'from helper' } },
                { name: 'emit_event', input: { type: 'summary.made', data: { n: 1 } } },
              ],
            }
          : { text: 'summary: fine' };
      }
      return request.turn === 1
        ? { tools: [{ name: 'summarize', input: { task: 'summarise the event' } }] }
        : { text: 'parent done' };
    };
    const event = operatorEvent('demo.sub', { x: 1 });
    const run = memoryRun(event);
    const attempt = run.attempt();
    const result = await make({ tools: { agents: { summarize: helper } } })(event, attempt.ctx);

    expect(result.text).toBe('parent done');
    expect(notes).toEqual(['from helper']);
    expect(run.executed).toEqual([
      'prompt',
      'turn-1',
      'tool-1-summarize/prompt',
      'tool-1-summarize/turn-1',
      'tool-1-summarize/tool-1-note',
      'tool-1-summarize/tool-1-emit_event',
      'tool-1-summarize/turn-2',
      'tool-1-summarize',
      'turn-2',
    ]);
    // Parent and helper turns are both counted; only the helper has a price.
    expect(result.usage).toMatchObject({ turns: 4, toolCalls: 3, costUsd: 240 / 1e6 });
    const helperPrompt = JSON.stringify(
      server.requests.find((r) => r.body.model === 'helper-model')?.body,
    );
    expect(helperPrompt).toContain('summarise the event');
    // The helper's event goes out with the parent's run, in the chain of the original event.
    expect(attempt.emitted).toHaveLength(1);
    expect(attempt.emitted[0]).toMatchObject({
      type: 'summary.made',
      correlationid: event.correlationid,
    });
    expect(readFileSync(join(workspace, 'a.txt'), 'utf8')).toBe('1');
  });

  it('refuses to build an agent whose options are wrong, naming the option', () => {
    expect(() =>
      agent({
        name: 'bad',
        provider: 'openai',
        model: 'm',
        tools: { shell: { allow: ['/bin/sh'] } },
      }),
    ).toThrow(/agent bad: tools\.shell\.allow\[0\]: expected a program name, not a path/);
    expect(() => agent({ name: 'nomodel', provider: 'anthropic' })).toThrow(
      /model: expected a model name/,
    );
    expect(() =>
      agent({ name: 'nows', provider: 'openai', model: 'm', tools: { files: true } }),
    ).toThrow(/workspace: file tools and run_command work in a workspace directory/);
  });
});
