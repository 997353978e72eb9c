// The examples/pr-reviewer config, run on the worker against the fake model API with both
// providers: a webhook's pull request goes in, a review.ready event comes out.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { validateConfig, type AgentdConfig } from '../../src/core/config.js';
import { toEvent, type AgentdEvent } from '../../src/core/envelope.js';
import { on } from '../../src/core/route.js';
import { createLogger } from '../../src/observe/log.js';
import { createWorker, type Worker } from '../../src/runtime/worker.js';
import {
  byTurn,
  FAKE_KEY,
  startFakeLlmServer,
  type FakeLlmServer,
} from '../fixtures/fake-llm-server.js';

// The example imports 'agentd' as users do; here that is this repository's source.
vi.mock('agentd', () => import('../../src/index.js'));

const EXAMPLE = fileURLToPath(new URL('../../examples/pr-reviewer/', import.meta.url));
const PAYLOAD = JSON.parse(
  readFileSync(join(EXAMPLE, 'pull_request.opened.json'), 'utf8'),
) as unknown;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const savedEnv = { ...process.env };
let llm: FakeLlmServer;
let running: { dir: string; bus: SqliteBus; worker: Worker } | undefined;

beforeAll(async () => {
  llm = await startFakeLlmServer();
});
afterAll(async () => {
  process.env = savedEnv;
  await llm.close();
});
afterEach(async () => {
  if (running === undefined) return;
  await running.worker.stop();
  await running.bus.close();
  rmSync(running.dir, { recursive: true, force: true });
  running = undefined;
});

async function loadExample(env: Record<string, string>): Promise<AgentdConfig> {
  Object.assign(process.env, env, { PR_DIFF_DIR: join(EXAMPLE, 'diffs') });
  vi.resetModules();
  const mod = await import('../../examples/pr-reviewer/agentd.config.js');
  return mod.default;
}

async function review(config: AgentdConfig): Promise<AgentdEvent> {
  const reviews: AgentdEvent[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'agentd-pr-reviewer-'));
  const bus = new SqliteBus({ path: join(dir, 'agentd.db'), source: 'agentd://test' });
  const routes = [
    ...(config.routes ?? []),
    on('review.ready', { name: 'capture', handler: (event) => void reviews.push(event) }),
  ];
  const worker = createWorker({
    bus,
    routes: validateConfig({ routes }, 'pr-reviewer').routes,
    log: createLogger({ level: 'silent' }),
    source: 'agentd://test',
  });
  await worker.start();
  running = { dir, bus, worker };
  // As the GitHub webhook source delivers it: GitHub's payload, anyone-could-write-it trust.
  await bus.publish([
    toEvent(
      {
        type: 'github.pull_request.opened',
        source: 'https://github.com/acme/widgets',
        data: PAYLOAD,
      },
      { source: 'test', trust: 'external' },
    ),
  ]);
  const until = Date.now() + 15_000;
  while (reviews.length === 0) {
    if (Date.now() > until) throw new Error('no review.ready within 15 s');
    await sleep(20);
  }
  return reviews[0] as AgentdEvent;
}

const REVIEW = {
  verdict: 'comment',
  summary: 'Adds a sprocket option with a test.',
  comments: [{ path: 'src/builder.ts', line: 10, body: 'Why half the size?' }],
};

describe.each([
  {
    provider: 'openai',
    env: { PR_REVIEWER_PROVIDER: 'openai', OPENAI_API_KEY: FAKE_KEY },
    url: () => ({ PR_REVIEWER_BASE_URL: llm.openaiURL }),
  },
  {
    provider: 'anthropic',
    env: { PR_REVIEWER_PROVIDER: 'anthropic', ANTHROPIC_API_KEY: FAKE_KEY },
    url: () => ({ ANTHROPIC_BASE_URL: llm.anthropicURL }),
  },
])('examples/pr-reviewer with $provider', ({ env, url }) => {
  it('reads the diff through its tool and emits the review as review.ready', async () => {
    llm.requests.length = 0;
    llm.script = byTurn([
      { tools: [{ name: 'read_diff', input: {} }] },
      { text: JSON.stringify(REVIEW) },
    ]);
    const config = await loadExample({ ...env, ...url(), PR_REVIEWER_MODEL: 'test-model' });
    const event = await review(config);

    expect(event).toMatchObject({
      type: 'review.ready',
      subject: 'https://github.com/acme/widgets/pull/42',
      partitionkey: 'acme/widgets#42',
      trust: 'external',
      data: {
        repository: 'acme/widgets',
        number: 42,
        review: REVIEW,
        usage: { turns: 2, toolCalls: 1 },
      },
    });
    const [first, second] = llm.requests;
    expect(JSON.stringify(first?.body.tools)).toContain('read_diff');
    // The author's words arrive as untrusted data; the diff comes back the same way.
    expect(JSON.stringify(first?.body.messages)).toMatch(
      /EXTERNAL-DATA-BEGIN-[0-9a-f]{16}\\n\{\\n {2}\\"repository\\": \\"acme\/widgets\\"/,
    );
    expect(JSON.stringify(second?.body.messages)).toContain('widget.parts.push(new Sprocket');
  });
});
