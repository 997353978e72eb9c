// Command agents: a script standing in for a CLI agent succeeds, fails, hangs and floods; each
// outcome maps to a result or to an error that says whether to retry.
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent } from '../../src/agents/agent.js';
import type { AgentOptions } from '../../src/agents/agent-definition.js';
import type { CommandProviderOptions } from '../../src/agents/provider-options.js';
import { agentStartupWarnings } from '../../src/agents/startup-check.js';
import { on } from '../../src/core/route.js';
import { FAKE_CLI } from '../fixtures/fake-cli-agent.js';
import { externalEvent, memoryRun, operatorEvent } from './memory-context.js';

let workspace: string;

beforeAll(() => {
  workspace = realpathSync(mkdtempSync(join(tmpdir(), 'agentd-cli-')));
  process.env.ANTHROPIC_API_KEY = 'sk-daemon-key-not-for-children';
});
afterAll(() => {
  delete process.env.ANTHROPIC_API_KEY;
  rmSync(workspace, { recursive: true, force: true });
});

function cli(
  mode: string,
  provider: Partial<CommandProviderOptions> = {},
  extra: Partial<AgentOptions> = {},
) {
  return agent({
    name: 'cli',
    provider: {
      kind: 'command',
      command: FAKE_CLI.command,
      args: [...FAKE_CLI.args, mode],
      output: 'json',
      ...provider,
    },
    workspace,
    prompt: 'Review the change.',
    timeoutMs: 4_000,
    ...extra,
  });
}

describe('command agents', () => {
  it('runs the CLI in the workspace with the event in its prompt and reads its JSON result', async () => {
    const event = operatorEvent('demo.review', { pr: 7 });
    const run = memoryRun(event);
    const result = await cli('json')(event, run.attempt().ctx);
    expect(result.text).toMatch(new RegExp(`^reviewed \\d+ characters in ${workspace}$`));
    const output = result.output as { prompt: string; keyVisible: boolean };
    expect(output.prompt).toContain('Review the change.');
    expect(output.prompt).toContain('"pr": 7');
    // The daemon's own keys stay out of the child's environment.
    expect(output.keyVisible).toBe(false);
    expect(result.usage).toMatchObject({
      provider: 'command',
      inputTokens: 1200,
      outputTokens: 300,
      cacheReadTokens: 50,
      totalTokens: 1550,
      costUsd: 0.0123,
    });

    // A redelivery gets the stored result: the CLI is not run (or paid for) again.
    const again = await cli('json')(event, run.attempt().ctx);
    expect(again.text).toBe(result.text);
    expect(run.executed).toEqual(['prompt', 'command']);
  });

  it('captures text output, and passes the prompt as an argument when asked to', async () => {
    const event = operatorEvent('demo.review', {});
    const result = await cli('text', {
      output: 'text',
      args: [...FAKE_CLI.args, 'text', '{prompt}'],
    })(event, memoryRun(event).attempt().ctx);
    expect(result.text).toMatch(/^plain answer to: Review the change\.\n\nEvent demo\.review/);
  });

  it('maps a non-zero exit to a retryable failure carrying the exit code and stderr', async () => {
    const event = operatorEvent('demo.review', {});
    const failure = await cli('fail')(event, memoryRun(event).attempt().ctx).catch(
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({
      name: 'CommandAgentError',
      failure: 'exit',
      exitCode: 3,
      retryable: true,
      message: expect.stringContaining(
        'exited with code 3: fatal: could not reach the model',
      ) as string,
    });
  });

  it('treats a JSON result with is_error as a failure', async () => {
    const event = operatorEvent('demo.review', {});
    await expect(cli('is-error')(event, memoryRun(event).attempt().ctx)).rejects.toThrow(
      /reported an error: quota exhausted/,
    );
  });

  it('kills a CLI that runs past the timeout and fails the attempt as retryable', async () => {
    const event = operatorEvent('demo.review', {});
    const started = Date.now();
    const failure = await cli(
      'hang',
      { killGraceMs: 200 },
      { timeoutMs: 1_500 },
    )(event, memoryRun(event).attempt().ctx).catch((error: unknown) => error);
    expect(failure).toMatchObject({
      name: 'AgentTimeoutError',
      message: 'agent cli timed out after 1500 ms',
      retryable: true,
    });
    expect(Date.now() - started).toBeLessThan(4_000);
    const pid = Number(readFileSync(join(workspace, 'hang.pid'), 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });

  it('stops a CLI whose output passes maxOutputBytes and does not retry it', async () => {
    const event = operatorEvent('demo.review', {});
    const failure = await cli('flood', { maxOutputBytes: 64 * 1024 })(
      event,
      memoryRun(event).attempt().ctx,
    ).catch((error: unknown) => error);
    expect(failure).toMatchObject({
      name: 'CommandAgentError',
      failure: 'output-limit',
      retryable: false,
      message: expect.stringContaining('maxOutputBytes (65536 bytes)') as string,
    });
  });

  it('fails without retry when the program does not exist', async () => {
    const event = operatorEvent('demo.review', {});
    const failure = await cli('json', { command: 'no-such-agent-cli-xyz', args: [] })(
      event,
      memoryRun(event).attempt().ctx,
    ).catch((error: unknown) => error);
    expect(failure).toMatchObject({ failure: 'spawn', retryable: false });
  });

  it('does not run for external events unless trustExternal.command is set, which is logged at start', async () => {
    const event = externalEvent('github.pull_request.opened', { body: 'hi' });
    await expect(cli('json')(event, memoryRun(event).attempt().ctx)).rejects.toMatchObject({
      name: 'AgentPermissionError',
      retryable: false,
    });
    const trusted = cli('json', {}, { trustExternal: { command: true } });
    const result = await trusted(event, memoryRun(event).attempt().ctx);
    expect((result.output as { prompt: string }).prompt).toContain('EXTERNAL-DATA-BEGIN-');
    expect(agentStartupWarnings([{ ...on('x', { handler: trusted }), name: 'r' }])).toEqual([
      {
        route: 'r',
        message: `agent cli: trustExternal.command lets ${FAKE_CLI.command} (a CLI agent with tools of its own) run for external events`,
      },
    ]);
  });
});
