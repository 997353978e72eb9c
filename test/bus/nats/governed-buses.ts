// Test support for the governor options on NATS: buses sharing one fresh namespace (as worker
// processes on several machines would), the runs a route ended skipped or cancelled, and pulling
// until a number of deliveries came.
import type { Delivery, Subscription } from '../../../src/bus/bus.js';
import { NatsBus, type NatsBusOptions } from '../../../src/bus/nats/nats-bus.js';
import type { NatsSubscription } from '../../../src/bus/nats/nats-subscription.js';
import { dropNamespace, NATS_URL, uniqueStream } from './nats-server.js';

const cleanups: (() => Promise<void>)[] = [];

/** `count` buses on one fresh namespace; closed and dropped by closeBuses(). */
export async function openBuses(
  count: number,
  prefix: string,
  options: Partial<NatsBusOptions> = {},
): Promise<NatsBus[]> {
  const stream = uniqueStream(prefix);
  const open = await Promise.all(
    Array.from({ length: count }, () => NatsBus.connect({ servers: NATS_URL, stream, ...options })),
  );
  cleanups.push(async () => {
    await Promise.all(open.map((bus) => bus.close()));
    await dropNamespace(NATS_URL, stream);
  });
  return open;
}

export async function closeBuses(): Promise<void> {
  for (const cleanup of cleanups.splice(0)) await cleanup();
}

/** The runs of a route that ended without running, as [event id, status, reason], oldest first. */
export async function endedRuns(sub: Subscription): Promise<[string, string, string][]> {
  const ended = await (sub as NatsSubscription).records.ended();
  return ended.map((run) => [run.eventId, run.status, run.reason]);
}

/** Pulls from the subscriptions in turn until `count` deliveries came (or fails after `ms`). */
export async function pullUntil(
  subs: readonly Subscription[],
  count: number,
  ms = 15_000,
): Promise<Delivery[]> {
  const got: Delivery[] = [];
  const deadline = Date.now() + ms;
  for (let i = 0; got.length < count; i++) {
    if (Date.now() > deadline) throw new Error(`only ${got.length} of ${count} deliveries came`);
    got.push(...(await subs[i % subs.length]!.pull({ max: count - got.length, waitMs: 200 })));
  }
  return got;
}
