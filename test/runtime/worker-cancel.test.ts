// Cancellation in the worker, on the real SqliteBus: a second push for the same pull request
// replaces the first run (singleton 'replace'), whose signal fires; it ends cancelled, not failed,
// and the outbox action it had recorded is discarded with it.
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentdEvent } from '../../src/core/envelope.js';
import { on } from '../../src/core/route.js';
import { closeHarnesses, governedWorker, statuses, waitFor } from './worker-harness.js';

afterEach(closeHarnesses);

describe('cancellation', () => {
  it('a second push for the same PR cancels the first run: cancelled, no outbox action', async () => {
    const started: string[] = [];
    const aborted: unknown[] = [];
    const cancelled: AgentdEvent[] = [];
    const h = await governedWorker([
      on('github.push', {
        name: 'reviewer',
        key: 'data.pr',
        singleton: { mode: 'replace' },
        handler: async (event, ctx) => {
          const sha = (event.data as { sha: string }).sha;
          started.push(sha);
          ctx.outbox.bus.publish({ type: 'review.posted', data: { sha } });
          if (sha !== 'first') return;
          // The first run takes long: long enough to be replaced.
          await new Promise((resolve) =>
            ctx.signal.addEventListener('abort', () => {
              aborted.push(ctx.signal.reason);
              resolve(undefined);
            }),
          );
        },
      }),
      on('agentd.run.cancelled', { name: 'watcher', handler: (e) => void cancelled.push(e) }),
    ]);
    await h.publish('github.push', { data: { pr: 42, sha: 'first' } });
    await waitFor(() => started.length === 1, 'the first run started');
    const second = await h.publish('github.push', { data: { pr: 42, sha: 'second' } });
    await waitFor(
      () => statuses(h.runs('reviewer')).cancelled === 1 && started.length === 2,
      'the first run cancelled, the second one started',
    );
    await waitFor(() => statuses(h.runs('reviewer')).completed === 1, 'the second run completed');
    expect(aborted).toHaveLength(1);
    expect(aborted[0]).toMatchObject({ name: 'RunCancelledError', code: 'CANCELLED' });
    const actions = await h.bus.outbox.list({});
    expect(actions.map((a) => (a.params as { data: { sha: string } }).data.sha)).toEqual([
      'second',
    ]);
    await waitFor(() => cancelled.length === 1, 'agentd.run.cancelled');
    expect(cancelled[0]?.data).toMatchObject({
      route: 'reviewer',
      reason: `singleton: replaced by event ${second.id}`,
      eventType: 'github.push',
    });
    expect(h.worker.stats().reviewer).toMatchObject({ cancelled: 1, completed: 1 });
  });
});
