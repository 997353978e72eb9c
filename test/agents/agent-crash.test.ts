// Crash test: a real daemon is kill -9'd while its agent waits for the third model turn of a
// tool-using conversation. After a restart the run completes, and the model API saw each finished
// turn's request exactly once: stored turns and tool calls are replayed, not paid for again.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readyUrl, REPO, spawnDaemon } from '../fixtures/daemon-child.js';
import {
  FAKE_KEY,
  startFakeLlmServer,
  type FakeLlmServer,
  type Reply,
} from '../fixtures/fake-llm-server.js';

const TOKEN = 'agent-crash-test-token-0123456789';
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function configSource(llmURL: string, workspace: string, doneFile: string): string {
  const api = pathToFileURL(join(REPO, 'src/index.ts')).href;
  return `import { writeFileSync } from 'node:fs';
import { agent, defineConfig, on } from ${JSON.stringify(api)};

const worker = agent({
  name: 'crash-agent',
  provider: { kind: 'anthropic', baseURL: ${JSON.stringify(llmURL)}, apiKey: ${JSON.stringify(FAKE_KEY)} },
  model: 'test-model',
  prompt: 'Tick once, write the notes, then finish.',
  workspace: ${JSON.stringify(workspace)},
  tools: { files: { write: true }, shell: { allow: ['node'] } },
});

export default defineConfig({
  log: { level: 'warn' },
  server: { token: ${JSON.stringify(TOKEN)} },
  routes: [
    on('agent.crash', {
      name: 'crash-agent',
      handler: async (event, ctx) => {
        const result = await worker(event, ctx);
        writeFileSync(${JSON.stringify(doneFile)}, JSON.stringify(result));
        return result;
      },
    }),
  ],
});
`;
}

/** Turn 1 runs a command with a visible side effect, turn 2 writes a file, turn 3 answers. */
function script(): (request: { turn: number }) => Reply {
  let held = false;
  return ({ turn }) => {
    if (turn === 1) {
      const tick = "require('node:fs').appendFileSync('ticks.txt', 'x')";
      return { tools: [{ name: 'run_command', input: { command: 'node', args: ['-e', tick] } }] };
    }
    if (turn === 2) {
      return { tools: [{ name: 'write_file', input: { path: 'notes.txt', content: 'hello' } }] };
    }
    // The first turn-3 request is left unanswered: the daemon is killed while it waits.
    if (!held) {
      held = true;
      return { hang: true };
    }
    return { text: 'finished' };
  };
}

describe('an agent daemon killed with SIGKILL mid-conversation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-agent-crash-'));
  const dataDir = join(dir, 'data');
  const workspace = join(dir, 'workspace');
  const doneFile = join(dir, 'done.json');
  const configFile = join(dir, 'agentd.config.ts');
  const output: string[] = [];
  const children: ChildProcess[] = [];
  let llm: FakeLlmServer | undefined;

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await llm?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(): ChildProcess {
    const { child } = spawnDaemon({ configFile, dataDir, output });
    children.push(child);
    return child;
  }

  const ready = (child: ChildProcess) => readyUrl(child, { dataDir, output });

  async function until(check: () => boolean, what: string, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline)
        throw new Error(`${what} did not happen in ${ms} ms:\n${output.join('')}`);
      await sleep(20);
    }
  }

  it('resumes after the last finished turn, and the model API saw each finished turn once', async () => {
    const server = await startFakeLlmServer(script());
    llm = server;
    // An ESM project, as agentd's own examples are: the config is loaded as a module.
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    writeFileSync(configFile, configSource(server.anthropicURL, workspace, doneFile));

    const first = start();
    const url = await ready(first);
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      first.once('exit', (_code, signal) => resolve(signal)),
    );
    server.onRequest = (request) => {
      if (request.turn === 3 && first.exitCode === null) first.kill('SIGKILL');
    };
    const posted = await fetch(`${url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ type: 'agent.crash', source: 'test', id: 'crash-1', data: {} }),
    });
    expect(posted.status).toBe(202);
    expect(await exited).toBe('SIGKILL');
    expect(existsSync(doneFile)).toBe(false);
    const killedAt = server.requests.length;

    server.onRequest = undefined;
    const second = start();
    await ready(second);
    await until(() => existsSync(doneFile), 'the resumed run finishing');

    const turns = server.requests.map((r) => r.turn);
    // Turns 1 and 2 finished before the kill and were never asked again; turn 3 was in flight.
    expect(turns.filter((t) => t === 1)).toHaveLength(1);
    expect(turns.filter((t) => t === 2)).toHaveLength(1);
    expect(turns.filter((t) => t === 3)).toHaveLength(2);
    expect(killedAt).toBe(3);
    // The resumed turn 3 carries the same conversation as the one the kill interrupted.
    expect(JSON.stringify(server.requests[3]?.body.messages)).toBe(
      JSON.stringify(server.requests[2]?.body.messages),
    );
    // Each tool call ran once: the command's side effect happened a single time.
    expect(readFileSync(join(workspace, 'ticks.txt'), 'utf8')).toBe('x');
    expect(readFileSync(join(workspace, 'notes.txt'), 'utf8')).toBe('hello');
    const result = JSON.parse(readFileSync(doneFile, 'utf8')) as {
      text: string;
      usage: { turns: number; toolCalls: number };
    };
    expect(result.text).toBe('finished');
    expect(result.usage).toMatchObject({ turns: 3, toolCalls: 2 });

    second.kill('SIGTERM');
    await new Promise((resolve) => second.once('exit', resolve));
  }, 90_000);
});
