// The global slots: never more taken than the capacity, waiting routes served by priority, and an
// idle route's long poll gives its slot back to a route with work of at least its priority.
import { describe, expect, it } from 'vitest';
import { GlobalSlots, type SlotGrant } from '../../src/governor/global-slots.js';

const live = new AbortController().signal;

describe('GlobalSlots', () => {
  it('grants up to what is free, and makes the rest wait', async () => {
    const slots = new GlobalSlots(3);
    expect((await slots.acquire({ priority: 0, max: 5, idle: false, signal: live })).count).toBe(3);
    expect(slots.available).toBe(0);
    let granted: SlotGrant | undefined;
    void slots
      .acquire({ priority: 0, max: 2, idle: false, signal: live })
      .then((g) => (granted = g));
    await Promise.resolve();
    expect(granted).toBeUndefined();
    expect(slots.waiting).toBe(1);
    slots.release(1);
    await Promise.resolve();
    expect(granted?.count).toBe(1);
    slots.release(5);
    expect(slots.available).toBe(3);
  });

  it('serves waiting routes by priority, then routes with work, then arrival', async () => {
    const slots = new GlobalSlots(1);
    await slots.acquire({ priority: 0, max: 1, idle: false, signal: live });
    const order: string[] = [];
    const wait = (name: string, priority: number, idle: boolean) =>
      void slots.acquire({ priority, max: 1, idle, signal: live }).then((g) => {
        order.push(name);
        g.finish();
      });
    wait('low', 0, false);
    wait('high-idle', 5, true);
    wait('mid-first', 3, false);
    wait('mid-second', 3, false);
    wait('high', 5, false);
    for (let i = 0; i < 5; i++) {
      slots.release(1);
      await Promise.resolve();
    }
    expect(order).toEqual(['high', 'high-idle', 'mid-first', 'mid-second', 'low']);
  });

  it('takes an idle poll slot back for a route with work, whatever its priority', async () => {
    const slots = new GlobalSlots(1);
    const idle = await slots.acquire({ priority: 5, max: 1, idle: true, signal: live });
    expect(idle.preempted?.aborted).toBe(false);
    expect(idle.contended).toBe(false);
    // Another idle route does not preempt it.
    void slots.acquire({ priority: 9, max: 1, idle: true, signal: live }).then((g) => g.finish());
    expect(idle.preempted?.aborted).toBe(false);
    let busy: SlotGrant | undefined;
    void slots.acquire({ priority: 0, max: 1, idle: false, signal: live }).then((g) => (busy = g));
    expect(idle.preempted?.aborted).toBe(true);
    idle.finish();
    slots.release(1);
    await Promise.resolve();
    // The idle route of priority 9 is served first, but told to look once: a busy route waits.
    expect(busy).toBeUndefined();
    expect(slots.waiting).toBe(1);
    slots.release(1);
    await Promise.resolve();
    expect(busy?.count).toBe(1);
  });

  it('tells an idle route granted a slot while busy routes wait to look once', async () => {
    const slots = new GlobalSlots(1);
    await slots.acquire({ priority: 0, max: 1, idle: false, signal: live });
    let idle: SlotGrant | undefined;
    void slots.acquire({ priority: 9, max: 1, idle: true, signal: live }).then((g) => (idle = g));
    void slots.acquire({ priority: 0, max: 1, idle: false, signal: live });
    slots.release(1);
    await Promise.resolve();
    expect(idle?.contended).toBe(true);
  });

  it('answers a waiter with no slots when its signal aborts', async () => {
    const slots = new GlobalSlots(1);
    await slots.acquire({ priority: 0, max: 1, idle: false, signal: live });
    const stop = new AbortController();
    const pending = slots.acquire({ priority: 0, max: 1, idle: false, signal: stop.signal });
    stop.abort();
    expect((await pending).count).toBe(0);
    expect(slots.waiting).toBe(0);
    const aborted = await slots.acquire({ priority: 0, max: 1, idle: false, signal: stop.signal });
    expect(aborted.count).toBe(0);
  });
});
