// Batch routes in the worker: the handler gets the batch's events as an array, the filter applies
// to each event (declined ones are left out), and a batch left empty is acked as skipped.
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentdEvent } from '../../src/core/envelope.js';
import { on } from '../../src/core/route.js';
import { ManualClock } from '../fixtures/manual-clock.js';
import { closeHarnesses, governedWorker, statuses, waitFor } from './worker-harness.js';

afterEach(closeHarnesses);

describe('batch routes', () => {
  it('hand the handler the events of a batch its filter takes, in publish order', async () => {
    const clock = new ManualClock('2025-03-14T10:00:00Z');
    const batches: string[][] = [];
    const h = await governedWorker(
      [
        on<{ n: number; skip?: boolean }>('metric.sample', {
          name: 'rollup',
          batch: { maxSize: 4, maxWaitMs: 5_000, key: 'data.host' },
          filter: (e) => e.data?.skip !== true,
          handler: (events: readonly AgentdEvent<{ n: number }>[]) =>
            void batches.push(events.map((e) => `${e.data?.n}`)),
        }),
      ],
      { busClock: clock },
    );
    for (const [n, skip] of [
      [1, false],
      [2, true],
      [3, false],
      [4, false],
    ] as const)
      await h.publish('metric.sample', { data: { host: 'a', n, skip } });
    await waitFor(() => batches.length === 1, 'a full batch of four');
    expect(batches[0]).toEqual(['1', '3', '4']);

    // A batch whose every event is declined is acked as skipped, without a handler call.
    await h.publish('metric.sample', { data: { host: 'b', n: 5, skip: true } });
    await clock.advanceBy(5_000);
    await waitFor(
      () => statuses(h.runs('rollup')).skipped !== undefined,
      'the empty batch skipped',
    );
    expect(batches).toHaveLength(1);
  });
});
