// examples/pr-reviewer end to end through the outbox: the review is posted as one GitHub comment
// (edited when a push re-reviews), or only recorded when there is no GITHUB_TOKEN (dry run).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AgentdConfig } from '../../src/core/config.js';
import {
  byTurn,
  FAKE_KEY,
  startFakeLlmServer,
  type FakeLlmServer,
} from '../fixtures/fake-llm-server.js';
import { GITHUB_TOKEN, startFakeGithub, type FakeGithub } from '../fixtures/fake-github-server.js';
import { sleep, startAgentd, stopAll, until } from './harness.js';

// The example imports 'agentd' as users do; here that is this repository's source.
vi.mock('agentd', () => import('../../src/index.js'));

const EXAMPLE = fileURLToPath(new URL('../../examples/pr-reviewer/', import.meta.url));
const PAYLOAD = JSON.parse(readFileSync(join(EXAMPLE, 'pull_request.opened.json'), 'utf8')) as {
  action: string;
};
const REVIEW = {
  verdict: 'request_changes',
  summary: 'The sprocket is half the size it should be.',
  comments: [{ path: 'src/builder.ts', line: 10, body: 'Why half the size?' }],
};

const savedEnv = { ...process.env };
let llm: FakeLlmServer;
let github: FakeGithub;

beforeAll(async () => {
  llm = await startFakeLlmServer();
  github = await startFakeGithub();
});
afterEach(async () => {
  await stopAll();
  process.env = { ...savedEnv };
});
afterAll(async () => {
  await llm.close();
  await github.close();
});

async function loadExample(env: Record<string, string>): Promise<AgentdConfig> {
  for (const name of ['GITHUB_TOKEN', 'AGENTD_DRY_RUN', 'GITHUB_WEBHOOK_SECRET'])
    delete process.env[name];
  Object.assign(process.env, env, {
    PR_DIFF_DIR: join(EXAMPLE, 'diffs'),
    PR_REVIEWER_PROVIDER: 'openai',
    PR_REVIEWER_BASE_URL: llm.openaiURL,
    PR_REVIEWER_MODEL: 'test-model',
    OPENAI_API_KEY: FAKE_KEY,
  });
  vi.resetModules();
  return (await import('../../examples/pr-reviewer/agentd.config.js')).default;
}

const pullRequest = (action: string, id: string) => ({
  id,
  source: 'https://github.com/acme/widgets',
  data: { ...PAYLOAD, action },
});

describe('examples/pr-reviewer through the outbox', () => {
  it('posts the review as one comment on the pull request, edited on the next push', async () => {
    const config = await loadExample({ GITHUB_TOKEN, GITHUB_API_URL: github.url });
    const agentd = await startAgentd(config);
    llm.script = byTurn([
      { tools: [{ name: 'read_diff', input: {} }] },
      { text: JSON.stringify(REVIEW) },
    ]);
    await agentd.publish('github.pull_request.opened', pullRequest('opened', 'delivery-1'));
    await until(() => (github.comments.get('acme/widgets#42') ?? []).length === 1, 'the review');
    const [comment] = github.comments.get('acme/widgets#42') ?? [];
    expect(comment?.body).toContain('**agentd review**: request changes');
    expect(comment?.body).toContain('- `src/builder.ts:10`: Why half the size?');
    expect(comment?.body).toContain('<!-- agentd:pr-reviewer -->');

    llm.script = byTurn([
      { tools: [{ name: 'read_diff', input: {} }] },
      { text: JSON.stringify({ ...REVIEW, verdict: 'approve', summary: 'Fixed.', comments: [] }) },
    ]);
    await agentd.publish(
      'github.pull_request.synchronize',
      pullRequest('synchronize', 'delivery-2'),
    );
    await until(
      () => github.comments.get('acme/widgets#42')?.[0]?.body.includes('Fixed.') === true,
      'the edited review',
    );
    expect(github.comments.get('acme/widgets#42')).toHaveLength(1);
  });

  it('only records the review without a GITHUB_TOKEN: a dry run listed in the outbox', async () => {
    const requestsBefore = github.requests.length;
    const config = await loadExample({});
    const agentd = await startAgentd(config);
    llm.script = byTurn([
      { tools: [{ name: 'read_diff', input: {} }] },
      { text: JSON.stringify(REVIEW) },
    ]);
    await agentd.publish('github.pull_request.opened', pullRequest('opened', 'delivery-3'));
    await until(async () => (await agentd.actions()).length === 1, 'the recorded review');
    await sleep(200);
    const [action] = await agentd.actions();
    expect(action).toMatchObject({
      state: 'dry-run',
      sink: 'github',
      action: 'comment',
      route: 'post-review',
    });
    expect(action?.params).toMatchObject({
      repo: 'acme/widgets',
      issue: 42,
      marker: 'pr-reviewer',
    });
    expect(github.requests.length).toBe(requestsBefore);
  });
});
