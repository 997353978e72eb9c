// The GovernorStore contract against the NATS store (a KV bucket on the shared nats-server), each
// test in a namespace of its own; "peers" are stores on connections of their own, as other worker
// processes would hold. Plus what only a shared store shows: many workers adding usage at once.
import { afterEach, describe, expect, it } from 'vitest';
import { NatsStore } from '../../src/bus/nats/nats-store.js';
import { NatsGovernorStore } from '../../src/governor/nats-governor-store.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from '../bus/nats/nats-server.js';
import { governorStoreContract } from './governor-store-contract.js';

const available = await natsAvailable();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A namespace of its own; `connect()` opens one more worker's connection to it. */
function namespace() {
  const stream = uniqueStream('GOV');
  const open: NatsStore[] = [];
  cleanups.push(async () => {
    await Promise.all(open.map((store) => store.close()));
    await dropNamespace(NATS_URL, stream);
  });
  return async () => {
    const store = await NatsStore.open({ servers: NATS_URL, stream, retentionMs: 60 * 60_000 });
    open.push(store);
    return { store, governor: await NatsGovernorStore.open(store) };
  };
}

if (available) {
  governorStoreContract('NatsGovernorStore', async () => {
    const connect = namespace();
    const first = await connect();
    return {
      store: first.governor,
      async reopen() {
        await first.store.close();
        return (await connect()).governor;
      },
      peer: async () => (await connect()).governor,
    };
  });

  describe('NatsGovernorStore shared by workers', () => {
    it('adds every increment of eight workers racing on one window', async () => {
      const connect = namespace();
      const workers = await Promise.all(Array.from({ length: 8 }, () => connect()));
      const ref = { scope: 'global', window: 'hour' as const, start: Date.UTC(2025, 0, 1, 10) };
      const totals = await Promise.all(
        workers.flatMap(({ governor }, w) =>
          Array.from({ length: 25 }, (_, n) =>
            governor.addUsage(ref, { tokens: 3, costUsd: 0.001 }, w * 100 + n),
          ),
        ),
      );
      expect(await workers[0]!.governor.usage(ref)).toEqual({ tokens: 600, costUsd: 0.2 });
      // Each write saw its own increment on top of all before it: the totals are distinct steps.
      expect(new Set(totals.map((t) => t.tokens)).size).toBe(200);
    });

    it('shows one worker the pauses, lifts and marks another wrote', async () => {
      const connect = namespace();
      const [a, b] = [await connect(), await connect()];
      await a.governor.pause({ route: 'review', reason: 'deploy', by: 'ops@host', at: 1 });
      await a.governor.liftBudget({ scope: 'global', until: 5_000, by: 'ops@host' });
      const ref = { scope: 'review', window: 'day' as const, start: Date.UTC(2025, 0, 1) };
      await a.governor.markThreshold({ ...ref, unit: 'tokens', fraction: 0.5 }, 1);
      expect(await b.governor.controls()).toEqual({
        pauses: [{ route: 'review', reason: 'deploy', by: 'ops@host', at: 1 }],
        lifts: [{ scope: 'global', until: 5_000, by: 'ops@host' }],
      });
      expect(await b.governor.markThreshold({ ...ref, unit: 'tokens', fraction: 0.5 }, 2)).toBe(
        false,
      );
      expect(await b.governor.unpause('review')).toBe(true);
      expect((await a.governor.controls()).pauses).toEqual([]);
    });

    it('sweeps the delete markers it left once they are old, keeping newer values', async () => {
      const connect = namespace();
      const { store, governor } = await connect();
      await governor.countChainRun('old', 10);
      expect(await governor.sweep({ windowsBefore: 0, chainsBefore: 20, now: 100 })).toBe(1);
      const bucket = `${store.names.stream}_governor`;
      const messages = async () => (await store.jsm.streams.info(`KV_${bucket}`)).state.messages;
      expect(await messages()).toBe(1); // the chain's delete marker
      // Half an hour later (by the store's clock) the marker goes; a chain counted again stays.
      expect(
        await governor.sweep({ windowsBefore: 0, chainsBefore: 0, now: Date.now() + 31 * 60_000 }),
      ).toBe(0);
      expect(await messages()).toBe(0);
      expect(await governor.countChainRun('old', 200)).toBe(1);
      expect(await messages()).toBe(1);
    });
  });
} else {
  describe('NatsGovernorStore', () => {
    it.skip(`skipped: NATS not reachable at ${NATS_URL}`, () => {});
  });
}
