// Two workers on one NATS namespace, each with its own bus connection and governor store, as two
// worker processes: a route limited to 5 runs a minute runs 5 in total, not 5 each. The governors
// share a manual clock, so no token comes back until the test moves time: the count is exact
// however long the workers poll.
import { afterEach, describe, expect, it } from 'vitest';
import { NatsBus } from '../../src/bus/nats/nats-bus.js';
import { validateConfig } from '../../src/core/config.js';
import { toEvent } from '../../src/core/envelope.js';
import { on } from '../../src/core/route.js';
import { NatsGovernorStore } from '../../src/governor/nats-governor-store.js';
import { createLogger } from '../../src/observe/log.js';
import { createWorker, type Worker } from '../../src/runtime/worker.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from '../bus/nats/nats-server.js';
import { ManualClock } from '../fixtures/manual-clock.js';
import { waitFor } from '../runtime/worker-harness.js';

const available = await natsAvailable();
const log = createLogger({ level: 'silent' });
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe.runIf(available)('a route rate limit shared by two NATS workers', () => {
  it('runs 5 events in total under rateLimit 5 a minute, then one per 12 s', async () => {
    const stream = uniqueStream('RLW');
    const clock = new ManualClock('2025-03-14T10:00:00Z');
    let ran = 0;
    const config = validateConfig(
      {
        routes: [
          on('rl.x', {
            rateLimit: { limit: 5, periodMs: 60_000 },
            handler: () => void ran++,
          }),
        ],
      },
      'test',
    );
    const workers: Worker[] = [];
    const buses: NatsBus[] = [];
    cleanups.push(async () => {
      for (const worker of workers) await worker.stop();
      for (const bus of buses) await bus.close();
      await dropNamespace(NATS_URL, stream);
    });
    for (let i = 0; i < 2; i++) {
      const bus = await NatsBus.connect({ servers: NATS_URL, stream, retentionMs: 60 * 60_000 });
      buses.push(bus);
      const worker = createWorker({
        bus,
        routes: config.routes,
        log,
        source: `agentd://worker-${i}`,
        governor: { store: await NatsGovernorStore.open(bus.store), clock },
      });
      await worker.start();
      workers.push(worker);
    }
    const publisher = buses[0] as NatsBus;
    await publisher.publish(
      Array.from({ length: 12 }, () =>
        toEvent({ type: 'rl.x' }, { source: 'test', trust: 'operator' }),
      ),
    );
    // A worker out of tokens waits on the clock, which only the test moves: no token comes back,
    // so however long the other one polls, nothing more may run. (Which worker holds the queued
    // events is up to NATS: the other may poll for a while and find none.)
    const outOfTokens = () => clock.pending >= 1;
    await waitFor(() => ran >= 5 && outOfTokens(), '5 runs, then a worker out of tokens');
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // two idle polls of each worker
    expect(ran).toBe(5);
    await clock.advanceBy(12_000);
    await waitFor(() => ran >= 6 && outOfTokens(), 'one more run 12 s later');
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(ran).toBe(6);
    expect(workers.reduce((sum, w) => sum + (w.stats()['rl.x']?.completed ?? 0), 0)).toBe(6);
  });
});
