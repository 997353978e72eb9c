// The GovernorStore contract, run by each store's test against fresh stores of its kind: usage adds
// up per window, thresholds are marked once, pauses and lifts are kept, chains are counted, old
// records are swept, racing workers lose no increment and announce a threshold once, and a durable
// store keeps everything across a restart.
import { describe, expect, it } from 'vitest';
import type { GovernorStore } from '../../src/governor/governor-store.js';

export interface StoreHandle {
  store: GovernorStore;
  /** The same store after a restart, where it can have one. */
  reopen?(): Promise<GovernorStore>;
  /** Another worker's store on the same state, where there can be one (else the store itself). */
  peer?(): Promise<GovernorStore>;
}

const day = { scope: 'reviewer', window: 'day' as const, start: Date.UTC(2025, 2, 14) };

export function governorStoreContract(name: string, fresh: () => Promise<StoreHandle>): void {
  describe(name, () => {
    it('adds usage up per window and returns the totals', async () => {
      const { store } = await fresh();
      expect(await store.usage(day)).toEqual({ tokens: 0, costUsd: 0 });
      await store.addUsage(day, { tokens: 100, costUsd: 0.1 }, 1);
      expect(await store.addUsage(day, { tokens: 50, costUsd: 0.2 }, 2)).toEqual({
        tokens: 150,
        costUsd: 0.3,
      });
      const next = { ...day, start: day.start + 86_400_000 };
      expect(await store.usage(next)).toEqual({ tokens: 0, costUsd: 0 });
      expect(await store.usage({ ...day, scope: 'global' })).toEqual({ tokens: 0, costUsd: 0 });
    });

    it('marks a threshold once per window and unit', async () => {
      const { store } = await fresh();
      const mark = { ...day, unit: 'tokens' as const, fraction: 0.5 };
      expect(await store.markThreshold(mark, 1)).toBe(true);
      expect(await store.markThreshold(mark, 2)).toBe(false);
      expect(await store.markThreshold({ ...mark, unit: 'usd' }, 3)).toBe(true);
      expect(await store.markThreshold({ ...mark, start: mark.start + 1 }, 3)).toBe(true);
      expect(
        (await store.thresholdMarks(day)).map((m) => `${m.unit} ${m.fraction}`).sort(),
      ).toEqual(['tokens 0.5', 'usd 0.5']);
    });

    it('loses no increment and marks a threshold once when workers race', async () => {
      const handle = await fresh();
      const stores = [handle.store];
      for (let i = 0; i < 3; i++) stores.push((await handle.peer?.()) ?? handle.store);
      const mark = { ...day, unit: 'usd' as const, fraction: 0.8 };
      const settled = await Promise.all(
        stores.flatMap((store, i) => [
          ...Array.from({ length: 5 }, (_, n) =>
            store.addUsage(day, { tokens: 10, costUsd: 0.01 }, i * 10 + n),
          ),
          store.markThreshold(mark, i),
          store.countChainRun('race', i),
        ]),
      );
      expect(await handle.store.usage(day)).toEqual({ tokens: 200, costUsd: 0.2 });
      expect(settled.filter((outcome) => outcome === true)).toHaveLength(1);
      // Each worker's count is the chain's count at its turn: 1..4, each once.
      const counts = settled.filter((_, i) => i % 7 === 6).sort();
      expect(counts).toEqual([1, 2, 3, 4]);
    });

    it('keeps pauses and lifts until they are taken back', async () => {
      const { store } = await fresh();
      await store.pause({ route: 'a', reason: 'deploy', by: 'ops@host', at: 5 });
      await store.pause({ route: 'a', reason: 'still deploying', by: 'ops@host', at: 6 });
      await store.liftBudget({ scope: 'global', until: 1_000, by: 'ops@host' });
      expect(await store.controls()).toEqual({
        pauses: [{ route: 'a', reason: 'still deploying', by: 'ops@host', at: 6 }],
        lifts: [{ scope: 'global', until: 1_000, by: 'ops@host' }],
      });
      expect(await store.unpause('a')).toBe(true);
      expect(await store.unpause('a')).toBe(false);
      expect((await store.controls()).pauses).toEqual([]);
    });

    it('counts runs per correlation chain and sweeps what is old', async () => {
      const { store } = await fresh();
      expect(await store.countChainRun('c1', 10)).toBe(1);
      expect(await store.countChainRun('c1', 20)).toBe(2);
      expect(await store.countChainRun('c2', 30)).toBe(1);
      await store.addUsage(day, { tokens: 1, costUsd: 0 }, 1);
      await store.markThreshold({ ...day, unit: 'tokens', fraction: 1 }, 1);
      await store.liftBudget({ scope: 'x', until: 100, by: 'me' });
      const gone = await store.sweep({ windowsBefore: day.start + 1, chainsBefore: 25, now: 100 });
      expect(gone).toBe(4);
      expect(await store.countChainRun('c1', 40)).toBe(1);
      expect(await store.countChainRun('c2', 40)).toBe(2);
      expect(await store.usage(day)).toEqual({ tokens: 0, costUsd: 0 });
      expect((await store.controls()).lifts).toEqual([]);
    });

    it('keeps everything across a restart when it is durable', async () => {
      const handle = await fresh();
      if (handle.reopen === undefined) return;
      await handle.store.addUsage(day, { tokens: 7, costUsd: 0 }, 1);
      await handle.store.markThreshold({ ...day, unit: 'tokens', fraction: 0.8 }, 1);
      await handle.store.pause({ route: 'a', reason: 'why', by: 'me', at: 1 });
      await handle.store.countChainRun('c', 1);
      const again = await handle.reopen();
      expect(await again.usage(day)).toEqual({ tokens: 7, costUsd: 0 });
      expect(await again.markThreshold({ ...day, unit: 'tokens', fraction: 0.8 }, 2)).toBe(false);
      expect((await again.controls()).pauses.map((p) => p.route)).toEqual(['a']);
      expect(await again.countChainRun('c', 2)).toBe(2);
    });
  });
}
