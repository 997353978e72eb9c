// Budgets charge what an agent's attempts spent on model calls, whatever became of the run: a run
// that spends and then fails is charged, and a retry that replays its memoized turns is not charged
// for them again. Real agent() handlers on the OpenAI SDK against the fake model server.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agent } from '../../src/agents/agent.js';
import { on } from '../../src/core/route.js';
import { FAKE_KEY, startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { closeHarnesses, governedWorker, statuses, waitFor } from './worker-harness.js';

let llm: FakeLlmServer;
beforeAll(async () => {
  llm = await startFakeLlmServer();
});
afterAll(() => llm.close());
afterEach(closeHarnesses);

const reviewer = (maxAttempts: number) =>
  on('review.requested', {
    name: 'reviewer',
    retries: { maxAttempts, initialMs: 10, maxMs: 10 },
    budget: { tokens: 100_000, costUsd: 10, window: 'day' },
    handler: agent({
      name: 'reviewer',
      provider: { kind: 'openai', baseURL: llm.openaiURL, apiKey: FAKE_KEY, maxRetries: 0 },
      model: 'test-model',
      prompt: 'Review.',
      price: { inputPerMTok: 2, outputPerMTok: 10 },
      tools: { emit: { types: ['review.note'] } },
    }),
  });

/** Turn 1 asks for a tool (1,200 tokens); turn 2 answers as `second` says. */
const twoTurns =
  (second: () => { status: number } | { text: string }) => (request: { turn: number }) =>
    request.turn === 1
      ? {
          tools: [{ name: 'emit_event', input: { type: 'review.note', data: {} } }],
          usage: { input: 1_000, output: 200 },
        }
      : second();

describe('budgets and agent runs', () => {
  it('charges a run that spent tokens and then failed', async () => {
    llm.script = twoTurns(() => ({ status: 400, message: 'bad request' }));
    const h = await governedWorker([reviewer(1)]);
    await h.publish('review.requested');
    await waitFor(() => statuses(h.runs('reviewer')).dead === 1, 'the run dead-lettered');
    await waitFor(
      () => h.worker.governorStatus?.().routes[0]?.budget?.tokens?.used === 1_200,
      'the failed run charged',
    );
    // 1,000 input at $2/MTok and 200 output at $10/MTok.
    expect(h.worker.governorStatus?.().routes[0]?.budget?.costUsd?.used).toBeCloseTo(0.004, 9);
  });

  it('charges memoized turns once when a retry replays them', async () => {
    let secondTurns = 0;
    // A 503 (the provider retries none in process here) fails the attempt retryably.
    llm.script = twoTurns(() =>
      ++secondTurns === 1
        ? { status: 503 }
        : { text: 'looks good', usage: { input: 300, output: 100 } },
    );
    const before = llm.requests.length;
    const h = await governedWorker([reviewer(2)]);
    await h.publish('review.requested');
    await waitFor(() => statuses(h.runs('reviewer')).completed === 1, 'the retry completed');
    await waitFor(
      () => h.worker.governorStatus?.().routes[0]?.budget?.tokens?.used === 1_600,
      'both attempts charged',
    );
    // Turn 1 ran once (the retry replayed it from its step), turn 2 twice (503, then the answer).
    expect(llm.requests.slice(before).filter((r) => r.turn === 1)).toHaveLength(1);
    expect(secondTurns).toBe(2);
  });

  it('charges the usage a plain handler reports when it books nothing itself', async () => {
    const h = await governedWorker([
      on('review.requested', {
        name: 'reviewer',
        budget: { tokens: 100_000, window: 'day' },
        handler: () => ({ usage: { totalTokens: 700 } }),
      }),
    ]);
    await h.publish('review.requested');
    await waitFor(
      () => h.worker.governorStatus?.().routes[0]?.budget?.tokens?.used === 700,
      'the reported usage charged',
    );
  });
});
