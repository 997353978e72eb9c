// The loop guard in the worker: a handler that emits the event that triggers itself would run for
// ever; it is stopped at the cycle or depth limit, its event dead-lettered with a `loop-guard:`
// reason, and agentd.loop.detected published. A fan-out past the chain's run budget is stopped too.
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentdEvent } from '../../src/core/envelope.js';
import { on } from '../../src/core/route.js';
import { closeHarnesses, governedWorker, statuses, waitFor } from './worker-harness.js';

afterEach(closeHarnesses);

describe('the loop guard', () => {
  it('stops a handler that re-triggers itself after maxCycles, with a DLQ entry and loop.detected', async () => {
    let runs = 0;
    const h = await governedWorker([
      on('echo.ping', {
        name: 'echo',
        handler: (_e, ctx) => {
          runs++;
          ctx.emit({ type: 'echo.ping' });
        },
      }),
    ]);
    const root = await h.publish('echo.ping');
    await waitFor(() => h.events('agentd.loop.detected').length === 1, 'agentd.loop.detected');
    // The first run and three re-triggers (governor.loop.maxCycles 3) ran; the fourth was stopped.
    expect(runs).toBe(4);
    const [dead] = await h.bus.dlq.list();
    const reason =
      'loop-guard: route echo re-triggered 4 times by its own chain, above governor.loop.maxCycles 3';
    expect(dead).toMatchObject({ subscription: 'echo', reason, attempts: 1 });
    expect(dead?.event).toMatchObject({ depth: 4, correlationid: root.id, agentdchain: 'echo=4' });
    const [detected] = h.events('agentd.loop.detected');
    expect(detected).toMatchObject({
      causationid: dead?.event.id,
      depth: 0,
      trust: 'internal',
      data: { route: 'echo', eventId: dead?.event.id, correlationId: root.id, depth: 4, reason },
    });
    expect(statuses(h.runs('echo'))).toEqual({ completed: 4, dead: 1 });
  });

  it('stops a ping-pong between two routes at governor.loop.maxDepth', async () => {
    const h = await governedWorker(
      [
        on('pp.ping', { name: 'ping', handler: (_e, ctx) => void ctx.emit({ type: 'pp.pong' }) }),
        on('pp.pong', { name: 'pong', handler: (_e, ctx) => void ctx.emit({ type: 'pp.ping' }) }),
      ],
      { governor: { loop: { maxDepth: 5, maxCycles: 100 } } },
    );
    await h.publish('pp.ping');
    await waitFor(() => h.events('agentd.loop.detected').length === 1, 'agentd.loop.detected');
    const [dead] = await h.bus.dlq.list();
    // ping runs at depths 0, 2, 4 and pong at 1, 3, 5: the ping at depth 6 is stopped.
    expect(dead?.reason).toBe('loop-guard: pp.ping is at depth 6, above governor.loop.maxDepth 5');
    expect(dead?.event.agentdchain).toBe('ping=3,pong=3');
    expect(statuses(h.runs('ping'))).toEqual({ completed: 3, dead: 1 });
    expect(statuses(h.runs('pong'))).toEqual({ completed: 3 });
  });

  it('stops the runs of a correlation chain past maxRunsPerChain', async () => {
    const leaves: AgentdEvent[] = [];
    const h = await governedWorker(
      [
        on('fan.start', {
          name: 'fan',
          handler: (_e, ctx) =>
            void ctx.emit(Array.from({ length: 5 }, (_, i) => ({ type: 'fan.leaf', data: i }))),
        }),
        on('fan.leaf', { name: 'leaf', concurrency: 1, handler: (e) => void leaves.push(e) }),
      ],
      { governor: { loop: { maxRunsPerChain: 3 } } },
    );
    const root = await h.publish('fan.start');
    await waitFor(() => h.events('agentd.loop.detected').length === 2, 'two loop detections');
    expect(leaves).toHaveLength(3);
    const reasons = (await h.bus.dlq.list()).map((d) => d.reason);
    expect(reasons).toEqual([
      `loop-guard: correlation chain ${root.id} reached 5 runs, above governor.loop.maxRunsPerChain 3`,
      `loop-guard: correlation chain ${root.id} reached 4 runs, above governor.loop.maxRunsPerChain 3`,
    ]);
  });
});
