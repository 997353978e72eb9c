// Budgets in the worker: a route whose (fake) model runs cost tokens crosses 50/80/100%, each
// threshold is announced once (also across a restart), the route pauses with its deliveries still
// queued and resumes when the window rolls over; runs started together cannot overshoot.
import { afterEach, describe, expect, it } from 'vitest';
import { on } from '../../src/core/route.js';
import { ManualClock } from '../fixtures/manual-clock.js';
import { closeHarnesses, governedWorker, statuses, waitFor } from './worker-harness.js';

afterEach(closeHarnesses);

/** What an agent handler returns: its usage (src/agents/usage.ts AgentUsage). */
const modelRun = (tokens: number) => ({
  text: 'done',
  usage: {
    provider: 'fake',
    model: 'fake-1',
    turns: 1,
    toolCalls: 0,
    inputTokens: tokens - 50,
    outputTokens: 50,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    totalTokens: tokens,
  },
});

describe('budgets', () => {
  it('announces 50/80/100% once each, pauses at 100% with deliveries queued, resumes next window', async () => {
    const clock = new ManualClock('2025-03-14T10:15:00Z');
    let ran = 0;
    const h = await governedWorker(
      [
        on('review.requested', {
          name: 'reviewer',
          concurrency: 1,
          budget: { tokens: 1_000, window: 'hour' },
          handler: () => {
            ran++;
            return modelRun(300);
          },
        }),
      ],
      { clock },
    );
    for (let i = 0; i < 6; i++) await h.publish('review.requested');
    const thresholds = () =>
      h.events('agentd.budget.threshold').map((e) => {
        const d = e.data as { fraction: number; windowStart: string; used: number };
        return `${d.windowStart.slice(11, 16)} ${d.fraction} ${d.used}`;
      });
    const paused = () => h.worker.governorStatus?.().routes[0]?.paused;
    // 300, 600 (50%), 900 (80%), 1200 (100%): then paused.
    // Usage is booked as a run ends, before its ack: wait for both.
    await waitFor(
      () => paused() !== undefined && statuses(h.runs('reviewer')).completed === 4,
      'four runs, then a pause',
    );
    await waitFor(() => thresholds().length === 3, 'three threshold events');
    expect(thresholds()).toEqual(['10:00 0.5 600', '10:00 0.8 900', '10:00 1 1200']);
    expect(paused()).toMatchObject({
      cause: 'budget',
      reason:
        'budget of route reviewer spent: 1200 of 1000 tokens this hour (resets 2025-03-14T11:00:00.000Z)',
      until: '2025-03-14T11:00:00.000Z',
    });
    expect(statuses(h.runs('reviewer'))).toEqual({ completed: 4, queued: 2 });
    expect(h.events('agentd.route.paused').map((e) => e.data)).toEqual([
      {
        route: 'reviewer',
        cause: 'budget',
        reason: expect.stringMatching(/^budget of route reviewer spent/) as string,
      },
    ]);

    // A restart within the window: still paused (usage is durable), nothing announced again.
    await h.restart();
    expect(h.worker.governorStatus?.().routes[0]?.paused?.cause).toBe('budget');
    expect(h.worker.governorStatus?.().routes[0]?.budget?.tokens).toEqual({
      limit: 1_000,
      used: 1_200,
      reserved: 0,
      left: 0,
    });
    await clock.advanceTo('2025-03-14T10:59:59Z');
    expect(ran).toBe(4);

    await clock.advanceTo('2025-03-14T11:00:00Z');
    await waitFor(() => ran === 6, 'the queued two run in the next window');
    await waitFor(() => thresholds().length === 4, 'the next window crossing 50%');
    expect(thresholds()).toEqual([
      '10:00 0.5 600',
      '10:00 0.8 900',
      '10:00 1 1200',
      '11:00 0.5 600',
    ]);
    // The threshold is announced as the sixth run's usage is booked, before its ack: wait for it.
    await waitFor(() => statuses(h.runs('reviewer')).completed === 6, 'the sixth run acked');
    expect(statuses(h.runs('reviewer'))).toEqual({ completed: 6 });
    await waitFor(() => h.events('agentd.route.resumed').length === 1, 'agentd.route.resumed');
  });

  it('admits runs started together by used + reserved, so they cannot overshoot', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const h = await governedWorker([
      on('batch.job', {
        name: 'jobs',
        concurrency: 10,
        budget: { tokens: 1_000, window: 'day', reserve: { tokens: 300 } },
        handler: async () => {
          started++;
          await held;
          return modelRun(300);
        },
      }),
    ]);
    for (let i = 0; i < 10; i++) await h.publish('batch.job');
    await waitFor(() => started === 3, 'three runs reserving 300 of 1000 each');
    expect(h.worker.governorStatus?.().routes[0]?.budget?.tokens).toMatchObject({
      used: 0,
      reserved: 900,
    });
    release();
    // Then 900 used and nothing in flight: one more may go, and the budget is spent.
    await waitFor(
      () =>
        h.worker.governorStatus?.().routes[0]?.paused?.cause === 'budget' &&
        statuses(h.runs('jobs')).completed === 4,
      'the budget spent',
    );
    expect(started).toBe(4);
    expect(statuses(h.runs('jobs'))).toEqual({ completed: 4, queued: 6 });
  });

  it('pauses every route when the global budget is spent, but not the one hearing of it', async () => {
    let ran = 0;
    const heard: number[] = [];
    const h = await governedWorker(
      [
        on('g.a', { handler: () => (ran++, modelRun(600)), concurrency: 1 }),
        on('g.b', { handler: () => (ran++, modelRun(600)), concurrency: 1 }),
        // How an operator hears of the spent budget: not paused by it (its usage still counts).
        on('agentd.budget.threshold', {
          name: 'alert',
          handler: (event) => void heard.push((event.data as { fraction: number }).fraction),
        }),
      ],
      { governor: { budget: { tokens: 1_000, window: 'month' } } },
    );
    await h.publish('g.a');
    await waitFor(() => ran === 1, 'the first run');
    await h.publish('g.b');
    await waitFor(
      () =>
        h.worker.governorStatus?.().global.paused?.cause === 'budget' &&
        statuses(h.runs('g.b')).completed === 1,
      'the global budget spent',
    );
    await h.publish('g.a');
    await h.publish('g.b');
    const status = h.worker.governorStatus?.();
    expect(status?.routes.map((r) => r.paused?.reason)).toEqual([
      expect.stringMatching(/^the global budget spent: 1200 of 1000 tokens this month/),
      expect.stringMatching(/^the global budget spent/),
      undefined,
    ]);
    await waitFor(() => heard.includes(1), 'the alert route ran for the 100% threshold');
    expect(heard).toEqual([0.5, 0.8, 1]);
    expect(status?.global.budget?.tokens?.used).toBe(1_200);
    // A poll that was waiting when the pause came may claim the new delivery: it hands it back.
    await waitFor(
      () => statuses(h.runs('g.a')).queued === 1 && statuses(h.runs('g.b')).queued === 1,
      'both new deliveries queued',
    );
    expect(ran).toBe(2);
  });
});
