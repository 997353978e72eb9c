// SqliteBus durable debounce: a burst of events per key becomes one delivery of its last event,
// waitMs after the last and no later than maxWaitMs after the first, across restarts.
import { describe, expect, it } from 'vitest';
import { event, options } from './conformance.js';
import { eventually, runsOf, store, T0 } from './sqlite-harness.js';

const debounced = options(['d.x'], { key: 'data.pr', debounce: { waitMs: 500, maxWaitMs: 2_000 } });
const pr = (n: number, id: string) => event('d.x', { id, data: { pr: n } });

describe('SqliteBus debounce', () => {
  it('delivers one run with the last event of a burst, waitMs after the last', async () => {
    const shared = store();
    const bus = shared.open();
    const sub = await bus.subscribe('s', debounced);
    await bus.publish([pr(1, 'e1')]);
    await shared.clock.advanceBy(100);
    await bus.publish([pr(1, 'e2'), pr(2, 'other')]);
    await shared.clock.advanceBy(100);
    await bus.publish([pr(1, 'e3')]);
    await shared.clock.advanceTo(T0 + 699);
    expect((await sub.pull({ max: 10, waitMs: 0 })).map((d) => d.event.id)).toEqual(['other']);
    await shared.clock.advanceTo(T0 + 700);
    const [d] = await sub.pull({ max: 10, waitMs: 0 });
    expect(d?.event.id).toBe('e3');
    const runs = runsOf(bus, 's');
    expect(runs.map((r) => [r.eventId, r.status, r.reason])).toEqual([
      ['e1', 'skipped', 'debounced: superseded by e2'],
      ['e2', 'skipped', 'debounced: superseded by e3'],
      ['other', 'running', undefined],
      ['e3', 'running', undefined],
    ]);
  });

  it('runs no later than maxWaitMs after the first event of a steady stream', async () => {
    const shared = store();
    const bus = shared.open();
    const sub = await bus.subscribe('s', debounced);
    for (let i = 0; i < 5; i++) {
      if (i > 0) await shared.clock.advanceBy(400);
      await bus.publish([pr(1, `e${i}`)]);
      expect(await sub.pull({ max: 10, waitMs: 0 })).toHaveLength(0);
    }
    // The sixth, at T0 + 2000, would be due at T0 + 2500; the cap (first + maxWaitMs) is now.
    await shared.clock.advanceBy(400);
    await bus.publish([pr(1, 'e5')]);
    const [d] = await sub.pull({ max: 10, waitMs: 0 });
    expect(d?.event.id).toBe('e5');
    await bus.publish([pr(1, 'after')]);
    expect(await sub.pull({ max: 10, waitMs: 0 })).toHaveLength(0);
  });

  it('lets a running key keep debouncing what arrives behind it', async () => {
    const shared = store();
    const bus = shared.open();
    const sub = await bus.subscribe('s', debounced);
    await bus.publish([pr(1, 'first')]);
    await shared.clock.advanceBy(500);
    const [running] = await sub.pull({ max: 1, waitMs: 0 });
    expect(running?.event.id).toBe('first');
    await bus.publish([pr(1, 'second')]);
    await shared.clock.advanceBy(100);
    await bus.publish([pr(1, 'third')]);
    await shared.clock.advanceBy(1_000);
    // Due, but it waits behind the running delivery of its key.
    expect(await sub.pull({ max: 1, waitMs: 0 })).toHaveLength(0);
    await running!.ack();
    const [next] = await sub.pull({ max: 1, waitMs: 0 });
    expect(next?.event.id).toBe('third');
    expect(runsOf(bus, 's').find((r) => r.eventId === 'second')?.status).toBe('skipped');
  });

  it('survives a restart mid-burst: one delivery, at the right time, with the last event', async () => {
    const shared = store();
    let bus = shared.open();
    await bus.subscribe('s', debounced);
    await bus.publish([pr(1, 'before-1')]);
    await shared.clock.advanceBy(1_200);
    await bus.publish([pr(1, 'before-2')]);
    await bus.close();
    await shared.clock.advanceBy(300);
    bus = shared.open();
    const sub = await bus.subscribe('s', debounced);
    await bus.publish([pr(1, 'after')]);
    // Due at min(now + 500, burst start + 2000) = T0 + 2000: the burst began before the restart.
    await shared.clock.advanceTo(T0 + 1_999);
    expect(await sub.pull({ max: 1, waitMs: 0 })).toHaveLength(0);
    const pulled = sub.pull({ max: 10, waitMs: 30_000 });
    await eventually(() => shared.clock.pending > 0);
    await shared.clock.advanceTo(T0 + 2_000);
    expect((await pulled).map((d) => d.event.id)).toEqual(['after']);
    expect(runsOf(bus, 's').map((r) => r.status)).toEqual(['skipped', 'skipped', 'running']);
  });

  it('debounces an event without a key on its own', async () => {
    const shared = store();
    const bus = shared.open();
    const sub = await bus.subscribe('s', debounced);
    await bus.publish([event('d.x', { id: 'a' }), event('d.x', { id: 'b' })]);
    expect(await sub.pull({ max: 10, waitMs: 0 })).toHaveLength(0);
    await shared.clock.advanceBy(500);
    expect((await sub.pull({ max: 10, waitMs: 0 })).map((d) => d.event.id)).toEqual(['a', 'b']);
  });
});
