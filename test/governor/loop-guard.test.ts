// The loop guard's three limits: depth, a route re-triggered by its own chain, runs per
// correlation chain; the chain travels in an extension any bus keeps.
import { describe, expect, it } from 'vitest';
import { deriveEvent, toEvent, type AgentdEvent } from '../../src/core/envelope.js';
import { MemoryGovernorStore } from '../../src/governor/governor-store.js';
import {
  CHAIN_EXTENSION,
  chainAfter,
  LoopGuard,
  runsInChain,
} from '../../src/governor/loop-guard.js';

const root = toEvent({ type: 'a.start' }, { source: 'test', trust: 'operator' });
const emitted = (parent: AgentdEvent, route: string, type = 'a.next') =>
  deriveEvent(parent, { type, [CHAIN_EXTENSION]: chainAfter(parent, route) }, 'agentd://test');

describe('the chain extension', () => {
  it('counts each route a chain passed through, and is a valid CloudEvents extension', () => {
    const one = emitted(root, 'a');
    const two = emitted(one, 'b');
    const three = emitted(two, 'a');
    expect(three[CHAIN_EXTENSION]).toBe('a=2,b=1');
    expect(runsInChain(three, 'a')).toBe(2);
    expect(runsInChain(three, 'c')).toBe(0);
    // toEvent refuses extension names that are not lower-case letters and digits.
    expect(toEvent(three, { source: 'x', trust: 'internal' })[CHAIN_EXTENSION]).toBe('a=2,b=1');
    expect(runsInChain({ ...root, [CHAIN_EXTENSION]: 'x=NaN,=3,y=2' }, 'y')).toBe(2);
  });
});

describe('LoopGuard', () => {
  const guard = (limits = {}) =>
    new LoopGuard(
      { maxDepth: 8, maxCycles: 3, maxRunsPerChain: 1_000, ...limits },
      new MemoryGovernorStore(),
      () => 0,
    );

  it('stops a route re-triggered by its own chain more than maxCycles times', async () => {
    const g = guard();
    let event = root;
    const verdicts: (string | undefined)[] = [];
    for (let i = 0; i < 5; i++) {
      verdicts.push(await g.check('a', event, 1));
      event = emitted(event, 'a');
    }
    expect(verdicts.slice(0, 4)).toEqual([undefined, undefined, undefined, undefined]);
    expect(verdicts[4]).toBe(
      'loop-guard: route a re-triggered 4 times by its own chain, above governor.loop.maxCycles 3',
    );
  });

  it('stops an event deeper than maxDepth, but not agentd announcements about it', async () => {
    const g = guard({ maxDepth: 2 });
    const deep = { ...root, depth: 3 };
    expect(await g.check('a', deep, 1)).toBe(
      'loop-guard: a.start is at depth 3, above governor.loop.maxDepth 2',
    );
    expect(await g.check('a', { ...deep, type: 'agentd.run.completed' }, 1)).toBeUndefined();
    expect(await g.check('a', { ...deep, type: 'agentd.dlq.added' }, 1)).toBeUndefined();
  });

  it('counts the runs of a correlation chain, once per delivery', async () => {
    const g = guard({ maxRunsPerChain: 2 });
    const child = emitted(root, 'x');
    expect(await g.check('a', child, 1)).toBeUndefined();
    expect(await g.check('b', child, 1)).toBeUndefined();
    // A retry is the same run: not counted again.
    expect(await g.check('b', child, 2)).toBeUndefined();
    expect(await g.check('c', child, 1)).toBe(
      `loop-guard: correlation chain ${root.id} reached 3 runs, above governor.loop.maxRunsPerChain 2`,
    );
    // Root events start chains of their own and are not counted.
    for (let i = 0; i < 5; i++) expect(await g.check('a', root, 1)).toBeUndefined();
  });
});
