// A budget over its window: admission counts used + reserved, thresholds are crossed once each
// (also after a restart), the scope is spent at 100% until the window rolls over or is lifted.
import { describe, expect, it } from 'vitest';
import type { Budget } from '../../src/core/route.js';
import { BudgetLedger } from '../../src/governor/budget-ledger.js';
import { windowEnd, windowStart } from '../../src/governor/budget-window.js';
import { MemoryGovernorStore } from '../../src/governor/governor-store.js';
import { ManualClock } from '../fixtures/manual-clock.js';

const each = { tokens: 300, costUsd: 0 };

/** A ledger on a store of its own, its clock at 10:00 UTC on 2025-03-14. */
function freshLedger(scope: string, budget: Budget): { ledger: BudgetLedger; clock: ManualClock } {
  const clock = new ManualClock('2025-03-14T10:00:00Z');
  return { ledger: new BudgetLedger(scope, budget, new MemoryGovernorStore(), clock), clock };
}

describe('budget windows', () => {
  it('are the UTC hour, day and month', () => {
    const now = Date.parse('2024-02-29T13:45:10.500Z');
    expect(new Date(windowStart('hour', now)).toISOString()).toBe('2024-02-29T13:00:00.000Z');
    expect(new Date(windowEnd('hour', now)).toISOString()).toBe('2024-02-29T14:00:00.000Z');
    expect(new Date(windowStart('day', now)).toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(new Date(windowEnd('day', now)).toISOString()).toBe('2024-03-01T00:00:00.000Z');
    expect(new Date(windowStart('month', now)).toISOString()).toBe('2024-02-01T00:00:00.000Z');
    expect(new Date(windowEnd('month', now)).toISOString()).toBe('2024-03-01T00:00:00.000Z');
    const december = Date.parse('2024-12-31T23:59:59.999Z');
    expect(new Date(windowEnd('month', december)).toISOString()).toBe('2025-01-01T00:00:00.000Z');
  });
});

describe('BudgetLedger', () => {
  it('admits only what fits beside what is used and reserved', async () => {
    const { ledger, clock } = freshLedger('r', { tokens: 1_000, window: 'day' });
    expect(ledger.room(each)).toBe(3);
    for (let i = 0; i < 3; i++) ledger.reserve(each);
    expect(ledger.room(each)).toBe(0);
    await ledger.record(each, each);
    await ledger.record(each, each);
    expect(ledger.room(each)).toBe(0);
    await ledger.record(each, each);
    // 900 used, nothing in flight: one more may go although it may not fit (no dead end).
    expect(ledger.room(each)).toBe(1);
    ledger.reserve(each);
    expect(ledger.room(each)).toBe(0);
    await ledger.record(each, { tokens: 250, costUsd: 0 });
    expect(ledger.spent()).toBe(true);
    expect(ledger.room(each)).toBe(0);
    // Without a reservation estimate nothing binds but the spent budget.
    expect(
      new BudgetLedger('x', { tokens: 1, window: 'day' }, new MemoryGovernorStore(), clock).room({
        tokens: 0,
        costUsd: 0,
      }),
    ).toBe(Number.POSITIVE_INFINITY);
  });

  it('keeps a settling run reserved until its usage is booked', async () => {
    const { ledger } = freshLedger('r', { tokens: 1_000, window: 'day' });
    for (let i = 0; i < 3; i++) ledger.reserve(each);
    const settling = [0, 1, 2].map(() => ledger.record(each, each));
    // The store write is under way: freeing the reservations now would admit three more runs.
    expect(ledger.room(each)).toBe(0);
    await Promise.all(settling);
    expect(ledger.status().tokens).toMatchObject({ used: 900, reserved: 0 });
  });

  it('reports each threshold once per window, in the order crossed', async () => {
    const { ledger, clock } = freshLedger('r', { costUsd: 10, window: 'hour' });
    const crossed = async (usd: number) =>
      (await ledger.record({ tokens: 0, costUsd: 0 }, { tokens: 0, costUsd: usd })).map(
        (c) => `${c.unit} ${c.fraction} ${c.used}/${c.limit}`,
      );
    expect(await crossed(4)).toEqual([]);
    expect(await crossed(4.5)).toEqual(['usd 0.5 8.5/10', 'usd 0.8 8.5/10']);
    expect(await crossed(0.1)).toEqual([]);
    expect(await crossed(2)).toEqual(['usd 1 10.6/10']);
    expect(ledger.spent()).toBe(true);
    expect(ledger.describeSpent()).toBe(
      'budget of route r spent: $10.6 of $10 this hour (resets 2025-03-14T11:00:00.000Z)',
    );
    await clock.advanceTo('2025-03-14T11:00:00Z');
    expect(ledger.spent()).toBe(false);
    expect(await crossed(6)).toEqual(['usd 0.5 6/10']);
  });

  it('remembers announced thresholds and usage across a restart', async () => {
    const clock = new ManualClock('2025-03-14T10:00:00Z');
    const store = new MemoryGovernorStore();
    const budget = { tokens: 100, window: 'day' as const, thresholds: [0.9, 0.25] };
    const first = new BudgetLedger('r', budget, store, clock);
    const crossed = await first.record(each, { tokens: 30, costUsd: 0 });
    expect(crossed.map((c) => c.fraction)).toEqual([0.25]);
    // As the governor does once it announced them.
    for (const c of crossed) await store.markThreshold(c, clock.now());
    const again = new BudgetLedger('r', budget, store, clock);
    await again.load();
    // The marks made by the first one are loaded from the store: 0.25 is not reported again.
    expect((await again.record(each, { tokens: 65, costUsd: 0 })).map((c) => c.fraction)).toEqual([
      0.9,
    ]);
    expect(again.status()).toMatchObject({
      scope: 'r',
      window: 'day',
      windowStart: '2025-03-14T00:00:00.000Z',
      resetsAt: '2025-03-15T00:00:00.000Z',
      tokens: { limit: 100, used: 95, reserved: 0, left: 5 },
      spent: false,
    });
  });

  it('stops pausing while an operator lift lasts', async () => {
    const { ledger } = freshLedger('global', { tokens: 10, window: 'day' });
    await ledger.record(each, { tokens: 10, costUsd: 0 });
    expect(ledger.spent()).toBe(true);
    expect(ledger.describeSpent()).toMatch(/^the global budget spent: 10 of 10 tokens this day/);
    ledger.liftUntil(Date.parse('2025-03-15T00:00:00Z'));
    expect(ledger.spent()).toBe(false);
    expect(ledger.room(each)).toBe(Number.POSITIVE_INFINITY);
    expect(ledger.status().liftedUntil).toBe('2025-03-15T00:00:00.000Z');
  });
});
